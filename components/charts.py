"""Plotly figure builders: ₹ axes in lakh/crore, DD-MMM dates, plain-word hover text.

Importing this module (the `components` package does) also layers the MicroPulse chart
template over Streamlit's, so every figure any page builds gets it: the title sits in its
own band below the strip where Plotly's toolbar (the modebar: zoom, download, full screen)
appears, and the top margin grows to fit the title, so the toolbar never covers it.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import streamlit  # noqa: F401  (sets Streamlit's plotly template first; ours layers on it)

from components.format import dd_mmm, inr_compact, pct, units

CHART_TEMPLATE = "micropulse"
DEFAULT_TEMPLATE = "micropulse_default"   # Streamlit's template with ours on top
MODEBAR_BAND_PX = 30    # the toolbar is ~24 px tall at the top right of every chart


def register_chart_template() -> None:
    """Register the MicroPulse template and make it part of plotly's default (idempotent):
    title anchored to the chart's container, left aligned, pushed MODEBAR_BAND_PX below the
    top edge, with automargin so the plot area starts below it whatever margin a figure
    sets; the toolbar drawn on a translucent background."""
    pio.templates[CHART_TEMPLATE] = go.layout.Template(layout=go.Layout(
        title={"x": 0, "xanchor": "left", "xref": "container", "y": 1, "yanchor": "top",
               "yref": "container", "automargin": True,
               "pad": {"t": MODEBAR_BAND_PX, "l": 12, "b": 6}},
        modebar={"orientation": "h", "bgcolor": "rgba(255,255,255,0.7)"},
        hoverlabel={"align": "left"},
    ))
    base = str(pio.templates.default or "")
    if base == DEFAULT_TEMPLATE:
        return
    parts = [p for p in base.split("+") if p and p != CHART_TEMPLATE] + [CHART_TEMPLATE]
    # Merged once, under one name: a default named "streamlit+micropulse" is merged again
    # for every figure built (~40 ms each, several per page view).
    pio.templates[DEFAULT_TEMPLATE] = pio.templates.merge_templates(*parts)
    pio.templates.default = DEFAULT_TEMPLATE


register_chart_template()

THIS_YEAR = "#0F766E"   # deep teal, the theme's primary colour
LAST_YEAR = "#94A3B8"   # slate grey
MEASURES = {"revenue": "Revenue", "units": "Units"}
_FREQ_WORD = {"D": "Daily", "W": "Weekly", "M": "Monthly"}


def axis_scale(max_value: float, measure: str) -> tuple[float, str]:
    """Divisor and axis label so ticks read in lakh/crore: (1e5, 'Revenue (₹ lakh)')."""
    word = MEASURES[measure]
    v = abs(max_value or 0)
    if measure == "revenue":
        if v >= 1e7:
            return 1e7, "Revenue (₹ crore)"
        if v >= 1e5:
            return 1e5, "Revenue (₹ lakh)"
        return 1.0, "Revenue (₹)"
    if v >= 1e7:
        return 1e7, f"{word} (crore)"
    if v >= 1e5:
        return 1e5, f"{word} (lakh)"
    return 1.0, word


def _fmt(value: float, measure: str) -> str:
    return inr_compact(value) if measure == "revenue" else units(value)


def _layout(fig: go.Figure, title: str, x_title: str | None, y_title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        margin={"l": 10, "r": 10, "t": 70, "b": 10}, height=380,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right",
                "x": 1},
        hoverlabel={"align": "left"},
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, rangemode="tozero", tickformat=",.1~f")
    return fig


def _period_label(day, days: int, freq: str) -> str:
    """Hover text for a bucket: '05-Nov-2025', 'week from 05-Nov-2025 (part week: 3 days)'."""
    label = dd_mmm(day, with_year=True)
    if freq == "D":
        return label
    if freq == "W":
        return f"week from {label}" + (f" (part week: {days} days)" if days < 7 else "")
    return f"month from {label} ({days} days)"


def trend_figure(trend: pd.DataFrame, measure: str = "revenue", freq: str = "W") -> go.Figure:
    """This period vs the same days last year, one line each. A part week is drawn as a
    hollow marker and says so on hover, so a short first week does not read as a slump."""
    ly_col = f"{measure}_ly"
    has_ly = bool(trend[ly_col].notna().any())
    peak = max(trend[measure].max(), trend[ly_col].fillna(0).max()) if len(trend) else 0
    div, y_title = axis_scale(peak, measure)
    labels = [_period_label(d, n, freq) for d, n in zip(trend["date"], trend["days"])]
    fig = go.Figure()
    if has_ly:
        fig.add_trace(go.Scatter(
            x=trend["date"], y=trend[ly_col] / div, name="Same days last year",
            mode="lines", line={"color": LAST_YEAR, "width": 2, "dash": "dot"},
            customdata=list(zip(labels, [_fmt(v, measure) for v in trend[ly_col]])),
            hovertemplate="Last year, %{customdata[0]}: %{customdata[1]}<extra></extra>"))
    growth = [pct(c / p - 1) if p and p > 0 else "—" for c, p in
              zip(trend[measure], trend[ly_col].fillna(0))]
    partial = [freq == "W" and n < 7 for n in trend["days"]]
    fig.add_trace(go.Scatter(
        x=trend["date"], y=trend[measure] / div, name="This period", mode="lines+markers",
        line={"color": THIS_YEAR, "width": 3},
        marker={"size": [9 if p else 6 for p in partial],
                "symbol": ["circle-open" if p else "circle" for p in partial],
                "color": THIS_YEAR},
        customdata=list(zip(labels, [_fmt(v, measure) for v in trend[measure]], growth)),
        hovertemplate="%{customdata[0]}: %{customdata[1]}" +
                      ("<br>vs last year: %{customdata[2]}" if has_ly else "") +
                      "<extra></extra>"))
    word = f"{_FREQ_WORD.get(freq, '')} {MEASURES[measure].lower()}".strip().capitalize()
    title = f"{word}: this period vs last year" if has_ly else word
    _layout(fig, title, None, y_title)
    fig.update_layout(showlegend=has_ly)
    fig.update_xaxes(tickformat="%d-%b", hoverformat="%d-%b-%Y")
    return fig


def category_figure(mix: pd.DataFrame, measure: str = "revenue") -> go.Figure:
    """Horizontal bars, largest category on top, labelled in ₹ lakh/crore or units."""
    mix = mix.sort_values(measure, ascending=True)
    div, x_title = axis_scale(mix[measure].max() if len(mix) else 0, measure)
    text = [_fmt(v, measure) for v in mix[measure]]
    growth = [pct(g) if pd.notna(g) else "—" for g in mix["growth"]]
    share = [pct(s, signed=False) for s in mix["share"]]
    fig = go.Figure(go.Bar(
        x=mix[measure] / div, y=mix["category"], orientation="h", marker_color=THIS_YEAR,
        text=text, textposition="outside", cliponaxis=False,
        customdata=list(zip(text, share, growth)),
        hovertemplate="%{y}: %{customdata[0]}<br>Share of revenue: %{customdata[1]}<br>"
                      "vs last year: %{customdata[2]}<extra></extra>"))
    _layout(fig, f"{MEASURES[measure]} by category", x_title, "")
    fig.update_yaxes(title_text=None, rangemode=None, tickformat=None)
    fig.update_xaxes(tickformat=",.1~f", rangemode="tozero")
    fig.update_layout(height=max(260, 34 * len(mix) + 110), margin={"r": 80})
    return fig


def trend_freq(start, end) -> str:
    """Daily points for periods up to five weeks, weekly beyond."""
    if start is None or end is None:
        return "W"
    return "D" if (end - start).days < 35 else "W"
