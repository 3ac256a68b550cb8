"""MicroPulse home: sales overview for the filtered states, cities, categories and dates.

Recipe: sidebar filters -> cached warehouse queries (keyed on the data version) ->
KPI tiles, the most severe open alerts, trend, category mix, PIN-code map, top SKUs. With an empty warehouse the page
explains itself and offers to load the demo dataset.

MICROPULSE_DEMO_SCALE sets the size of that demo: unset = the default demo, "small" =
DemoConfig.small() (tests), a number = DemoConfig(scale=N).
"""
from __future__ import annotations

import os

import streamlit as st

from components import overview_data as od
from components.alerts_data import open_alerts
from components.alerts_views import top_alerts_panel
from components.auth import allowed
from components.charts import MEASURES, category_figure, trend_figure, trend_freq
from components.errors import show_error
from components.filters import current_pin_scope, sidebar_filters
from components.kpis import render_kpis
from components.maps import render_pin_map, state_outlines
from components.nav import page_link_or_text
from components.session import get_warehouse
from components.tables import render_top_skus
from engine.errors import MicroPulseError

st.set_page_config(page_title="MicroPulse · Overview", page_icon=":material/dashboard:",
                   layout="wide")


def alerts_panel(alerts) -> None:
    """Top open alerts, or one line that links to the Alerts page when there are none."""
    if len(alerts):
        top_alerts_panel(alerts, n=5)
    else:
        page_link_or_text("Alerts", "No open alerts. Check the alert rules on the Alerts page.")


def demo_config():
    from engine.demo import DemoConfig

    raw = os.environ.get("MICROPULSE_DEMO_SCALE", "").strip().lower()
    if raw == "small":
        return DemoConfig.small()
    return DemoConfig(scale=float(raw)) if raw else DemoConfig()


def empty_state(wh) -> None:
    st.info(
        "**The warehouse has no sales yet.** MicroPulse needs daily sales by SKU and PIN "
        "code to show revenue, trends and maps. Load the demo dataset (a seeded, "
        "realistic Indian retail business: 12 cities, 2 years of sales, weather, "
        "festivals and mandi prices) to explore the app, or upload your own sales files.",
        icon=":material/database:")
    if st.button("Load demo data", type="primary", key="load_demo",
                 disabled=not allowed("upload")):
        try:
            with st.spinner("Generating and loading the demo dataset (up to a minute)..."):
                from engine.demo import load_demo

                load_demo(wh, demo_config())
        except MicroPulseError as exc:      # a full disk, a busy warehouse: its evidence too
            show_error(exc)
            return
        except Exception as exc:  # shown to the user in plain words, never as a traceback
            st.error(f"Could not load the demo data: {exc}")
            return
        st.rerun()


wh = get_warehouse()
st.title("Sales overview")
try:
    # keyed on what the overview reads (db.DOMAINS): other writes keep it cached
    version = wh.data_version("sales", "inventory", "forecasts")
    if not od.has_sales(wh, version, current_pin_scope()):
        empty_state(wh)
        st.stop()
    f = sidebar_filters(wh)
    k = od.kpis(wh, version, f)
    freq = trend_freq(k["start"], k["end"])
    trend, mix = od.trend(wh, version, f, freq), od.mix(wh, version, f)
    by_pin, top = od.by_pin(wh, version, f), od.top(wh, version, f, 10)
    alerts = open_alerts(wh, wh.data_version("alerts", "sales"), current_pin_scope())
except MicroPulseError as exc:
    show_error(exc)
    st.stop()

render_kpis(k)
if k["units"] == 0:
    st.warning("No sales match these filters. Widen the date range or clear a filter.")
alerts_panel(alerts)
if k["units"] == 0:
    st.stop()

measure = st.radio("Show charts in", list(MEASURES), format_func=MEASURES.get,
                   horizontal=True, key="mp_overview_measure")
left, right = st.columns([3, 2], gap="large")
left.plotly_chart(trend_figure(trend, measure, freq), width="stretch", key="trend")
right.plotly_chart(category_figure(mix, measure), width="stretch", key="mix")

st.subheader(f"{MEASURES[measure]} by PIN code")
render_pin_map(by_pin, measure, context=state_outlines())

st.subheader("Top 10 SKUs by revenue")
render_top_skus(top)
