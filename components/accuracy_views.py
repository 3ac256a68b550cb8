"""Accuracy page pieces: run picker, league table, metrics by dimension, the distribution
of per-series errors and the worst series with links to the Forecast page."""
from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.format import dd_mmm, indian_grouping
from engine.forecast import scores

# metric -> (business name first, the technical term in brackets; help on hover)
COLUMNS = {
    "wape": ("Typical error (WAPE) %",
             "Units missed as a share of units sold: total |actual - forecast| / total "
             "actual units. 20% = for every 100 units sold, the forecasts were off by 20 in "
             "total. Lower is better."),
    "mape": ("Average % miss on days with sales (MAPE)",
             "Mean of |actual - forecast| / actual over periods that sold something (a zero "
             "would divide by zero). Small series swing it a lot; prefer the typical error."),
    "bias_pct": ("Over / under-forecast (bias) %",
                 "(total forecast - total actual) / total actual. Above 0 = forecasts too "
                 "high (overstock risk), below 0 = too low (stock-out risk)."),
    "rmse": ("Error in units (RMSE)",
             "Root mean squared error per period, in units: large misses count more."),
    "mase": ("Error vs same-as-last-season (MASE)",
             "Mean absolute error over the series' own typical change from one season to "
             "the next, in-sample. Below 1 beats a same-as-last-season forecast."),
    "rmsse": ("Error vs same-as-last-period (RMSSE)",
              "The M5 competition's measure: each series' squared error over its typical "
              "period-to-period change, rooted and averaged over series. Below 1 beats "
              "'same as last period'."),
    "coverage80": ("Actuals inside the 80% band %",
                   "Share of actual sales inside the 80% prediction interval (aim: 80%)."),
    "coverage95": ("Actuals inside the 95% band %",
                   "Share of actual sales inside the 95% prediction interval (aim: 95%). "
                   "Bands are conformal: their width comes from the errors the forecasts "
                   "actually made in earlier backtest folds, not from a model's assumptions."),
    "fva_pct": ("Better than same-as-last-season (value added) %",
                "How much less absolute error than the seasonal-naive forecast (same period "
                "last season) on the same series and periods. Above 0 = adds value."),
}
DIMENSIONS = {"category": "Category", "state": "State", "city": "City",
              "step": "Horizon step (periods ahead)"}
# model key -> (business name, what it is: the technical detail)
MODELS = {
    "routed": ("MicroPulse pick", "Each category's best model or mix of models, per series "
               "where one clearly does better (what the forecast uses)"),
    "routed_no_plan": ("MicroPulse pick without the plan", "The same forecast without the "
                       "price / promotion plan"),
    "seasonal_naive": ("Same as last season", "Seasonal naive: the same day last week (daily "
                       "data) or week last year (weekly data)"),
    "moving_average": ("Recent average", "Moving average of the last periods; young series "
                       "borrow their category x city profile"),
    "lightgbm": ("Machine learning (LightGBM)", "Gradient-boosted trees over all series: lags, "
                 "prices, promotions, festivals, weather"),
    "ets": ("Exponential smoothing (ETS)", "AutoETS (statsforecast): error, trend and season "
            "chosen per series by AICc, e.g. ETS(A,Ad,N)"),
    "theta": ("Theta method", "Dynamic optimised Theta with a seasonal adjustment when the "
              "season tests significant"),
    "arima": ("ARIMA", "AutoARIMA: stepwise order search by AICc, seasonal on daily data"),
    "ces": ("Complex exponential smoothing (CES)", "AutoCES (statsforecast)"),
    "ses": ("Simple exponential smoothing", "SES with its weight fitted per series"),
    "tsb": ("Intermittent demand (TSB)", "Teunter-Syntetos-Babai: demand size and the chance "
            "of a sale smoothed separately"),
    "croston": ("Intermittent demand (Croston)", "Croston's method, optimised"),
    "imapa": ("Intermittent demand (IMAPA)", "Croston-type forecasts averaged over "
              "aggregation levels"),
    "prophet": ("Prophet", "Trend + seasons + festivals and weather as regressors"),
}
PARTIAL_MODELS = "ETS, Theta and ARIMA run on the top-volume series only; Prophet on fewer"
CONVENTIONS = (
    "Hover a column name for what it means. Typical error (WAPE) = units missed / units "
    "sold. Bias above 0 = over-forecasting. Coverage = share of actual sales inside the "
    "band; bands are conformal (sized from the errors the forecasts actually made in "
    "earlier backtest folds), and should hold 80% / 95% at every step ahead. Value added "
    "= how much less error than a same-as-last-season forecast on the same periods.")


