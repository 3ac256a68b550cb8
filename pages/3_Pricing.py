"""Pricing: elasticity per SKU, what-if price simulation, competitor prices, optimal prices
under rules, and markdowns for stock that must go.

Recipe: cached elasticity table (keyed on the data version) -> table + price/demand chart
-> simulator sliders (vectorised, instant) -> competitor price index, match review and
cross-elasticity -> optimiser form (MILP on submit) -> price list -> markdown candidates
and the picked line's price path (components/markdown_views.py).
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from components.errors import attempt
from components import competitor_views as cv
from components import markdown_views as mv
from components import pricing_data as prd
from components import pricing_views as pv
from components.scenario_select import scenario_for_page
from components.session import get_warehouse
from engine.pricing.elasticity import PricingError

st.set_page_config(page_title="MicroPulse · Pricing", page_icon=":material/sell:", layout="wide")


_run = partial(attempt,
               expected=(PricingError,), failed="Pricing could not finish this request")


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Pricing")
st.caption("Own-price elasticity per SKU from the sales history, what a price change does to "
           "units, revenue and margin, and recommended prices under your rules.")
scenario_for_page(wh, "Pricing")  # sidebar "Scenario": its numbers here, labelled
# cache keys: only the data domains this page reads (engine/warehouse/db.py DOMAINS)
version = wh.data_version("sales", "festivals", "forecasts")
table, err = _run(prd.elasticities, wh, version)
if err:
    st.info(err, icon=":material/sell:")
    st.stop()

regional, reg_err = _run(prd.regional, wh, version, table)

st.subheader("Price elasticity")
by_region = st.toggle("By region", key="pr_by_region", disabled=regional is None,
                      help=reg_err or "One row per SKU x region, shrunk towards the SKU's value.")
st.caption(pv.elasticity_caption(table, regional, by_region))
if by_region and regional is not None:
    pv.regional_table(regional)
else:
    pv.elasticity_table(table)
row = pv.sku_picker(table)
st.caption(pv.price_caption(row))
curve, err = _run(prd.demand_points, wh, version, row["sku_id"], row["elasticity"], row["lo"], row["hi"])
if err:
    st.warning(err)
else:
    st.plotly_chart(pv.demand_figure(*curve, row), width="stretch")

st.subheader("Simulate a price change")
sim, err = _run(prd.sim_choices, wh, version, table, regional)
if err:
    st.warning(err)
else:
    label, opts = sim
    change = pv.simulator_inputs(opts["categories"], opts["states"], opts["start"], opts["end"])
    result, err = _run(prd.simulated, wh, version, table, regional, change)
    if err:
        st.warning(err)
    else:
        pv.simulation_readout(result, label)

st.subheader("Competitor prices")
cv.section(wh, st.session_state.get("user"))

st.subheader("Recommended prices")
cfg = pv.optimiser_form()
if cfg is not None:
    st.session_state["pr_opt"] = (version, _run(prd.optimised, wh, version, table, cfg))
saved = st.session_state.get("pr_opt")
if saved and saved[0] == version:
    outcome, err = saved[1]
    if err:
        st.error(err, icon=":material/error:")
    else:
        pv.recommendations(outcome[0], outcome[1])
else:
    st.caption("Set the rules above and press **Optimise prices**.")

st.subheader("Markdowns")
st.caption("Short-life stock that will outlast its shelf life, and seasonal stock after its "
           "festival: the price path (one price per step, on your price endings) that clears "
           "it for the most margin.")
mv.pricing_section(wh)
