"""Forecast page pieces: selection pickers, run settings and progress, the forecast chart
(history, forecast, 80/95% bands, festivals), model choice, drivers, seasonality, the
forecast table, and the what-if panel (sliders, read-out, chart, saved scenarios)."""
from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components.auth import allowed
from components.errors import show_error
from engine.alerts import refresh_after
from components.format import dd_mmm, indian_grouping, inr_compact, pct, units
from components.tables import download_buttons
from engine.errors import MicroPulseError
from engine.forecast.config import ForecastConfig, ForecastError, ScenarioConfig
from engine.forecast.registry import available_models
from engine.warehouse.grain import period_noun, periods_text, sales_grain
from engine.warehouse.sql import Selection

ALL_PRODUCTS, ALL_PLACES = "All products", "All places"
HISTORY, FORECAST, SCENARIO = "#475569", "#0F766E", "#C2410C"
STORE = {"product": "mp_fc_product", "place": "mp_fc_place", "whatif": "mp_whatif",
         "query": "mp_fc_query_applied"}
GROUP_LABELS = {"trend_seasonality": "Trend & seasonality", "festival": "Festivals",
                "weather": "Weather", "price": "Price & promotions",
                "recent_demand": "Recent demand"}


# ---- selection ---------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=16)   # ~3,000 series: a groupby a run
def _product_choices(opts: pd.DataFrame) -> dict[str, dict]:
    out = {ALL_PRODUCTS: {}}
    for cat in sorted(opts["category"].dropna().unique()):
        out[f"Category: {cat}"] = {"category": cat}
    skus = opts.groupby("sku_id", sort=False).agg(name=("name", "first"),
                                                  volume=("volume", "sum"))
    for sku, row in skus.sort_values("volume", ascending=False).iterrows():
        out[f"SKU: {sku} · {row['name'] or ''}".strip()] = {"sku_id": sku}
    return out


@st.cache_data(show_spinner=False, max_entries=16)   # ~3,000 series: a groupby a run
def _place_choices(opts: pd.DataFrame) -> dict[str, dict]:
    out = {ALL_PLACES: {}}
    for state in sorted(opts["state"].dropna().unique()):
        out[f"State: {state}"] = {"state": state}
    for city in sorted(opts["city"].dropna().unique()):
        out[f"City: {city}"] = {"city": city}
    pins = opts.groupby("pin_code", sort=True).agg(locality=("locality", "first"),
                                                   city=("city", "first"))
    for pin, row in pins.iterrows():
        out[f"PIN: {pin} · {row['locality'] or ''}, {row['city'] or ''}"] = {"pin_code": pin}
    return out


def _find(choices: dict[str, dict], key: str, value) -> str | None:
    return next((label for label, v in choices.items() if v.get(key) == value), None)


def _picker(label: str, choices: dict[str, dict], store: str, widget: str, default: str
            ) -> dict:
    labels = list(choices)
    current = st.session_state.get(store)
    index = labels.index(current) if current in labels else labels.index(default)
    picked = st.selectbox(label, labels, index=index, key=widget)
    st.session_state[store] = picked
    return choices[picked]


def selection_picker(opts: pd.DataFrame, query_params) -> Selection:
    """Product (all / category / SKU) and place (all / state / city / PIN) pickers. A
    link such as ?sku_id=CB-0001&pin_code=110087 preselects that series once; the picks
    are kept in session_state so they survive page switches."""
    products, places = _product_choices(opts), _place_choices(opts)
    wanted = (query_params.get("sku_id"), query_params.get("pin_code"))
    if any(wanted) and st.session_state.get(STORE["query"]) != wanted:
        st.session_state[STORE["query"]] = wanted
        for key, choices, store, widget in (("sku_id", products, "product", "fc_product"),
                                            ("pin_code", places, "place", "fc_place")):
            value = wanted[0] if key == "sku_id" else wanted[1]
            label = _find(choices, key, value) if value else None
            if label:
                st.session_state[STORE[store]] = label
                st.session_state.pop(widget, None)
            elif value:
                st.warning(f"{'SKU' if key == 'sku_id' else 'PIN code'} '{value}' from the link "
                           "has no forecast you can see with these filters.")
    top = opts.iloc[0] if len(opts) else None
    d_product = _find(products, "sku_id", top["sku_id"]) if top is not None else ALL_PRODUCTS
    d_place = _find(places, "pin_code", top["pin_code"]) if top is not None else ALL_PLACES
    c1, c2 = st.columns(2)
    with c1:
        product = _picker("Product", products, STORE["product"], "fc_product", d_product)
    with c2:
        place = _picker("Place", places, STORE["place"], "fc_place", d_place)
    return Selection(**product, **place)