def model_label(name: str) -> str:
    """'ets' -> 'Exponential smoothing (ETS)'; unknown names as they are."""
    return MODELS.get(name, (name, ""))[0]


def run_picker(runs: pd.DataFrame) -> pd.Series:
    def ahead(r) -> str:
        unit = "week" if getattr(r, "grain", "D") == "W" else "day"
        return f"{r.horizon} {unit}{'s' if r.horizon != 1 else ''} ahead"
    labels = [f"{r.kind.capitalize()} of {dd_mmm(r.created_at, True)} · {r.folds} fold(s) · "
              f"{ahead(r)} · {indian_grouping(r.n_series)} series · {r.run_id}"
              for r in runs.itertuples()]
    pick = st.selectbox("Backtest", labels, key="ac_run")
    return runs.iloc[labels.index(pick)]


def model_picker(models: list[str]) -> str:
    default = models.index(scores.default_model(models)) if models else 0
    return st.selectbox("Model for the breakdowns", models, index=default, key="ac_model",
                        format_func=model_label,
                        help="'MicroPulse pick' is what the forecast uses: each category's "
                             "best model or mix of models, per series where one clearly "
                             "does better.")


def basis_picker(coverage: pd.DataFrame) -> str:
    """'common' (every model on the series all of them forecast) or 'all' (every series,
    only the models that forecast all of them); no choice when every model covers all."""
    if scores.default_basis(coverage) == "all":
        return "all"
    total = coverage.attrs.get("total_series", int(coverage["series"].max()))
    common = int(coverage.attrs.get("common_series", coverage["series"].min()))
    options = {"common": f"The {indian_grouping(common)} series every model forecast",
               "all": f"All {indian_grouping(total)} series (only the models that forecast "
                      "every one)"}
    return st.radio("Compare on", list(options), format_func=options.get, horizontal=True,
                    key="ac_basis", help=f"{PARTIAL_MODELS}. Either way every model in the "
                    "table is scored on the identical series and periods.")


def compared_models(coverage: pd.DataFrame, basis: str, model: str | None = None
                    ) -> tuple[str, ...]:
    """The models a like-with-like score covers (engine.forecast.scores.compared_models,
    which also decides what a saved run stores ahead of the page's first view)."""
    return scores.compared_models(coverage, basis, model)


def _metric_frame(scores: pd.DataFrame, first: str, label: str) -> pd.DataFrame:
    names = scores[first].map(model_label) if first == "model" else scores[first].astype(str)
    out = pd.DataFrame({label: names.to_numpy(),
                        "Forecast points": [indian_grouping(n) for n in scores["n"]]})
    for col, (name, _) in COLUMNS.items():
        out[name] = scores[col].round(2 if col in ("mase", "rmsse") else 1).to_numpy()
    return out


def _column_help() -> dict:
    return {name: st.column_config.NumberColumn(name, help=text)
            for name, text in COLUMNS.values()}


def league_table(scores: pd.DataFrame, coverage: pd.DataFrame, basis: str) -> None:
    """Models ranked by typical error (WAPE), best first, every one on the same series,
    with a sentence for the best model and the set they were compared on."""
    ranked = scores.sort_values("wape", na_position="last").reset_index(drop=True)
    shown = _metric_frame(ranked, "model", "Model")
    shown.insert(0, "Rank", range(1, len(shown) + 1))
    shown["Method"] = [MODELS.get(m, ("", ""))[1] for m in ranked["model"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        **_column_help(), "Method": st.column_config.TextColumn("Method", width="large")})
    st.caption(basis_sentence(scores, coverage, basis))
    best = ranked.iloc[0]
    naive = ranked[ranked["model"] == "seasonal_naive"]
    if pd.notna(best["wape"]):
        line = (f"**{model_label(best['model'])}** has the lowest typical error: for every "
                f"100 units sold, its forecasts were off by {best['wape']:.0f} units in total "
                f"(WAPE {best['wape']:.1f}%)")
        if len(naive) and best["model"] != "seasonal_naive" and pd.notna(naive["wape"].iloc[0]):
            line += (f", against {naive['wape'].iloc[0]:.0f} for "
                     f"{model_label('seasonal_naive').lower()}")
        st.markdown(line + ".")
    st.caption(CONVENTIONS)


