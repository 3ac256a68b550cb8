"""Cached reads of the Overview page (app.py): sales KPIs, trend, PIN codes, category mix
and top SKUs, each keyed on the data version of what it reads and the filters."""
from __future__ import annotations

import streamlit as st

from engine.warehouse import sql, sales_summary as q


@st.cache_data(show_spinner=False, max_entries=32)
def has_sales(_wh, version: str, pin_scope) -> bool:
    return q.has_sales(_wh, pin_scope)


@st.cache_data(show_spinner=False, max_entries=256)
def kpis(_wh, version: str, f: sql.Filters) -> dict:
    return q.kpis(_wh, f)


@st.cache_data(show_spinner=False, max_entries=256)
def trend(_wh, version: str, f: sql.Filters, freq: str):
    return q.sales_trend(_wh, f, freq)


@st.cache_data(show_spinner=False, max_entries=256)
def by_pin(_wh, version: str, f: sql.Filters):
    return q.sales_by_pin(_wh, f)


@st.cache_data(show_spinner=False, max_entries=256)
def mix(_wh, version: str, f: sql.Filters):
    return q.category_mix(_wh, f)


@st.cache_data(show_spinner=False, max_entries=256)
def top(_wh, version: str, f: sql.Filters, n: int):
    return q.top_skus(_wh, f, n)