# ---- runs --------------------------------------------------------------------------------
def run_settings(prefix: str, wh, quick: bool = False) -> ForecastConfig:
    """Widgets for a forecast/backtest run in the grain of the warehouse's sales; returns
    the frozen config. Defaults are the grain's (28 days / 13 weeks, the grain's models); a
    quick run backtests 2 folds (a forecast run's weekly backtest spans a year)."""
    grain = sales_grain(wh)
    base = ForecastConfig(grain=grain, folds=2 if quick else None)
    unit = period_noun(grain, 2)
    with st.expander("Run settings", expanded=False):
        c1, c2 = st.columns(2)
        h = c1.number_input(f"Horizon ({unit})", 1, 90, base.horizon,
                            key=f"{prefix}_run_horizon")
        k = c2.number_input("Backtest folds", 1, 8, base.folds, key=f"{prefix}_run_folds",
                            help="More folds give firmer routing evidence and better "
                                 "calibrated bands, but take longer.")
        choices = available_models()
        picked = st.multiselect("Models", choices,
                                default=[m for m in base.models if m in choices],
                                key=f"{prefix}_run_models",
                                help="ETS, Theta and ARIMA run on the top-volume series; "
                                     "Prophet costs about 0.3 s per series and runs on the "
                                     "top series only.")
    # the run detects the grain from the history itself; `grain` only set the defaults
    return ForecastConfig(horizon=int(h), folds=int(k), models=tuple(picked or base.models))


def plan_choice(prefix: str, wh) -> str | int:
    """Which uploaded price / promotion plan a run reads: 'latest', 'none' or a version
    (the Data page uploads plans). Hidden when no plan was uploaded."""
    from engine.warehouse.plans import plan_versions

    versions = plan_versions(wh)
    if versions.empty:
        return "none"
    labels = {"latest": f"Latest plan (version {int(versions['plan_version'].iloc[0])})",
              "none": "No plan (regular prices, promotions at their usual rate)"}
    for v in versions.itertuples(index=False):
        labels[int(v.plan_version)] = (f"Version {int(v.plan_version)}: {v.file_name} "
                                       f"({dd_mmm(v.date_from, True)} to "
                                       f"{dd_mmm(v.date_to, True)}, {int(v.rows):,} rows)")
    return st.selectbox("Price and promotion plan", list(labels), format_func=labels.get,
                        key=f"{prefix}_plan",
                        help="The forecast reads the plan's prices and promotions for the "
                             "periods it covers, and its backtest uses the prices actually "
                             "charged in each fold. A newer version supersedes an older "
                             "one for the same products, places and dates.")


def backend_caption() -> str:
    """Where a Run button's forecast or backtest executes (the configured backend: this
    machine, or the Dask cluster MICROPULSE_DASK_SCHEDULER names), or why it cannot."""
    from engine.forecast.backends import backend_from

    try:
        backend = backend_from()
    except ForecastError as exc:
        return f"Runs cannot start: {exc}"
    return f"Runs on {backend.describe()}."


def progress_callback(status, bar, folds: int):
    """A progress function for the engine: each message goes to the status box and the
    bar advances per backtest fold and for the final fit, or by the share a cluster run
    reports ('cluster 45%: ...')."""
    steps = folds + 1
    state = {"done": 0.0}

    def say(message: str) -> None:
        if message.startswith("cluster ") and "%" in message.split()[1]:
            try:
                state["done"] = float(message.split()[1].rstrip("%:")) / 100
            except ValueError:
                pass
        elif message.startswith("fold "):
            try:
                k = int(message.split()[1].split("/")[0])
                state["done"] = (k - 1) / steps
            except (IndexError, ValueError):
                pass
        elif message.startswith("final fit"):
            state["done"] = folds / steps
        bar.progress(min(0.99, state["done"]), text=message)
        status.write(message)

    return say


