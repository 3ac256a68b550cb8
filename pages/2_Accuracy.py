"""Accuracy: how good were the forecasts in backtests, by model, category, place and
horizon; the distribution of per-series errors; the worst series, one click from the
Forecast page.

Recipe: backtest runs (cached on the data version) -> the run's accuracy tables, stored in
the warehouse per run and filter (engine/forecast/scores.py; a saved run stores its
unfiltered tables ahead of this page) -> components.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from components.errors import attempt
from components.auth import allowed
from components import accuracy_data as ad
from components import accuracy_views as av
from components import forecast_views as fv
from components.filters import sidebar_filters
from components.session import get_warehouse
from engine.forecast.config import ForecastError
from engine.forecast.pipeline import run_backtest

st.set_page_config(page_title="MicroPulse · Accuracy", page_icon=":material/target:",
                   layout="wide")


_safe = partial(attempt, failed="The backtest could not be read")


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Accuracy")
st.caption("Rolling-origin backtests: each model forecast periods it had not seen, and is "
           "scored against what actually sold.")
f = sidebar_filters(wh)
st.subheader("How the forecasts held")
st.caption("Each stored forecast judged against the sales that arrived after it, week by "
           "week (the backtests further down are the promise it was made with).")
_, err = attempt(av.how_forecasts_held, wh, failed="The live accuracy could not be read")
if err:
    st.warning(err)
# cache keys: only the data domains this page reads (engine/warehouse/db.py DOMAINS)
version = wh.data_version("sales", "forecasts")
runs, err = _safe(ad.runs, wh, version)
if err:
    st.error(err)
    st.stop()

if runs.empty:
    st.info("No backtest yet. **Run backtest** scores the models on the last folds of your "
            "history (quick settings by default: 2 folds of 28 days, or of 13 weeks for "
            "weekly data).", icon=":material/target:")
with st.expander("Run a new backtest", expanded=runs.empty):
    cfg = fv.run_settings("ac", wh, quick=True)
    st.caption(fv.backend_caption())
    if st.button("Run backtest", key="ac_run_backtest", type="primary",
                 disabled=not allowed("run_forecast"),
                 icon=":material/play_arrow:"):
        if fv.run_with_progress("backtest", run_backtest, wh, cfg, (ForecastError,)):
            st.rerun()
if runs.empty:
    st.stop()

run = av.run_picker(runs)
run_id = run["run_id"]
models, err = _safe(ad.score, wh, version, run_id, f, ("model",))
if err or models.empty:
    st.warning(err or "No backtest rows match these filters. Widen the sidebar filters.")
    st.stop()

st.subheader("League table")
coverage = ad.coverage(wh, version, run_id, f)
basis = av.basis_picker(coverage)
league = ad.like_for_like(wh, version, run_id, f, av.compared_models(coverage, basis), ("model",))
av.league_table(league, coverage, basis)
with st.expander("Each model on every series it forecast (not like with like)"):
    av.coverage_table(models, coverage)

model = av.model_picker(models["model"].tolist())
st.subheader(f"Breakdowns for {av.model_label(model)}")
pair = av.compared_models(coverage, "pair", model)


@st.fragment
def breakdowns(model: str, pair) -> None:
    """One tab per dimension. Only the open tab is computed and drawn (the hidden ones
    cost a table, a chart and the browser's rendering on every view); opening another
    reruns just this fragment."""
    tabs = st.tabs(list(av.DIMENSIONS.values()), key="ac_dims", on_change="rerun")
    for tab, dim in zip(tabs, av.DIMENSIONS):
        with tab:
            if tab.open:
                av.by_dimension(ad.score(wh, version, run_id, f, ("model", dim)), dim, model,
                                ad.like_for_like(wh, version, run_id, f, pair, ("model", dim)))


breakdowns(model, pair)

st.subheader("How errors spread across series")
per_series = ad.score(wh, version, run_id, f, ("model", "sku_id", "pin_code"))
st.plotly_chart(av.error_histogram(per_series, model), width="stretch", key="ac_hist")

st.subheader("Worst series")
st.caption("Ranked by units missed over the backtest (sum of absolute errors), so big "
           "series with real misses come first. Open one to see its forecast and drivers.")
worst, err = _safe(ad.worst, wh, version, run_id, f, model)
if err:
    st.warning(err)
else:
    av.worst_table(worst)
