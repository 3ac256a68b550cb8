"""Cached reads and runs of the Pricing page: the elasticity tables, a SKU's price/demand
points, the simulator's baseline and its results, and the price optimiser, each keyed on
the data version of what they read (the frames passed in with a leading underscore are
derived from that version, so they are not hashed)."""
from __future__ import annotations

import streamlit as st

from engine.pricing.service import (elasticity_table, price_demand, recommend,
                                    regional_elasticity_table, simulation_base,
                                    simulation_options)
from engine.pricing.simulate import simulate


@st.cache_data(show_spinner="Estimating price elasticities...", max_entries=4)
def elasticities(_wh, version: str):
    return elasticity_table(_wh)


@st.cache_data(show_spinner="Estimating regional elasticities...", max_entries=4)
def regional(_wh, version: str, _table):
    return regional_elasticity_table(_wh, _table)


@st.cache_data(show_spinner=False, max_entries=64)
def demand_points(_wh, version: str, sku_id: str, e: float, lo: float, hi: float):
    return price_demand(_wh, sku_id, e, lo, hi)


@st.cache_data(show_spinner="Loading the baseline...", max_entries=4)
def _sim_base(_wh, version: str, _table, _regional, horizon: int = 28):
    base, source, label = simulation_base(_wh, _table, horizon, _regional)
    return base, label, simulation_options(base)


@st.cache_data(show_spinner=False, max_entries=4)
def sim_choices(_wh, version: str, _table, _regional):
    """The baseline's label and the simulator's choices, without copying the baseline out
    of the cache on every run (its rows are read only when a change is simulated)."""
    _, label, opts = _sim_base(_wh, version, _table, _regional)
    return label, opts


@st.cache_data(show_spinner=False, max_entries=64)
def simulated(_wh, version: str, _table, _regional, change):
    return simulate(_sim_base(_wh, version, _table, _regional)[0], [change])


@st.cache_data(show_spinner="Optimising prices...", max_entries=16)
def optimised(_wh, version: str, _table, cfg):
    return recommend(_wh, _table, cfg)