def run_with_progress(what: str, engine_call, wh, cfg: ForecastConfig, errors: tuple):
    """Run `engine_call(wh, cfg, progress=...)` inside a status box with a progress bar.
    Returns the result, or None after showing a sentence (never a traceback). The run
    writes one transaction at the end, so other pages keep reading meanwhile."""
    status = st.status(f"Running the {what}...", expanded=True)
    bar = status.progress(0.0, text="reading the warehouse")
    try:
        result = engine_call(wh, cfg, progress=progress_callback(status, bar, cfg.folds))
    except (MicroPulseError, *errors) as exc:
        status.update(label=f"The {what} did not run", state="error")
        show_error(exc)
        return None
    except Exception as exc:  # noqa: BLE001 - a sentence, never a traceback
        status.update(label=f"The {what} did not run", state="error")
        st.error(f"The {what} could not finish ({type(exc).__name__}: {exc}).",
                 icon=":material/error:")
        return None
    bar.progress(1.0, text="saved")
    if what == "forecast":
        status.write(refresh_after(wh, "forecast run", st.session_state.get("user")))
    status.update(label=f"{what.capitalize()} run {result.run_id} saved "
                        f"({sum(result.timings.get(k, 0) for k in ('total',)):.0f} s)",
                  state="complete", expanded=False)
    return result


def selection_state(opts: pd.DataFrame, sel: Selection) -> str | None:
    """The single state a selection sits in (for regional festivals), else None."""
    if sel.state:
        return sel.state
    rows = opts[(opts["city"] == sel.city) if sel.city else (opts["pin_code"] == sel.pin_code)] \
        if (sel.city or sel.pin_code) else opts.iloc[0:0]
    states = rows["state"].dropna().unique()
    return str(states[0]) if len(states) == 1 else None


def run_caption(run: dict, pin_scope=None) -> str:
    """The run in one line, with the periods it treated as missing data (only for the
    PIN codes in `pin_scope` when given: a store user sees only their own)."""
    cfg = run.get("config") or {}
    routed = cfg.get("routed_backtest") or {}
    bits = [f"Run {run['run_id']} of {dd_mmm(run['created_at'], True)}",
            f"{run['n_series']} series", f"horizon {run['horizon']} "
            f"{'weeks' if run.get('grain') == 'W' else 'days'} after "
            f"{dd_mmm(run['cutoff'], True)}",
            f"intervals: {cfg.get('interval_method', 'conformal')}"]
    if routed.get("coverage95") is not None:
        bits.append(f"backtest WAPE {routed.get('wape')}%, 95% coverage "
                    f"{routed.get('coverage95')}%")
    if cfg.get("plan_version") is not None:
        bits.append(f"price / promotion plan: version {cfg['plan_version']}")
    scope = None if pin_scope is None else {str(p) for p in pin_scope}
    bits += [g["note"] for g in cfg.get("data_gaps") or []
             if scope is None or str(g.get("pin_code")) in scope]
    return " · ".join(bits)


def has_plan(series: pd.DataFrame) -> bool:
    """Whether the run's plan covers any period of the plotted selection."""
    return "planned_series" in series and bool((series["planned_series"] > 0).any())


def plan_caption(series: pd.DataFrame, grain: str = "D") -> str:
    """What the price / promotion plan does to the plotted selection, in units."""
    on = series[series["planned_series"] > 0]
    delta = float((on["forecast"] - on["forecast_no_plan"]).sum())
    base = float(on["forecast_no_plan"].sum())
    share = f" ({100 * delta / base:+.0f}%)" if base > 0 else ""
    return (f"The plan covers {periods_text(len(on), grain)} of this selection (marked ◆ on "
            f"the forecast): {_signed_units(delta)}{share} against the forecast without it "
            f"(dashed). The price driver in the Drivers tab holds the plan's effect.")


