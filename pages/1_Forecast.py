"""Forecast: history, routed forecast with 80/95% bands and festivals, why this model, what
drives it, seasonality, the table, and a what-if panel with saved scenarios.

Recipe: latest run (cached on the data version) -> selection -> cached reads -> components.
The what-if panel is a fragment, so moving a slider reruns only the panel.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from components.errors import attempt, show_error
from components.auth import allowed
from components import forecast_data as fd
from components import forecast_views as fv
from components.filters import sidebar_filters
from components.scenario_select import scenario_for_page
from components.session import get_warehouse
from engine.forecast.config import ForecastError
from engine.forecast.pipeline import run_forecast
from engine.forecast.whatif import compare, result_summary, settings_dict

st.set_page_config(page_title="MicroPulse · Forecast", page_icon=":material/insights:",
                   layout="wide")


@st.cache_resource(show_spinner=False, max_entries=48)
def _figure(name: str, version: str, key: tuple, _build):
    """A figure of this page, built once per data version and what it shows (`key`):
    building one costs 0.05-0.15 s, several times per view. st.plotly_chart serialises a
    copy and never changes the figure, so every session can share it."""
    return _build()


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Forecast")
st.caption("Demand per SKU x PIN code per day (per week for weekly uploads) with 80% and "
           "95% intervals, summed for any category, PIN code, city or state. Every figure "
           "carries its model and run.")
f = sidebar_filters(wh)
scenario_for_page(wh, "Forecast")  # sidebar "Scenario": its numbers here, labelled
# Cache keys carry only the data this page reads (engine/warehouse/db.py DOMAINS), so an
# alert acknowledged or a scenario saved elsewhere keeps every figure below cached.
version = wh.data_version("sales", "forecasts", "festivals", "weather", "plans")
response_version = wh.data_version("sales", "festivals", "weather")
run = fd.read(wh, version, "latest_forecast_run")

if run is None:
    st.info("No forecast has been run on this warehouse yet. Choose the settings and press "
            "**Run forecast**: it backtests every model, routes each series to the best one "
            "and saves the run.", icon=":material/insights:")
with st.expander("Run a new forecast", expanded=run is None):
    cfg = fv.run_settings("fc", wh)
    plan = fv.plan_choice("fc", wh)
    st.caption(fv.backend_caption())
    if st.button("Run forecast", key="fc_run", type="primary", icon=":material/play_arrow:",
                 disabled=not allowed("run_forecast")):
        if fv.run_with_progress("forecast", partial(run_forecast, plan=plan), wh, cfg,
                                (ForecastError,)):
            st.rerun()
if run is None:
    st.stop()

run_id, grain = run["run_id"], run.get("grain") or "D"
st.caption(fv.run_caption(run, getattr(wh, "pin_scope", None)))
opts, err = attempt(fd.read, wh, version, "selection_options", run_id, f)
if err or opts.empty:
    show_error(err or "No forecast series match these filters. Widen the sidebar filters.",
               icon=":material/warning:", kind="warning")
    st.stop()
sel = fv.selection_picker(opts, st.query_params)
series = fd.read(wh, version, "forecast_series", run_id, sel, f)
if series.empty:
    st.warning("This product has no forecast at this place. Pick another combination.")
    st.stop()
if series["n_series"].max() > 1:
    series = fd.aggregate(wh, version, run_id, sel, f)
start = min(f.start or series["date"].min().date(), series["date"].min().date())
history = fd.read(wh, version, "history_series", sel, f, start, f.end, grain)
state = fv.selection_state(opts, sel)
fests = fd.festivals(wh, version, start, series["date"].max(), state)
st.plotly_chart(_figure("forecast", version, (run_id, sel, f, grain), lambda: fv.forecast_figure(
                    history, series, fests, sel.label(), grain)),
                width="stretch", key="fc_chart")
st.caption("Shaded: festival windows" + (f" celebrated in {state}" if state else "") +
           ". " + fv.band_caption(series, grain))
if fv.has_plan(series):
    st.caption(fv.plan_caption(series, grain))

@st.fragment
def details(series) -> None:
    """The tabs under the chart. Only the open tab is computed and drawn (a hidden tab's
    chart cost its figure and the browser's rendering on every view); opening another
    reruns just this fragment."""
    tab_why, tab_drivers, tab_season, tab_table = st.tabs(
        ["Model chosen and why", "Drivers", "Seasonality", "Table and download"],
        key="fc_tabs", on_change="rerun")
    with tab_why:
        if tab_why.open:
            fv.model_choice(fd.read(wh, version, "routing_mix", run_id, sel, f), sel.is_series,
                            grain)
    with tab_drivers:
        if tab_drivers.open:
            effects = fd.read(wh, version, "driver_effects", run_id, sel, f)
            if effects.empty:
                st.caption("Drivers come from the LightGBM model; this run did not include it.")
            else:
                st.plotly_chart(_figure("drivers", version, (run_id, sel, f),
                                        lambda: fv.drivers_figure(effects)),
                                width="stretch", key="fc_drivers")
                st.caption("From the LightGBM model, by ablation: each bar is how many units "
                           "the forecast would lose (or gain) with that driver at its neutral "
                           "value.")
    with tab_season:
        if tab_season.open:
            dec, err = attempt(fd.seasonality, wh, version, sel, f, grain)
            if err:
                show_error(err, icon=":material/warning:", kind="warning")
            else:
                st.plotly_chart(_figure("seasonality", version, (sel, f, grain),
                                        lambda: fv.seasonality_figure(dec)),
                                width="stretch", key="fc_stl")
                st.caption(fv.strength_caption(dec))
    with tab_table:
        if tab_table.open:
            fv.forecast_table(series, fd.read(wh, version, "forecast_detail", run_id, sel, f),
                              f"forecast_{run_id}")


details(series)


@st.fragment
def whatif_panel() -> None:
    st.subheader("What if?")
    st.caption("Moves the stored forecast with demand responses estimated from your sales "
               "history (price elasticity, temperature and rainfall sensitivity per category, "
               "festival uplift from the model). No model is refitted.")
    scn = fv.whatif_inputs()
    outcome, err = attempt(fd.scenario, wh, version, response_version, run_id, sel, f, scn, grain)
    if err:
        show_error(err, icon=":material/warning:", kind="warning")
        return
    fv.scenario_readout(outcome)
    saved = fd.saved_whatifs(wh, wh.data_version("scenarios"), sel, f)
    table, lines = (compare(fd.read(wh, version, "scenario_base", run_id, sel, f),
                            fd.response(wh, response_version), saved, grain)
                    if len(saved) else (None, None))
    st.plotly_chart(fv.scenario_figure(outcome, lines), width="stretch", key="wi_chart")
    name = fv.save_form()
    if name is not None:
        _, err = attempt(fd.save_scenario, wh, name, st.session_state.get("user", "demo"), sel,
                       f, settings_dict(scn), result_summary(outcome, run_id))
        show_error(err) if err else st.rerun()
    if table is not None:
        st.markdown("**Saved scenarios for this selection** (re-run on the current forecast)")
        fv.compare_table(table)


whatif_panel()
