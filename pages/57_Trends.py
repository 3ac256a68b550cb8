"""Trends: what is really emerging or declining (by category, brand, SKU, PIN code or city),
what changed in a category between two periods, the store clusters, the weekly digest.

Recipe: sidebar filters (+ store cluster) -> cached trend table / what-changed / clusters
(keyed on the data version, which includes a store user's PIN scope) -> components.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from components import trends_views as tv
from components.errors import attempt
from components.filters import (cached_filter_options, cluster_filter, current_pin_scope,
                                sidebar_filters)
from components.session import get_warehouse

st.set_page_config(page_title="MicroPulse · Trends", page_icon=":material/trending_up:",
                   layout="wide")
_safe = partial(attempt, expected=tv.EXPECTED, failed="The trends could not be computed")

wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Trends")
st.caption("What is really growing or shrinking (not noise), what changed and why, and "
           "which PIN codes behave alike.")
version = wh.data_version("sales")
if not tv.cached_has_sales(wh, version, current_pin_scope()):
    st.info("No sales in the warehouse yet: load the demo on the Overview page or upload "
            "sales on the Data page.", icon=":material/trending_up:")
    st.stop()
f = sidebar_filters(wh)
clusters, cluster_err = _safe(tv.cached_clusters, wh, tv.clusters_version(wh))
f = cluster_filter(f, clusters)

st.subheader("Emerging and declining")
cfg = tv.trend_controls()
res, err = _safe(tv.cached_trends, wh, version, f, cfg)
if err:
    st.info(err, icon=":material/info:")
else:
    tv.render_movers(res)

st.subheader("What changed")
opts = cached_filter_options(wh, version, f.pin_scope)
category, weeks, place = tv.what_changed_controls(opts["categories"])
changed, err = _safe(tv.cached_what_changed, wh, version, f, category, weeks, place)
if err:
    st.info(err, icon=":material/info:")
else:
    tv.render_what_changed(changed)

st.subheader("Store clusters")
if cluster_err:
    st.info(cluster_err, icon=":material/info:")
else:
    tv.render_clusters(clusters, scoped=current_pin_scope() is not None)

st.subheader("Weekly digest")
st.caption("Emerging and declining items by category, brand, SKU and PIN code, what "
           "changed in the last 4 weeks, and the store clusters, for your selection.")
tv.render_digest_downloads(wh, version, f, cfg.weeks)