# ---- charts ------------------------------------------------------------------------------
def band_caption(series: pd.DataFrame, grain: str = "D") -> str:
    """How the bands of the plotted (possibly summed) forecast were made."""
    method = series.attrs.get("method")
    if method == "aggregate_conformal":
        cov = series.attrs.get("coverage") or {}
        held = (f" In the backtest, with each fold calibrated on the others, the 95% band "
                f"held {cov['95']:.0f}% of {period_noun(grain, 2)} and the 80% band "
                f"{cov['80']:.0f}%." if cov else "")
        return (f"Bands for this total are calibrated on its own backtest errors "
                f"({periods_text(series.attrs.get('n_points', 0), grain)}), not added up "
                f"from the series' bands (which would be far too wide).{held}")
    if method == "sum":
        return ("This run has no backtest for the total, so its bands add up the series' "
                "bands: conservative (wider than the true band).")
    return "Bands: 80% (dark) and 95% (light) intervals (method in the run line above)."


def label_rows(dates: pd.Series, min_gap_days: int = 14, n_rows: int = 3) -> list[int]:
    """A text row per festival marker so labels of festivals a few days apart (Dhanteras
    and Diwali) stack instead of printing over each other."""
    rows: list[int] = []
    last_in_row: dict[int, pd.Timestamp] = {}
    for day in dates:
        row = next((r for r in range(n_rows)
                    if r not in last_in_row or (day - last_in_row[r]).days >= min_gap_days),
                   len(rows) % n_rows)
        last_in_row[row] = day
        rows.append(row)
    return rows


def forecast_figure(history: pd.DataFrame, fc: pd.DataFrame, festivals: pd.DataFrame,
                    title: str, grain: str = "D") -> go.Figure:
    """History, forecast, 80% and 95% bands; festival days marked, windows shaded."""
    fig = go.Figure()
    for lo, hi, name, alpha in (("lo", "hi", "95% interval", 0.12),
                                ("lo80", "hi80", "80% interval", 0.25)):
        fig.add_trace(go.Scatter(x=fc["date"], y=fc[hi], mode="lines", line={"width": 0},
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=fc["date"], y=fc[lo], mode="lines", line={"width": 0},
                                 fill="tonexty", fillcolor=f"rgba(15,118,110,{alpha})",
                                 name=name, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=history["date"], y=history["quantity"], name="Actual units", mode="lines",
        line={"color": HISTORY, "width": 1.5},
        hovertemplate="%{x|%d-%b-%Y}: %{y:,.0f} units<extra></extra>"))
    text = [f"{units(f)} (80%: {indian_grouping(a)}–{indian_grouping(b)}; 95%: "
            f"{indian_grouping(c)}–{indian_grouping(d)})"
            for f, a, b, c, d in zip(fc["forecast"], fc["lo80"], fc["hi80"], fc["lo"], fc["hi"])]
    fig.add_trace(go.Scatter(
        x=fc["date"], y=fc["forecast"], name="Forecast", mode="lines+markers",
        line={"color": FORECAST, "width": 3}, marker={"size": 4}, customdata=text,
        hovertemplate="%{x|%d-%b-%Y}: %{customdata}<extra></extra>"))
    if has_plan(fc):          # the price / promotion plan against the forecast without it
        fig.add_trace(go.Scatter(
            x=fc["date"], y=fc["forecast_no_plan"], name="Without the plan", mode="lines",
            line={"color": FORECAST, "width": 1.5, "dash": "dash"},
            hovertemplate="%{x|%d-%b-%Y}: %{y:,.0f} units without the plan<extra></extra>"))
        on = fc[fc["planned_series"] > 0]
        fig.add_trace(go.Scatter(
            x=on["date"], y=on["forecast"], name="Planned price / promotion", mode="markers",
            marker={"symbol": "diamond", "size": 11, "color": "#B91C1C"},
            customdata=on["planned_series"],
            hovertemplate="%{x|%d-%b-%Y}: planned for %{customdata} series<extra></extra>"))
    top = max(history["quantity"].max() if len(history) else 0, fc["hi"].max() if len(fc) else 0)
    # the shapes add_vrect draws, set in one go (add_vrect validates the figure per call)
    windows = [dict(type="rect", xref="x", yref="y domain", y0=0, y1=1,
                    x0=pd.Timestamp(r.date) - pd.Timedelta(days=int(r.pre_days)),
                    x1=pd.Timestamp(r.date) + pd.Timedelta(days=int(r.post_days)),
                    fillcolor="#F59E0B", opacity=0.08, line={"width": 0}, layer="below")
               for r in festivals.itertuples(index=False)]
    if windows:
        fig.update_layout(shapes=windows)
    if len(festivals):
        festivals = festivals.sort_values("date")
        rows = label_rows(pd.to_datetime(festivals["date"]))
        fig.add_trace(go.Scatter(
            x=pd.to_datetime(festivals["date"]), y=[top * (1.05 + 0.09 * r) for r in rows],
            mode="markers+text", name="Festivals", text=festivals["name"],
            textposition="top center", textfont={"size": 10},
            marker={"symbol": "star", "size": 10, "color": "#D97706"},
            hovertemplate="%{text} on %{x|%d-%b-%Y}<extra></extra>"))
    fig.update_layout(title={"text": title, "x": 0}, height=440, hovermode="x unified",
                      margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      legend={"orientation": "h", "y": -0.15})
    fig.update_xaxes(tickformat="%d-%b", hoverformat="%d-%b-%Y")
    fig.update_yaxes(title_text=f"Units per {period_noun(grain)}", rangemode="tozero")
    return fig