def basis_sentence(scores: pd.DataFrame, coverage: pd.DataFrame, basis: str) -> str:
    """Which series the league table compares on, in words."""
    total = coverage.attrs.get("total_series", 0)
    n = scores.attrs.get("n_series", total)
    left_out = [model_label(m) for m in coverage.loc[~coverage["all_series"], "model"]]
    if basis == "all" and not left_out:
        return (f"Every model forecast all {indian_grouping(total)} series; each is scored on "
                "the same series and periods.")
    if basis == "all":
        return (f"All {indian_grouping(total)} series; not shown: {', '.join(left_out)} "
                "(forecast only some series).")
    return (f"Compared on the {indian_grouping(n)} of {indian_grouping(total)} series that "
            f"every model forecast, the same periods for each ({PARTIAL_MODELS}).")


def coverage_table(own: pd.DataFrame, coverage: pd.DataFrame) -> None:
    """Each model on every series it forecast (not like with like: for reference)."""
    cov = coverage.set_index("model")
    ranked = own.sort_values("wape", na_position="last").reset_index(drop=True)
    shown = _metric_frame(ranked, "model", "Model")
    shown.insert(1, "Series", [indian_grouping(cov.at[m, "series"]) if m in cov.index else "—"
                               for m in ranked["model"]])
    st.dataframe(shown, hide_index=True, width="stretch", column_config=_column_help())


def _ordered(scores: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Steps in order, other dimensions by name."""
    return scores.sort_values(dim)


def _wape_columns(scores: pd.DataFrame, dim: str, models) -> list[tuple[str, pd.Series]]:
    """(model, its WAPE per `dim` value) for each of `models` with any WAPE: the columns of
    scores.pivot_table(index=dim, columns="model", values="wape", aggfunc="first",
    sort=False), without pivot_table's cost (~50 ms a call under load, four per view)."""
    known = scores[scores[dim].notna() & scores["wape"].notna()]
    index = pd.Index(pd.unique(known[dim]), name=dim)
    out = []
    for m in models:
        rows = known[known["model"] == m].drop_duplicates(dim)
        if len(rows):
            out.append((m, rows.set_index(dim)["wape"].reindex(index).rename(m)))
    return out


def by_dimension(scores: pd.DataFrame, dim: str, model: str,
                 paired: pd.DataFrame | None = None) -> None:
    """Metrics of `model` by `dim` (on every series it forecast), and a chart of its typical
    error next to same-as-last-season's on the series and periods both forecast (`paired`;
    `scores` when not given)."""
    scores = _ordered(scores, dim)
    mine = scores[scores["model"] == model]
    if mine.empty:
        st.caption("No backtest rows for this model here.")
        return
    st.dataframe(_metric_frame(mine, dim, DIMENSIONS[dim]), hide_index=True, width="stretch",
                 column_config=_column_help())
    both = _ordered(paired if paired is not None else scores, dim)
    fig = go.Figure()
    for m, wape in _wape_columns(both, dim, (model, "seasonal_naive")):
        fig.add_trace(go.Bar(x=wape.index.astype(str), y=wape, name=model_label(m),
                             hovertemplate="%{x}: typical error %{y:.1f}%<extra>"
                                           + model_label(m) + "</extra>"))
    fig.update_layout(barmode="group", height=320, title={
                          "text": f"Typical error (WAPE) by {DIMENSIONS[dim].lower()}, on the "
                                  "series and periods both forecast", "x": 0},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text="Typical error (WAPE) %", rangemode="tozero")
    st.plotly_chart(fig, width="stretch", key=f"ac_dim_{dim}")
    if dim == "step":
        st.plotly_chart(coverage_by_step(mine, model), width="stretch", key="ac_cov_step")


def coverage_by_step(scores: pd.DataFrame, model: str) -> go.Figure:
    """80% and 95% coverage of `model` per horizon step against their targets: a band
    that holds on average but not at the far steps is not a band to plan stock on."""
    fig = go.Figure()
    targets = []      # the lines add_hline draws, set in one go (it costs ~0.1 s a call)
    for col, level, colour in (("coverage95", 95, "#0F766E"), ("coverage80", 80, "#C2410C")):
        fig.add_trace(go.Scatter(x=scores["step"], y=scores[col], mode="lines+markers",
                                 name=f"{level}% band", line={"color": colour},
                                 hovertemplate=f"step %{{x}}: %{{y:.1f}}% inside the {level}% "
                                               "band<extra></extra>"))
        targets.append(dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=level,
                            y1=level, line={"dash": "dot", "color": colour}, opacity=0.6))
    fig.update_layout(shapes=targets)
    fig.update_layout(height=320, title={"text": "Actuals inside the bands by step ahead, "
                                                 f"{model_label(model)}", "x": 0},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text="% of actuals inside", range=[50, 100])
    fig.update_xaxes(title_text="periods ahead", dtick=1)
    return fig


