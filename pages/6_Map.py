"""Map: sales, growth, forecast, stock-out risk and festival intensity on real PIN-code
geography, at PIN, district or state level; pick a PIN to see its top SKUs and trend.

Recipe: sidebar filters + metric/level -> cached per-PIN inputs (keyed on the data
version) -> roll-up and polygons -> choropleth + legend -> selected PIN's detail.
Map shapes come from India Post post-office points (built once, cached in data/cache/).
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from components.errors import attempt
from components import map_data as md
from components import map_views as mv
from components.filters import cluster_filter, current_pin_scope, sidebar_filters
from components.scenario_select import scenario_for_page
from components.session import get_warehouse
from components.trends_views import cached_clusters, clusters_version
from engine.map_metrics import METRICS, narrow_to_pin

st.set_page_config(page_title="MicroPulse · Map", page_icon=":material/map:", layout="wide")


_safe = partial(attempt, failed="The map could not be drawn")


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Map")
st.caption("Where demand is, where it is growing and where stock will run short — on India "
           "Post PIN-code areas.")
# cache keys: only the data domains this page reads (engine/warehouse/db.py DOMAINS)
version = wh.data_version("sales", "inventory", "forecasts")
has, err = _safe(md.has_sales, wh, version, current_pin_scope())
if err or not has:
    st.info(err or "No sales in the warehouse yet: load the demo on the Overview page or "
            "upload sales on the Data page.", icon=":material/map:")
    st.stop()
f = sidebar_filters(wh)
clusters, _ = _safe(cached_clusters, wh, clusters_version(wh))   # no clusters: no picker
f = cluster_filter(f, clusters)
scenario_for_page(wh, "Map")  # sidebar "Scenario": its numbers here, labelled
metric_key, level = mv.map_controls(METRICS)
metric = METRICS[metric_key]
res, err = _safe(md.inputs, wh, version, f, metric_key)
inputs, unavailable = res if res else (None, None)
if err or unavailable:
    st.info(err or unavailable, icon=":material/info:")
    st.stop()
if inputs.frame.empty:
    st.warning("No data matches these filters. Widen the date range or clear a filter.")
    st.stop()

gdf, err = _safe(md.map_rows, wh, version, f, metric_key, level)
context, ctx_err = _safe(md.context)
if err:
    st.error(err, icon=":material/error:")
else:
    mv.render_choropleth(gdf, metric, context, inputs.note, level)

st.subheader("One PIN code")
options, err = _safe(md.options, wh, version, f, metric_key)
pin = mv.pin_picker(options) if options is not None else None
if err or pin is None:
    st.caption(err or "No PIN code to show.")
    st.stop()
detail, err = _safe(md.detail, wh, version, narrow_to_pin(f, pin))
if err:
    st.error(err, icon=":material/error:")
else:
    top, trend, freq = detail
    label = options.set_index("pin_code").loc[pin, "label"]
    mv.render_pin_detail(label, top, trend, freq)
