"""Cached reads and runs of the Reorder page: the plan inputs (inventory, demand, festivals),
the plan for a policy, the budget-constrained purchase plan and a line's projected stock,
each keyed on the data version of what they read and on the settings."""
from __future__ import annotations

import streamlit as st

from engine.inventory.optimize import OptimizeConfig, optimize_orders
from engine.inventory.planner import line_projection, load_inputs, make_plan
from engine.inventory.policy import PolicyConfig


@st.cache_data(show_spinner="Reading inventory and demand...", max_entries=4)
def _inputs(_wh, version: str):
    return load_inputs(_wh)


@st.cache_data(show_spinner=False, max_entries=4)
def model_label(_wh, version: str) -> str:
    """Which demand the plan uses, in a sentence: a page view reads this, not the inputs
    themselves (st.cache_data unpickles a copy on every read, ~0.1 s for the demo's)."""
    return _inputs(_wh, version).model.label


@st.cache_data(show_spinner="Planning...", max_entries=32)
def plan(_wh, version: str, cfg: PolicyConfig):
    return make_plan(_inputs(_wh, version), cfg)


@st.cache_data(show_spinner="Optimising the purchase plan...", max_entries=16)
def optimised(_wh, version: str, cfg: PolicyConfig, budget: float | None):
    return optimize_orders(plan(_wh, version, cfg), OptimizeConfig(budget=budget))


@st.cache_data(show_spinner=False, max_entries=64)
def _projection(_wh, version: str, cfg: PolicyConfig, sku_id: str, pin_code: str):
    return line_projection(_inputs(_wh, version), plan(_wh, version, cfg), sku_id, pin_code,
                           cfg)


def projection(wh, version: str, cfg: PolicyConfig, shown_plan, planned, sku_id: str,
               pin_code: str):
    """One line's projected stock under the plan shown: cached when that is the policy's
    own plan (`planned`), computed on the spot for a budget plan."""
    if shown_plan is planned:
        return _projection(wh, version, cfg, sku_id, pin_code)
    return line_projection(_inputs(wh, version), shown_plan, sku_id, pin_code, cfg)
