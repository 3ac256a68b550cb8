"""Reorder planning: what to order, how much, how urgently and why.

Recipe: what-if sliders -> cached plan (keyed on the data version and the settings) ->
the budget plan when a budget is applied (optimiser, on button) -> tiles summed from the
plan shown, filtered plan table with a picked line's whole reason, stock-out risk map,
projected stock of one line -> purchase orders by supplier and city with downloads.
"""
from __future__ import annotations

from datetime import date
from functools import partial

import streamlit as st

from components.errors import attempt
from components import markdown_views as mv
from components import reorder_data as rd
from components import reorder_views as rv
from components.maps import state_outlines
from components.scenario_select import scenario_for_page
from components.session import get_warehouse
from engine.inventory.demand import InventoryInputError
from engine.inventory.planner import budget_plan, pin_risk, plan_tiles, purchase_orders
from engine.inventory.policy import PolicyConfig

st.set_page_config(page_title="MicroPulse · Reorder", page_icon=":material/inventory_2:",
                   layout="wide")


_run = partial(attempt,
               expected=(InventoryInputError,), failed="The reorder plan could not be built")


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Reorder planning")
st.caption("Safety stock, reorder points and orders per SKU x PIN code from the demand "
           "forecast and its error, with festivals in the numbers.")
scenario_for_page(wh, "Reorder")  # sidebar "Scenario": its numbers here, labelled
# cache keys: only the data domains this page reads (engine/warehouse/db.py DOMAINS)
version = wh.data_version("sales", "inventory", "forecasts", "festivals")
whatif = rv.whatif_inputs()
cfg = PolicyConfig(service_level=whatif.service_level,
                   lead_time_change_days=whatif.lead_time_change_days,
                   demand_shock_pct=whatif.demand_shock_pct, today=date.today())
model_label, err = _run(rd.model_label, wh, version)
plan, err = (_run(rd.plan, wh, version, cfg)) if model_label is not None else (None, err)
if err or plan is None:
    st.info(err or "Nothing to plan yet.", icon=":material/inventory_2:")
    st.stop()

st.info(model_label, icon=":material/query_stats:")
shown_plan, sol = plan, None            # the plan every figure below is computed from
if whatif.budget is not None:
    sol, oerr = _run(rd.optimised, wh, version, cfg, whatif.budget)
    funded, berr = _run(budget_plan, sol) if sol is not None else (None, oerr)
    if berr:
        st.error(f"{oerr or 'The budget plan could not be used'}: the figures below are the "
                 "plan without the budget.", icon=":material/error:")
    else:
        shown_plan = funded
rv.kpis(plan_tiles(shown_plan), whatif.budget if shown_plan is not plan else None)
if sol is not None:
    with st.expander("Budget plan", expanded=True):
        rv.optimiser_result(sol)

st.subheader("Plan")
scope, shown = rv.plan_filters(shown_plan)
picked_row = rv.plan_table(shown)
mv.reorder_action(wh, picked_row)       # excess stock: "plan a markdown"

left, right = st.columns(2)
with left:
    st.subheader("Stock-out risk by PIN code")
    rv.risk_map(pin_risk(scope if len(scope) else shown_plan), context=state_outlines())
with right:
    st.subheader("Projected stock")
    picked = rv.line_picker(shown if len(shown) else shown_plan, picked_row)
    if picked:
        proj, perr = _run(rd.projection, wh, version, cfg, shown_plan, plan, *picked)
        if perr:
            st.warning(perr)
        else:
            st.plotly_chart(rv.projection_figure(proj, rv.line_title(plan, *picked)),
                            width="stretch")

st.subheader("Purchase orders")
rv.purchase_orders(purchase_orders(shown_plan))
