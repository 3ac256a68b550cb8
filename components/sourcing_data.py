"""Cached reads and runs of the Sourcing page, keyed on the data version of the mandi
prices and sales they read and on the request."""
from __future__ import annotations

import streamlit as st

from engine.sourcing.allocation import allocate
from engine.sourcing.service import available_commodities, market_outlook, rank_for_pin
from engine.warehouse.locations import store_locations


@st.cache_data(show_spinner=False, max_entries=8)
def options(_wh, version: str) -> tuple[list[str], list[str]]:
    """(the commodities with mandi prices, the stores' PIN codes)."""
    stores = store_locations(_wh)
    return available_commodities(_wh), stores["pin_code"].astype(str).tolist()


@st.cache_data(show_spinner="Ranking mandis...", max_entries=64)
def rank(_wh, version: str, commodity: str, pin: str, qty: float, cfg):
    ranked = rank_for_pin(_wh, commodity, pin, qty, cfg)
    return ranked, dict(ranked.attrs)


@st.cache_data(show_spinner="Forecasting prices...", max_entries=64)
def outlook(_wh, version: str, commodity: str, mandi_id: str) -> dict:
    return market_outlook(_wh, commodity, mandi_id)


@st.cache_data(show_spinner="Optimising the purchase split...", max_entries=32)
def allocation(version: str, ranked, cfg):
    return allocate(ranked, cfg)
