"""Cached reads of uploads (the Data page): upload history, quarantined rows, an upload's
data-quality figures and the stored price / promotion plans, keyed on the data version;
and rolling an upload back."""
from __future__ import annotations

import streamlit as st

from engine.warehouse.ingest_batches import (list_batches, quality_figures, quarantine_rows,
                                             rollback_batch)
from engine.warehouse.plans import plan_versions

__all__ = ["batches", "quarantine", "quality", "plans", "rollback_batch"]


@st.cache_data(show_spinner=False, max_entries=8)
def batches(_wh, version: str):
    return list_batches(_wh)


@st.cache_data(show_spinner=False, max_entries=32)
def quarantine(_wh, version: str, batch_id, reasons: tuple):
    return quarantine_rows(_wh, batch_id, list(reasons), limit=50_000)


@st.cache_data(show_spinner="Checking data quality...", max_entries=8)
def quality(_wh, version: str, batch_id: str):
    return quality_figures(_wh, batch_id)


@st.cache_data(show_spinner=False, max_entries=8)
def plans(_wh, version: str):
    return plan_versions(_wh)
