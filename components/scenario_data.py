"""The Scenarios page's reads and writes: the form's choices (forecast series the user may
see and the stored plans, cached per data version) and saving, renaming, deleting a
scenario and keeping its step totals (engine.scenarios.saved, engine.warehouse.scenarios)."""
from __future__ import annotations

import streamlit as st

from components import scenario_views as sv
from components.errors import attempt
from components.ingest_data import plans
from engine.scenarios import Selection
from engine.scenarios import compute as C
from engine.scenarios.saved import delete, may_change, rename, save
from engine.warehouse.scenarios import record_result

__all__ = ["form_options", "save", "rename", "delete", "may_change", "record_result"]


@st.cache_data(show_spinner="Reading the forecast's products and places...", max_entries=8)
def form_options(_wh, version: str, scope) -> sv.FormOptions:
    """What the form offers: the products and places of the forecast series within
    `scope`, and the plan versions (none when they cannot be read). Reads one row per
    series (engine.scenarios.compute.series_choices), not the scenario inputs: the form
    is drawn without them, and a page that computes nothing never loads them."""
    plan_rows = attempt(plans, _wh, version)[0]
    return sv.form_options(C.select_rows(C.series_choices(_wh), Selection(), scope),
                           plan_rows)
