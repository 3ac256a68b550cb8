"""The Trends page's cached accessors, widgets and renderers: emerging / declining items,
the "what changed" bridge with its SKU and place tables, store clusters and the digest
downloads. Results are cached on the sales (and clusters) data version of the handle,
which includes a store user's PIN scope, so nothing is shared across scopes."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from components.charts import axis_scale
from components.format import inr, pct
from components.tables import download_buttons, show_table
from engine.intel import IntelError
from engine.intel import clusters as C
from engine.intel import trends as T
from engine.warehouse.sales_summary import has_sales
from engine.warehouse.sql import Filters

LEVEL_LABELS = {"category": "Category", "brand": "Brand", "sku": "SKU",
                "pin_code": "PIN code", "city": "City"}
EXPECTED = (IntelError,)     # errors whose sentence the page shows as it is
_TREND_KINDS = {"growth_yoy": "percent", "slope_pct_week": "percent", "revenue": "money",
                "revenue_ly": "money", "q_value": "other"}


# ---- cached accessors -------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=32)
def cached_has_sales(_wh, version: str, pin_scope) -> bool:
    return has_sales(_wh, pin_scope)


@st.cache_data(show_spinner="Testing the trends...", max_entries=32)
def cached_trends(_wh, version: str, f: Filters, cfg: T.TrendConfig) -> T.TrendResult:
    return T.trends(_wh, f, cfg)


@st.cache_data(show_spinner="Explaining the change...", max_entries=32)
def cached_what_changed(_wh, version: str, f: Filters, category, weeks: int,
                        place: str) -> T.WhatChanged:
    return T.what_changed(_wh, f, category, weeks=weeks, place=place)


@st.cache_data(show_spinner="Grouping the stores...", max_entries=8)
def cached_clusters(_wh, version: str) -> pd.DataFrame:
    return C.store_clusters(_wh)


@st.cache_data(show_spinner="Preparing the digest...", max_entries=8)
def cached_digest(_wh, version: str, f: Filters, weeks: int, fmt: str) -> bytes:
    from engine.intel.digest import build_digest, to_excel, to_html

    d = build_digest(_wh, f, weeks=weeks)
    return to_html(d).encode("utf-8") if fmt == "html" else to_excel(d)


def clusters_version(wh) -> str:
    return wh.data_version("sales", "clusters")


# ---- widgets ----------------------------------------------------------------------------------
def trend_controls() -> T.TrendConfig:
    left, mid, right = st.columns([2, 2, 2])
    level = left.selectbox("Look at", list(LEVEL_LABELS), format_func=LEVEL_LABELS.get,
                           key="trends_level", help="Which items to test for a trend.")
    weeks = mid.slider("Weeks tested", 8, 52, 26, step=1, key="trends_weeks",
                       help="The recent window whose weekly revenue is tested for a trend "
                            "(Mann-Kendall test, robust to festival spikes).")
    alpha = right.select_slider("Allowed share of false alarms", [0.01, 0.05, 0.10], 0.05,
                                format_func=lambda a: f"{a:.0%}", key="trends_alpha",
                                help="False-discovery rate: among items called emerging or "
                                     "declining, at most this share is expected to be noise "
                                     "(Benjamini-Hochberg across all items tested).")
    return T.TrendConfig(level=level, weeks=weeks, alpha=alpha)


# ---- renderers --------------------------------------------------------------------------------
def _movers_table(t: pd.DataFrame) -> pd.DataFrame:
    return t[["label", "revenue", "growth_yoy", "slope_pct_week", "q_value", "reason"]].rename(
        columns={"label": "item"})


def render_movers(res: T.TrendResult) -> None:
    st.caption(res.summary() + (
        f" Last year: {res.prior_start:%d-%b-%Y} to {res.prior_end:%d-%b-%Y}."
        if res.prior_start else " No full year of history: growth vs last year is not shown."))
    left, right = st.columns(2, gap="large")
    for col, status, icon in ((left, "emerging", ":material/trending_up:"),
                              (right, "declining", ":material/trending_down:")):
        with col:
            st.markdown(f"**{status.capitalize()}**")
            t = res.by_status(status)
            if t.empty:
                st.caption(f"Nothing {status} beyond noise in this window.")
                continue
            for r in t.head(5).itertuples():
                st.markdown(f"{icon} **{r.label}**: {pct(r.slope_pct_week)} a week, "
                            f"{'—' if pd.isna(r.growth_yoy) else pct(r.growth_yoy)} vs last "
                            "year", help=r.reason)
    with st.expander("All items with their test results"):
        show_table(_movers_table(res.table), kinds=_TREND_KINDS)
        download_buttons(res.table, f"trends_{res.config.level}", key="trends_table")


def what_changed_controls(categories: list[str]) -> tuple[str | None, int, str]:
    left, mid, right = st.columns([3, 2, 2])
    cat = left.selectbox("Category", ["All categories", *categories], key="wc_category")
    weeks = mid.selectbox("Compare", [4, 8, 13], format_func=lambda w: f"last {w} weeks vs "
                          f"the {w} before", key="wc_weeks")
    place = right.radio("Explain places by", ["city", "pin_code"], horizontal=True,
                        format_func={"city": "City", "pin_code": "PIN code"}.get,
                        key="wc_place")
    return (None if cat == "All categories" else cat), weeks, place


_MONEY = {c: "money" for c in T.PART_COLUMNS}   # every part of the change is rupees


def render_what_changed(w: T.WhatChanged) -> None:
    import plotly.graph_objects as go

    st.markdown(w.headline())
    b = w.bridge
    scale, y_title = axis_scale(float(b["amount"].abs().max()), "revenue")
    fig = go.Figure(go.Waterfall(
        x=b["label"], y=b["amount"] / scale,
        measure=["absolute", *["relative"] * (len(b) - 2), "total"],
        text=[inr(v) for v in b["amount"]], textposition="outside",
        hovertext=b["help"], connector={"line": {"color": "#94A3B8"}}))
    fig.update_layout(height=360, margin={"t": 20, "b": 10, "l": 10, "r": 10},
                      yaxis_title=y_title, showlegend=False)
    st.plotly_chart(fig, width="stretch", key="wc_bridge")
    st.caption("The parts add up exactly to the change. " + " ".join(
        f"**{r.label}**: {r.help}" for r in b.iloc[1:-1].itertuples()))
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**By SKU** (largest changes first)")
        show_table(w.by_sku.drop(columns="sku_id").head(25), kinds=_MONEY)
    with right:
        st.markdown("**By place**")
        show_table(w.by_place.head(25), kinds=_MONEY)
    download_buttons(w.by_sku, "what_changed_by_sku", key="wc_sku")


def render_clusters(rows: pd.DataFrame, scoped: bool) -> None:
    summary = C.cluster_summary(rows)
    if summary.empty:
        st.caption("No store clusters for your PIN codes.")
        return
    sel = C.selection_text(rows)
    k, sil = int(rows["k"].iat[0]), float(rows["silhouette"].iat[0])
    st.caption(f"{k} clusters chosen by the best silhouette ({sil:.2f}) over 2 to 8 "
               "clusters with at least 5% of PIN codes (3 minimum) in each; only features "
               "that reproduce across two halves of the history drive the grouping.",
               help=sel)
    for r in summary.itertuples():
        mine = f" · {r.pins_here} of yours" if scoped else ""
        st.markdown(f"**Cluster {r.cluster_name}** ({r.n_pins} PIN codes{mine})  \n"
                    f"{r.description}")
    show_table(rows[["pin_code", "cluster", "cluster_name"]])


def render_digest_downloads(wh, version: str, f: Filters, weeks: int) -> None:
    row = st.container(horizontal=True)
    row.download_button("Weekly digest (HTML)",
                        lambda: cached_digest(wh, version, f, weeks, "html"),
                        file_name="trends_digest.html", mime="text/html",
                        key="digest_html", on_click="ignore", icon=":material/download:")
    row.download_button("Weekly digest (Excel)",
                        lambda: cached_digest(wh, version, f, weeks, "xlsx"),
                        file_name="trends_digest.xlsx",
                        mime="application/vnd.openxmlformats-officedocument.spreadsheetml"
                             ".sheet", key="digest_xlsx", on_click="ignore",
                        icon=":material/download:")

