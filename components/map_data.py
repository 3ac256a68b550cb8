"""Cached reads of the Map page: whether there are sales to map, a metric's per-PIN inputs,
the rolled-up map frame, the PIN picker's options and one PIN's top SKUs and trend, each
keyed on the data version of the sales, stock and forecasts they read and on the filters."""
from __future__ import annotations

import streamlit as st

from components.charts import trend_freq
from engine.geo_polygons import area_polygons
from engine.map_metrics import MetricUnavailable, map_frame, pin_inputs, pin_options
from engine.warehouse import sql, sales_summary as q


@st.cache_data(show_spinner=False, max_entries=32)
def has_sales(_wh, version: str, pin_scope) -> bool:
    return q.has_sales(_wh, pin_scope)


@st.cache_data(show_spinner="Computing the metric...", max_entries=64)
def inputs(_wh, version: str, f: sql.Filters, metric: str):
    """(the metric's MetricInputs, None), or (None, why the metric cannot be drawn)."""
    try:
        return pin_inputs(_wh, f, metric), None
    except MetricUnavailable as exc:
        return None, str(exc)


@st.cache_data(show_spinner="Drawing the map (PIN shapes are built once, ~30 s)...",
               max_entries=64)
def map_rows(_wh, version: str, f: sql.Filters, metric: str, level: str):
    found, _ = inputs(_wh, version, f, metric)
    return map_frame(_wh, found, level)


@st.cache_resource(show_spinner=False)
def context():
    """State outlines, once per process: the same frame on every run, so the map's outline
    layer is built once (components.maps.outline_layer)."""
    return area_polygons("state")


@st.cache_data(show_spinner=False, max_entries=64)
def options(_wh, version: str, f: sql.Filters, metric: str):
    found, _ = inputs(_wh, version, f, metric)
    return pin_options(found)


@st.cache_data(show_spinner=False, max_entries=128)
def detail(_wh, version: str, f: sql.Filters):
    """One PIN's top 5 SKUs, its sales trend and the trend's period length."""
    start, end = q.resolve_period(_wh, f)
    freq = trend_freq(start, end)
    return q.top_skus(_wh, f, 5), q.sales_trend(_wh, f, freq), freq
