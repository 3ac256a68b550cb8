"""Widgets and renderers for the Map page: metric/level pickers, the choropleth with its
legend and click-to-select, and the selected PIN's top SKUs and trend."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from components.charts import trend_figure
from components.maps import choropleth_deck, legend_html, legend_spec
from components.tables import render_top_skus

LEVEL_LABELS = {"pin": "PIN code", "district": "District", "state": "State"}
PIN_KEY = "map_pin"
_CLICK_KEY = "_map_last_click"


def map_controls(metrics: dict) -> tuple[str, str]:
    """Metric and level pickers side by side; returns (metric key, level)."""
    left, right = st.columns([3, 2])
    metric = left.selectbox("Show", list(metrics), format_func=lambda k: metrics[k].label,
                            key="map_metric", help="What colours the map.")
    level = right.radio("Level", list(LEVEL_LABELS), format_func=LEVEL_LABELS.get,
                        horizontal=True, key="map_level",
                        help="Add PIN codes up to their district or state.")
    return metric, level


def _clicked_pin(event) -> str | None:
    try:
        objects = event.selection.get("objects", {}) if event is not None else {}
    except AttributeError:
        return None
    for layer in ("pins", "areas"):
        for obj in objects.get(layer) or []:
            if isinstance(obj, dict) and obj.get("pin_code"):
                return str(obj["pin_code"])
    return None


def render_choropleth(gdf, metric, context, note: str, level: str) -> None:
    """The map, its legend and a caption; a click on a PIN selects it in the picker."""
    deck = choropleth_deck(gdf, "value", metric.label, metric.fmt, metric.diverging,
                           context=context, selected=st.session_state.get(PIN_KEY),
                           label_col="city" if level == "pin" else "name")
    if deck is None:
        st.info("Nothing to map for these filters: no PIN code with data has map "
                "coordinates. Widen the filters or the date range.")
        return
    event = st.pydeck_chart(deck, height=560, on_select="rerun",
                            selection_mode="single-object", key="map_deck",
                            alt=f"Map of {metric.label.lower()} by {LEVEL_LABELS[level]}")
    clicked = _clicked_pin(event)
    if clicked and clicked != st.session_state.get(_CLICK_KEY):
        st.session_state[_CLICK_KEY] = clicked
        st.session_state[PIN_KEY] = clicked
        st.rerun()
    st.markdown(legend_html(legend_spec(gdf["value"], metric.label, metric.fmt,
                                        metric.diverging)), unsafe_allow_html=True)
    hint = "click a PIN code to see it below" if level == "pin" else "hover for figures"
    caption = f"{metric.help} {note} {len(gdf)} areas shown; {hint}."
    if gdf.attrs.get("unmapped"):
        caption += f" {gdf.attrs['unmapped']} without map coordinates are not drawn."
    st.caption(caption)


def pin_picker(options: pd.DataFrame) -> str | None:
    """Select a PIN (options: pin_code, label); the map's click pre-selects it."""
    if options.empty:
        return None
    codes = options["pin_code"].tolist()
    if st.session_state.get(PIN_KEY) not in codes:
        st.session_state[PIN_KEY] = codes[0]
    labels = dict(zip(options["pin_code"], options["label"]))
    return st.selectbox("PIN code", codes, format_func=lambda p: labels.get(p, p),
                        key=PIN_KEY, help="Or click a PIN code on the map (PIN level).")


def render_pin_detail(label: str, top: pd.DataFrame, trend: pd.DataFrame, freq: str) -> None:
    """Top SKUs and the sales trend of one PIN code."""
    left, right = st.columns([2, 3], gap="large")
    with left:
        st.markdown(f"**Top SKUs in {label}**")
        if top.empty:
            st.caption("No sales for these filters.")
        else:
            render_top_skus(top)
    with right:
        if trend.empty:
            st.caption("No sales trend for these filters.")
        else:
            st.plotly_chart(trend_figure(trend, "revenue", freq), width="stretch",
                            key="map_pin_trend")