def error_histogram(per_series: pd.DataFrame, model: str) -> go.Figure:
    s = per_series[(per_series["model"] == model) & per_series["wape"].notna()]
    fig = go.Figure(go.Histogram(x=s["wape"].clip(upper=200), nbinsx=40,
                                 marker_color="#0F766E",
                                 hovertemplate="typical error %{x}%: %{y} series"
                                               "<extra></extra>"))
    median = s["wape"].median() if len(s) else float("nan")
    if len(s):        # what add_vline(annotation_text=...) draws, without its ~0.1 s
        fig.update_layout(
            shapes=[dict(type="line", xref="x", x0=median, x1=median, yref="y domain", y0=0,
                         y1=1, line={"dash": "dash", "color": "#C2410C"})],
            annotations=[dict(text=f"median {median:.0f}%", x=median, xref="x", y=1,
                              yref="y domain", xanchor="left", yanchor="top",
                              showarrow=False)])
    fig.update_layout(title={"text": f"Typical error (WAPE) per series, {model_label(model)} "
                             f"({indian_grouping(len(s))} series; values above 200% shown at "
                             "200%)", "x": 0}, height=320,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, bargap=0.05)
    fig.update_xaxes(title_text="Typical error (WAPE) % per series")
    fig.update_yaxes(title_text="Series")
    return fig


def forecast_link(sku_id: str, pin_code: str) -> str:
    return "/Forecast?" + urlencode({"sku_id": sku_id, "pin_code": pin_code})


def worst_table(worst: pd.DataFrame) -> None:
    if worst.empty:
        st.caption("No series to rank.")
        return
    shown = pd.DataFrame({
        "Open": [forecast_link(s, p) for s, p in zip(worst["sku_id"], worst["pin_code"])],
        "SKU": worst["sku_id"], "Product": worst["name"].fillna(""),
        "Category": worst["category"].fillna(""), "PIN code": worst["pin_code"],
        "City": worst["city"].fillna(""),
        "Actual units": [indian_grouping(v) for v in worst["actual"]],
        "Units missed": [indian_grouping(v) for v in worst["abs_error"]],
        COLUMNS["wape"][0]: worst["wape"].round(1),
        COLUMNS["bias_pct"][0]: worst["bias_pct"].round(1)})
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        **_column_help(),
        "Open": st.column_config.LinkColumn("Open", display_text="Forecast →",
                                            help="Open this series on the Forecast page")})


# ---- How the forecasts held (live accuracy, engine/forecast/live.py) ----------------------
LIVE_METRICS = {"wape": "Typical error (WAPE) %", "bias_pct": "Over / under-forecast (bias) %",
                "coverage95": "Actuals inside the 95% band %"}
LIVE_BREAKDOWNS = {"all": "Overall", "category": "Category", "state": "State",
                   "step": "Horizon step (periods ahead)"}
LIVE_EMPTY = (
    "No forecast has met its actual sales yet. This section fills in by itself once there "
    "are (1) a stored forecast run (Forecast page, **Run forecast**) and (2) sales for days "
    "inside that run's horizon, uploaded on the Data page or sent as sales events "
    "(`POST /v1/sales/events`). Each run is then judged week by week as the sales land.")


