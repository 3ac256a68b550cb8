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
from components import pricing_views as pv
from components.scenario_select import scenario_for_page
from components.session import get_warehouse
from engine.pricing.elasticity import PricingError
from engine.pricing.service import (elasticity_table, price_demand, recommend,
                                    regional_elasticity_table, simulation_base,
                                    simulation_options)
from engine.pricing.simulate import simulate

st.set_page_config(page_title="MicroPulse · Pricing", page_icon=":material/sell:", layout="wide")


@st.cache_data(show_spinner="Estimating price elasticities...", max_entries=4)
def _elasticities(_wh, version: str):
    return elasticity_table(_wh)


@st.cache_data(show_spinner="Estimating regional elasticities...", max_entries=4)
def _regional(_wh, version: str, _table):
    return regional_elasticity_table(_wh, _table)


@st.cache_data(show_spinner=False, max_entries=64)
def _price_demand(_wh, version: str, sku_id: str, e: float, lo: float, hi: float):
    return price_demand(_wh, sku_id, e, lo, hi)


@st.cache_data(show_spinner="Loading the baseline...", max_entries=4)
def _sim_base(_wh, version: str, _table, _regional, horizon: int = 28):
    base, source, label = simulation_base(_wh, _table, horizon, _regional)
    return base, label, simulation_options(base)


@st.cache_data(show_spinner=False, max_entries=4)
def _sim_choices(_wh, version: str, _table, _regional):
    """The baseline's label and the simulator's choices, without copying the baseline out
    of the cache on every run (its rows are read only when a change is simulated)."""
    _, label, opts = _sim_base(_wh, version, _table, _regional)
    return label, opts


@st.cache_data(show_spinner=False, max_entries=64)
def _simulate(_wh, version: str, _table, _regional, change):
    return simulate(_sim_base(_wh, version, _table, _regional)[0], [change])


@st.cache_data(show_spinner="Optimising prices...", max_entries=16)
def _optimise(_wh, version: str, _table, cfg):
    return recommend(_wh, _table, cfg)


_run = partial(attempt,
               expected=(PricingError,), failed="Pricing could not finish this request")


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Pricing")
st.caption("Own-price elasticity per SKU from the sales history, what a price change does to "
           "units, revenue and margin, and recommended prices under your rules.")
scenario_for_page(wh, "Pricing")  # sidebar "Scenario": its numbers here, labelled
# cache keys: only the data domains this page reads (engine/warehouse/db.py DOMAINS)
version = wh.data_version("sales", "festivals", "forecasts")
table, err = _run(_elasticities, wh, version)
if err:
    st.info(err, icon=":material/sell:")
    st.stop()

regional, reg_err = _run(_regional, wh, version, table)

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
curve, err = _run(_price_demand, wh, version, row["sku_id"], row["elasticity"], row["lo"], row["hi"])
if err:
    st.warning(err)
else:
    st.plotly_chart(pv.demand_figure(*curve, row), width="stretch")

st.subheader("Simulate a price change")
sim, err = _run(_sim_choices, wh, version, table, regional)
if err:
    st.warning(err)
else:
    label, opts = sim
    change = pv.simulator_inputs(opts["categories"], opts["states"], opts["start"], opts["end"])
    result, err = _run(_simulate, wh, version, table, regional, change)
    if err:
        st.warning(err)
    else:
        pv.simulation_readout(result, label)

st.subheader("Competitor prices")
cv.section(wh, st.session_state.get("user"))

st.subheader("Recommended prices")
cfg = pv.optimiser_form()
if cfg is not None:
    st.session_state["pr_opt"] = (version, _run(_optimise, wh, version, table, cfg))
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
