"""Alerts: what needs attention today, why, and who has dealt with it.

Recipe: cached alert list and rules (keyed on the data version) -> counts, filters, table
with reasons and links -> acknowledge / resolve -> generate now -> rule settings -> audit.
Every action is an engine call that writes audit_log in the same transaction.
"""
from __future__ import annotations

from functools import partial

import streamlit as st

from components.errors import attempt, show_error
from components.auth import allowed
from components import alerts_data as ad
from components import alerts_views as av
from components.filters import current_pin_scope
from components.format import indian_grouping
from components.session import get_warehouse
from engine.alerts import RULES, acknowledge, generate_alerts, resolve, update_rule

st.set_page_config(page_title="MicroPulse · Alerts", page_icon=":material/notifications:",
                   layout="wide")


_run = partial(attempt, failed="That did not work")


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Alerts")
st.caption("Stock at risk, forecasts that missed, unusual demand, prices outside MRP or cost, "
           "mandi price spikes and missing data — one alert per rule, item and day (or "
           "week, for weekly sales data).")
actor = st.session_state.get("user", "demo")
pin_scope = current_pin_scope()
titles = {name: spec.title for name, spec in RULES.items()}

if st.button("Generate alerts now", key="al_generate", type="primary",
             disabled=not allowed("generate_alerts"),
             icon=":material/refresh:"):
    with st.spinner("Checking every rule..."):
        result, err = _run(generate_alerts, wh, actor=actor)
    st.session_state["al_last_run"] = result.to_dict() if result else None
    if err:
        show_error(err)
if st.session_state.get("al_last_run"):
    av.generation_report(st.session_state["al_last_run"], titles)

flash = st.session_state.pop("al_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")

# cache keys: only the data domains this page reads (engine/warehouse/db.py DOMAINS)
version = wh.data_version("alerts", "sales")
everything, err = _run(ad.alerts, wh, version, None, pin_scope)
if err:
    show_error(err)
    st.stop()
if everything.empty:
    st.info("No alerts yet. Press **Generate alerts now** to check the rules against the "
            "warehouse.", icon=":material/notifications:")
else:
    av.render_counts(everything, titles)

tab_list, tab_rules, tab_audit = st.tabs(["Alerts", "Rule settings", "Audit trail"])
with tab_list:
    filters = av.filter_widgets(list(RULES), titles)
    shown, err = _run(ad.alerts, wh, version, filters, pin_scope)
    if err:
        show_error(err)
    elif shown.empty:
        st.caption("No alerts match these filters.")
    else:
        st.caption(f"{indian_grouping(len(shown))} alert(s), most rupees at stake first.")
        av.alerts_table(shown, titles)
        action = av.action_form(shown)
        if action:
            verb, ids = action
            changed, err = _run(acknowledge if verb == "acknowledge" else resolve, wh, ids,
                                actor)
            if err:
                show_error(err)
            else:
                done = "acknowledged" if verb == "acknowledge" else "resolved"
                st.session_state["al_flash"] = f"{changed} alert(s) {done} by {actor}."
                st.session_state.pop("al_pick", None)
                st.rerun()

with tab_rules:
    rules, err = _run(ad.rules, wh, version)
    if err:
        show_error(err)
    else:
        helps = {n: {k: p.help for k, p in s.params.items()} for n, s in RULES.items()}
        change = av.rule_form(rules, helps)
        if change:
            rule, enabled, severity, params = change
            saved, err = _run(update_rule, wh, rule, enabled, severity, params, actor)
            if err:
                show_error(err)
            else:
                st.session_state["al_flash"] = f"Saved the settings of '{titles[rule]}'."
                st.rerun()

with tab_audit:
    audit, err = _run(ad.audit, wh, version)
    if err:
        show_error(err)
    else:
        av.audit_view(audit, titles)