@st.cache_data(show_spinner=False, max_entries=8)
def _live_timeline(_wh, version: str) -> tuple[pd.DataFrame, list[str]]:
    from engine.forecast import live

    frame = live.timeline(_wh)
    return frame, live.held_sentences(frame)


def how_forecasts_held(wh) -> None:
    """The 'How the forecasts held' section: a plain sentence per stored run for the newest
    week it has actuals for, then WAPE / bias / coverage week by week (by category, state
    or horizon step). Read through the page's handle, so a store user's is PIN-scoped."""
    frame, sentences = _live_timeline(wh, wh.data_version("sales", "forecasts"))
    if frame.empty:
        st.info(LIVE_EMPTY, icon=":material/schedule:")
        return
    for text in sentences[:6]:
        st.markdown(f"- {text}")
    left, right = st.columns(2)
    by = left.segmented_control("Break down by", list(LIVE_BREAKDOWNS), default="all",
                                format_func=LIVE_BREAKDOWNS.get, key="ac_live_by") or "all"
    metric = right.segmented_control("Show", list(LIVE_METRICS), default="wape",
                                     format_func=LIVE_METRICS.get, key="ac_live_metric",
                                     help="Typical error = units missed / units sold; bias "
                                          "above 0 = forecasts too high; band = share of "
                                          "actual sales inside the forecast's 95% range "
                                          "(aim: 95%).") or "wape"
    st.plotly_chart(live_chart(frame, by, metric), width="stretch", key="ac_live_chart")
    st.dataframe(live_table(frame, by), hide_index=True, width="stretch",
                 column_config={v: st.column_config.NumberColumn(v, help=COLUMNS[k][1],
                                                                 format="%.1f")
                                for k, v in LIVE_METRICS.items()})


def live_chart(frame: pd.DataFrame, by: str, metric: str) -> go.Figure:
    """Overall: one line per run across the weeks judged. Category / state: the newest
    run's groups week by week. Horizon step: the newest run's error by periods ahead."""
    fig = go.Figure()
    newest = frame.sort_values("made_on")["run_id"].iloc[-1]
    if by == "all":
        part = frame[frame["dimension"] == "all"]
        for run_id, rows in part.groupby("run_id", sort=False):
            rows = rows.sort_values("week")
            fig.add_scatter(x=rows["week"], y=rows[metric], mode="lines+markers",
                            name=f"Forecast with data to {dd_mmm(rows['cutoff'].iloc[0])}")
    elif by == "step":
        rows = frame[(frame["dimension"] == "step") & (frame["run_id"] == newest)].copy()
        rows["k"] = rows["grp"].astype(int)
        rows = rows.sort_values("k")
        fig.add_bar(x=rows["k"], y=rows[metric], name="Newest run")
        fig.update_xaxes(title_text="Periods ahead")
    else:
        part = frame[(frame["dimension"] == by) & (frame["run_id"] == newest)]
        for grp, rows in part.groupby("grp"):
            rows = rows.sort_values("week")
            fig.add_scatter(x=rows["week"], y=rows[metric], mode="lines+markers", name=grp)
    if by != "step":
        fig.update_xaxes(title_text="Week of", tickformat="%d-%b")
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10),
                      yaxis_title=LIVE_METRICS[metric], legend_title_text="")
    return fig


def live_table(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """The rows behind the chart in business words (newest run first)."""
    rows = frame[frame["dimension"] == by]
    rows = rows.assign(_k=pd.to_numeric(rows["grp"], errors="coerce") if by == "step"
                       else rows["grp"]).sort_values(["made_on", "week", "_k"],
                                                     ascending=[False, True, True])
    out = pd.DataFrame({"Forecast with data to": rows["cutoff"].map(dd_mmm)})
    if by == "step":
        out["Periods ahead"] = rows["grp"].astype(int).values
    else:
        out["Week of"] = rows["week"].map(dd_mmm).values
        out["Weeks after the forecast"] = rows["weeks_before"].astype("Int64").values
    if by in ("category", "state"):
        out[LIVE_BREAKDOWNS[by]] = rows["grp"].values
    out["Series"] = rows["n_series"].astype(int).values
    out["Units sold"] = rows["actual_sum"].map(lambda x: indian_grouping(x)).values
    for k, v in LIVE_METRICS.items():
        out[v] = rows[k].round(1).values
    return out