def model_choice(mix: pd.DataFrame, is_series: bool, grain: str = "D") -> None:
    """The routed model and its backtest evidence (one series) or the mix (aggregate)."""
    if mix.empty:
        st.caption("This run stored no routing decisions.")
        return
    if is_series:
        row = mix.iloc[0]
        st.markdown(f"**Model: {row['model']}** — {row['reason']}")
        errors = json.loads(row["errors"] or "{}")
        if errors:
            col = f"Backtest MAE (units/{period_noun(grain)})"
            ev = pd.DataFrame({"Model": list(errors), col: [round(v, 2) for v in errors.values()]})
            st.dataframe(ev.sort_values(col), hide_index=True)
        return
    total = mix["volume"].sum()
    shown = pd.DataFrame({
        "Model": mix["model"], "Series": mix["n_series"],
        "Share of forecast units": [pct(v / total, signed=False) if total else "—"
                                    for v in mix["volume"]],
        "Example reason": mix["reason"]})
    st.dataframe(shown, hide_index=True, width="stretch")


def drivers_figure(effects: pd.DataFrame) -> go.Figure:
    row = effects.iloc[0]
    names = [GROUP_LABELS[g] for g in GROUP_LABELS]
    vals = [float(row[g]) for g in GROUP_LABELS]
    fig = go.Figure(go.Bar(
        x=vals, y=names, orientation="h", text=[f"{v:+,.0f} units" for v in vals],
        textposition="outside", cliponaxis=False,
        marker_color=[FORECAST if v >= 0 else SCENARIO for v in vals],
        hovertemplate="%{y}: %{x:+,.1f} units over the horizon<extra></extra>"))
    fig.update_layout(title={"text": "What moves this forecast (units over the horizon, vs "
                             "neutral conditions)", "x": 0}, height=300,
                      margin={"l": 10, "r": 60, "t": 50, "b": 10})
    fig.update_xaxes(title_text="Units added (+) or removed (−)", zeroline=True)
    return fig


