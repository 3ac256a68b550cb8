"""Cached reads of alerts (the Alerts page and the Overview's open alerts) and the
alert rules and audit trail, each keyed on the data version of what it reads."""
from __future__ import annotations

import streamlit as st

from engine.alerts import audit_trail, get_rules, list_alerts


@st.cache_data(show_spinner=False, max_entries=32)
def alerts(_wh, version: str, f, pin_scope):
    """Every alert (f None) or those the Alerts page's filters (AlertFilters) pick."""
    if f is None:
        return list_alerts(_wh, pin_scope=pin_scope)
    return list_alerts(_wh, status=f.status, severity=f.severity, rule=f.rule,
                       pin_scope=pin_scope)


@st.cache_data(show_spinner=False, max_entries=32)
def open_alerts(_wh, version: str, pin_scope):
    return list_alerts(_wh, status=("new", "acknowledged"), pin_scope=pin_scope)


@st.cache_data(show_spinner=False, max_entries=8)
def rules(_wh, version: str):
    return get_rules(_wh)


@st.cache_data(show_spinner=False, max_entries=8)
def audit(_wh, version: str):
    return audit_trail(_wh)
