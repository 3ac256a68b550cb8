"""Accuracy page pieces: run picker, league table, metrics by dimension, the distribution
of per-series errors and the worst series with links to the Forecast page."""
from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.format import dd_mmm, indian_grouping

COLUMNS = {"wape": "WAPE %", "mape": "MAPE % (non-zero periods)", "bias_pct": "Bias %",
           "rmse": "RMSE (units)", "mase": "MASE", "rmsse": "RMSSE",
           "coverage80": "80% coverage %", "coverage95": "95% coverage %",
           "fva_pct": "Value added vs seasonal naive %"}
DIMENSIONS = {"category": "Category", "state": "State", "city": "City",
              "step": "Horizon step (periods ahead)"}
CONVENTIONS = (
    "WAPE = total absolute error / total actual units. MAPE only counts periods with sales "
    "(a zero would divide by zero). Bias > 0 means over-forecasting. MASE < 1 beats a "
    "seasonal-naive forecast made in-sample. RMSSE (the M5 competition's measure) = each "
    "series' root mean squared error over its own typical period-to-period change, averaged "
    "over series: below 1 beats 'same as last period'. Coverage = share of actuals inside "
    "the interval (aim: 80% and 95%, at every step ahead). Value added = how much less "
    "absolute error than the seasonal-naive forecast on the same periods.")


def run_picker(runs: pd.DataFrame) -> pd.Series:
    labels = [f"{r.run_id} · {r.kind} of {dd_mmm(r.created_at, True)} · {r.folds} fold(s) · "
              f"horizon {r.horizon} · {r.n_series} series" for r in runs.itertuples()]
    pick = st.selectbox("Backtest", labels, key="ac_run")
    return runs.iloc[labels.index(pick)]


def model_picker(models: list[str]) -> str:
    default = models.index("routed") if "routed" in models else 0
    return st.selectbox("Model for the breakdowns", models, index=default, key="ac_model",
                        help="'routed' is what the forecast uses: each category's best model "
                             "or mix of models, per series where one clearly does better.")


def _metric_frame(scores: pd.DataFrame, first: str, label: str) -> pd.DataFrame:
    out = pd.DataFrame({label: scores[first].astype(str), "Points": scores["n"]})
    for col, name in COLUMNS.items():
        out[name] = scores[col].round(2 if col in ("mase", "rmsse") else 1)
    return out


def league_table(scores: pd.DataFrame) -> None:
    """Models ranked by WAPE, best first."""
    ranked = scores.sort_values("wape", na_position="last").reset_index(drop=True)
    shown = _metric_frame(ranked, "model", "Model")
    shown.insert(0, "Rank", range(1, len(shown) + 1))
    st.dataframe(shown, hide_index=True, width="stretch")
    best = ranked.iloc[0]
    naive = ranked[ranked["model"] == "seasonal_naive"]
    if len(naive) and best["model"] != "seasonal_naive":
        st.caption(f"Best: **{best['model']}**, WAPE {best['wape']:.1f}% vs "
                   f"{naive['wape'].iloc[0]:.1f}% for seasonal naive.")
    st.caption(CONVENTIONS)


def _ordered(scores: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Steps in order, other dimensions by name."""
    return scores.sort_values(dim)


def by_dimension(scores: pd.DataFrame, dim: str, model: str) -> None:
    """Metrics of `model` by `dim`, and its WAPE next to seasonal naive's."""
    scores = _ordered(scores, dim)
    mine = scores[scores["model"] == model]
    if mine.empty:
        st.caption("No backtest rows for this model here.")
        return
    st.dataframe(_metric_frame(mine, dim, DIMENSIONS[dim]), hide_index=True, width="stretch")
    wide = scores.pivot_table(index=dim, columns="model", values="wape", aggfunc="first",
                              sort=False)
    fig = go.Figure()
    for m in [c for c in (model, "seasonal_naive") if c in wide]:
        fig.add_trace(go.Bar(x=wide.index.astype(str), y=wide[m], name=m,
                             hovertemplate="%{x}: WAPE %{y:.1f}%<extra>" + m + "</extra>"))
    fig.update_layout(barmode="group", height=320, title={"text": f"WAPE by "
                      f"{DIMENSIONS[dim].lower()}", "x": 0},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text="WAPE %", rangemode="tozero")
    st.plotly_chart(fig, width="stretch", key=f"ac_dim_{dim}")
    if dim == "step":
        st.plotly_chart(coverage_by_step(mine, model), width="stretch", key="ac_cov_step")


def coverage_by_step(scores: pd.DataFrame, model: str) -> go.Figure:
    """80% and 95% coverage of `model` per horizon step against their targets: a band
    that holds on average but not at the far steps is not a band to plan stock on."""
    fig = go.Figure()
    for col, level, colour in (("coverage95", 95, "#0F766E"), ("coverage80", 80, "#C2410C")):
        fig.add_trace(go.Scatter(x=scores["step"], y=scores[col], mode="lines+markers",
                                 name=f"{level}% band", line={"color": colour},
                                 hovertemplate=f"step %{{x}}: %{{y:.1f}}% inside the {level}% "
                                               "band<extra></extra>"))
        fig.add_hline(y=level, line_dash="dot", line_color=colour, opacity=0.6)
    fig.update_layout(height=320, title={"text": f"Interval coverage by step ahead, {model}",
                                         "x": 0},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text="% of actuals inside", range=[50, 100])
    fig.update_xaxes(title_text="periods ahead", dtick=1)
    return fig


def error_histogram(per_series: pd.DataFrame, model: str) -> go.Figure:
    s = per_series[(per_series["model"] == model) & per_series["wape"].notna()]
    fig = go.Figure(go.Histogram(x=s["wape"].clip(upper=200), nbinsx=40,
                                 marker_color="#0F766E",
                                 hovertemplate="WAPE %{x}%: %{y} series<extra></extra>"))
    median = s["wape"].median() if len(s) else float("nan")
    if len(s):
        fig.add_vline(x=median, line_dash="dash", line_color="#C2410C",
                      annotation_text=f"median {median:.0f}%")
    fig.update_layout(title={"text": f"Per-series WAPE, {model} ({len(s)} series; values "
                             "above 200% shown at 200%)", "x": 0}, height=320,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, bargap=0.05)
    fig.update_xaxes(title_text="WAPE % per series")
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
        "WAPE %": worst["wape"].round(1), "Bias %": worst["bias_pct"].round(1)})
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "Open": st.column_config.LinkColumn("Open", display_text="Forecast →",
                                            help="Open this series on the Forecast page")})