def seasonality_figure(dec) -> go.Figure:
    comps = ["observed", "trend"] + [c for c in dec.frame.columns if c.startswith("seasonal_")] \
        + ["remainder"]
    names = {"observed": "Observed", "trend": "Trend", "remainder": "Remainder",
             "seasonal_7": "Weekly pattern", "seasonal_365": "Yearly pattern",
             "seasonal_52": "Yearly pattern (weeks)"}
    fig = make_subplots(rows=len(comps), cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        subplot_titles=[names.get(c, c) for c in comps])
    for i, c in enumerate(comps, start=1):
        fig.add_trace(go.Scatter(x=dec.frame["date"], y=dec.frame[c], mode="lines",
                                 line={"width": 1.2, "color": FORECAST if i > 1 else HISTORY},
                                 name=names.get(c, c), showlegend=False,
                                 hovertemplate="%{x|%d-%b-%Y}: %{y:,.1f}<extra></extra>"),
                      row=i, col=1)
    fig.update_layout(height=130 * len(comps) + 60, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(tickformat="%d-%b-%y")
    return fig


def strength_caption(dec) -> str:
    names = {"trend": "trend", "seasonal_7": "weekly", "seasonal_365": "yearly",
             "seasonal_52": "yearly"}
    parts = [f"{names.get(k, k)} {v:.2f}" for k, v in dec.strength.items()]
    return ("Strength (0 = no such pattern, 1 = explains everything): " + ", ".join(parts)
            + ". " + ("Yearly seasonality needs two full years of history."
                      if not any(k in dec.strength for k in ("seasonal_365", "seasonal_52"))
                      else ""))


def forecast_table(series: pd.DataFrame, detail: pd.DataFrame, basename: str) -> None:
    shown = pd.DataFrame({"Date": [dd_mmm(d, True) for d in series["date"]],
                          "Forecast (units)": series["forecast"].round(1),
                          "80% low": series["lo80"].round(1), "80% high": series["hi80"].round(1),
                          "95% low": series["lo"].round(1), "95% high": series["hi"].round(1)})
    if has_plan(series):
        shown["Without the plan"] = series["forecast_no_plan"].round(1).to_numpy()
        shown["Planned series"] = series["planned_series"].to_numpy()
    st.dataframe(shown, hide_index=True, width="stretch", height=260)
    st.caption(f"Downloads hold every SKU x PIN row of the selection ({len(detail):,} rows).")
    download_buttons(detail, basename, key="fc_download")


# ---- what-if -----------------------------------------------------------------------------
_SLIDERS = [("price_change_pct", "wi_price", "Price change (%)", -30.0, 30.0, 1.0, "%+.0f%%",
             "Positive = a higher price than planned."),
            ("temp_anomaly_c", "wi_temp", "Temperature vs normal (°C)", -8.0, 8.0, 0.5,
             "%+.1f °C",
             "Degrees above (+) or below (−) the climate normal, every day of the horizon."),
            ("rain_anomaly_mm", "wi_rain", "Rainfall vs normal (mm/day)", -20.0, 20.0, 1.0,
             "%+.0f mm", "Millimetres a day above (+) or below (−) normal."),
            ("festival_intensity", "wi_fest", "Festival intensity (×)", 0.0, 2.0, 0.1, "×%.1f",
             "1 = festivals as usual, 0 = no festival effect, 2 = twice the usual uplift.")]


def whatif_inputs() -> ScenarioConfig:
    """Sliders seeded from session_state (kept across page switches)."""
    stored = st.session_state.get(STORE["whatif"], {})
    values = {}
    cols = st.columns(len(_SLIDERS) + 1)
    for col, (field, key, label, lo, hi, step, fmt, help_text) in zip(cols, _SLIDERS):
        default = float(stored.get(field, getattr(ScenarioConfig(), field)))
        values[field] = col.slider(label, lo, hi, min(hi, max(lo, default)), step, format=fmt,
                                   key=key, help=help_text)
    values["promo"] = cols[-1].toggle("Run a promotion", value=bool(stored.get("promo", False)),
                                      key="wi_promo",
                                      help="The category's typical promotional discount.")
    st.session_state[STORE["whatif"]] = dict(values)
    return ScenarioConfig(**values)


def _signed_units(v: float) -> str:
    return ("+" if v >= 0 else "−") + units(abs(v))


def _signed_inr(v: float) -> str:
    return ("+" if v >= 0 else "−") + inr_compact(abs(v))


def scenario_readout(outcome) -> None:
    t = outcome.totals
    c = st.columns(4)
    c[0].metric("Baseline units", units(t["baseline_units"]))
    c[1].metric("Scenario units", units(t["scenario_units"]),
                delta=pct(t["delta_pct"]) if t["delta_pct"] is not None else None)
    c[2].metric("Change in units", _signed_units(t["delta_units"]))
    c[3].metric("Change in revenue", _signed_inr(t["delta_inr"]),
                help=f"Baseline {inr_compact(t['baseline_inr'])}, scenario "
                     f"{inr_compact(t['scenario_inr'])}, at the scenario's price.")
    names = {"price_change_pct": "price", "temp_anomaly_c": "temperature",
             "rain_anomaly_mm": "rainfall", "festival_intensity": "festivals",
             "promo": "promotion"}
    moved = [f"{names[k]} ×{v:.2f}" for k, v in outcome.factors.items() if abs(v - 1) > 5e-4]
    st.caption("Effect of each lever on units: " + (", ".join(moved) if moved else
               "none (all sliders at their neutral values)") + ".")


def scenario_figure(outcome, saved_lines: pd.DataFrame | None = None) -> go.Figure:
    d = outcome.daily
    fig = go.Figure()
    if "scenario_lo" in d:
        fig.add_trace(go.Scatter(x=d["date"], y=d["scenario_hi80"], mode="lines",
                                 line={"width": 0}, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=d["date"], y=d["scenario_lo80"], mode="lines",
                                 line={"width": 0}, fill="tonexty", name="Scenario 80%",
                                 fillcolor="rgba(194,65,12,0.15)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=d["date"], y=d["baseline"], name="Baseline forecast",
                             line={"color": FORECAST, "width": 2, "dash": "dot"},
                             hovertemplate="%{x|%d-%b}: %{y:,.1f} units<extra>baseline</extra>"))
    fig.add_trace(go.Scatter(x=d["date"], y=d["scenario"], name="Scenario",
                             line={"color": SCENARIO, "width": 3},
                             hovertemplate="%{x|%d-%b}: %{y:,.1f} units<extra>scenario</extra>"))
    if saved_lines is not None and len(saved_lines):
        for name, part in saved_lines.groupby("name", sort=False):
            fig.add_trace(go.Scatter(x=part["date"], y=part["units"], name=f"Saved: {name}",
                                     line={"width": 1.5}, opacity=0.8))
    fig.update_layout(title={"text": f"Scenario vs baseline ({outcome.unit})", "x": 0},
                      height=360, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(tickformat="%d-%b")
    fig.update_yaxes(rangemode="tozero", title_text=outcome.unit.capitalize())
    return fig


def save_form() -> str | None:
    with st.form("wi_save_form", clear_on_submit=True, border=False):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        name = c1.text_input("Scenario name", key="wi_name", max_chars=80,
                             placeholder="e.g. Diwali -8% and a hot week")
        if c2.form_submit_button("Save scenario", icon=":material/save:",
                                    disabled=not allowed("run_scenario")):
            return name
    return None


def compare_table(table: pd.DataFrame) -> None:
    shown = pd.DataFrame({
        "Scenario": table["name"],
        "Price": [f"{v:+.0f}%" for v in table["price_change_pct"]],
        "Temp.": [f"{v:+.1f} °C" for v in table["temp_anomaly_c"]],
        "Rain": [f"{v:+.0f} mm" for v in table["rain_anomaly_mm"]],
        "Festivals": [f"×{v:.1f}" for v in table["festival_intensity"]],
        "Promo": ["yes" if v else "no" for v in table["promo"]],
        "Units": [units(v) for v in table["units"]],
        "Change": [_signed_units(v) for v in table["delta_units"]],
        "Revenue": [inr_compact(v) for v in table["revenue"]],
        "Revenue change": [_signed_inr(v) for v in table["delta_inr"]],
        "Saved by": table["created_by"].fillna("—"),
        "Saved on run": table["saved_run_id"].fillna("—")})
    st.dataframe(shown, hide_index=True, width="stretch")
