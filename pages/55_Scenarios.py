"""Scenarios: one what-if from demand to margin to orders to mandi buying, beside the
baseline; saved, compared and exported.

Recipe: form options from the forecast series the user may see (one row per series; the
scenario inputs are not read for the form) -> open a saved scenario or fill in the form ->
the chain as four tiles and one tab per step (components/scenario_views.py, every number
from engine.scenarios.compute, whose inputs are cached part by part per data version) -> save / save as / rename / delete
(components/scenario_data.py; author, manager or admin) -> compare up to three saved
scenarios and download the comparison (engine.scenarios.export).
"""
from __future__ import annotations

import streamlit as st

from components import scenario_data as sd
from components import scenario_views as sv
from components.auth import allowed, current_user
from components.errors import attempt, show_error
from components.filters import current_pin_scope
from components.format import dd_mmm
from components.scenario_select import (PICK_KEY, saved_rows, saved_scenario,
                                        scenario_result)
from components.session import get_warehouse
from engine.scenarios import Scenario
from engine.scenarios import compute as C
from engine.scenarios import export as scenario_export

st.set_page_config(page_title="MicroPulse · Scenarios", page_icon=":material/alt_route:",
                   layout="wide")
OPEN = "scn_pick"              # the open scenario (widget key): an id, or "" for a new one
_PENDING = "scn_pending_pick"  # the scenario to open on the next run (after a save)
_FLASH = "scn_flash"
_SHOW = "scn_show"             # a new scenario's chain is drawn once "Show the chain" is pressed


def _open(rows, opts) -> None:
    """The pick changed: put the picked scenario (or a blank one) into the form."""
    sid = st.session_state.get(OPEN) or None
    sv.load_form(saved_scenario(rows, sid) if sid else None, opts)
    st.session_state[PICK_KEY] = sid
    st.session_state[_SHOW] = False


def _write(fn, *args, **kwargs):
    """A store write; (result, None) or (None, a sentence with the error's evidence)."""
    return attempt(fn, *args, failed="The scenario could not be saved", **kwargs)


wh = get_warehouse()    # the sign-in gate first: signed out, only its form shows
st.title("Scenarios")
st.caption("One what-if through the whole loop: how much more (or less) you sell, what it "
           "does to margin, what you must order and what you buy at the mandis, each beside "
           "the baseline in ₹ and units.")
user = current_user()
actor = user.username if user else st.session_state.get("user", "demo")
scope = current_pin_scope()
version = wh.data_version(*C.DEPENDS)
if (msg := st.session_state.pop(_FLASH, None)):
    st.success(msg, icon=":material/check_circle:")

opts, err = attempt(sd.form_options, wh, version, scope,
                    failed="The scenario inputs could not be read")
if err:
    show_error(err, icon=":material/alt_route:", kind="info")
    st.stop()
read_only = getattr(wh, "read_only", False) or not allowed("run_scenario")
rows = saved_rows(wh)
ids = rows["scenario_id"].tolist()
names = dict(zip(rows["scenario_id"], rows["name"]))

# ---- pick -------------------------------------------------------------------------------
pending = st.session_state.pop(_PENDING, "__none__")
if pending != "__none__":
    st.session_state[OPEN] = pending
if st.session_state.get(OPEN, "") not in ["", *ids]:
    st.session_state[OPEN] = ""
if OPEN not in st.session_state:      # first visit: the scenario picked on another page,
    first = st.session_state.get(PICK_KEY)   # else the first saved one, else a new one
    st.session_state[OPEN] = first if first in ids else (ids[0] if ids else "")
if pending != "__none__" or sv.F + "name" not in st.session_state:
    _open(rows, opts)
left, right = st.columns([2, 3], vertical_alignment="bottom")
left.selectbox("Open a scenario", ["", *ids], key=OPEN, on_change=_open, args=(rows, opts),
               format_func=lambda sid: names.get(sid, "New scenario"),
               help="Saved scenarios you can see (your PIN codes' for a store user).")
current = saved_scenario(rows, st.session_state[OPEN]) if st.session_state[OPEN] else None
may_change = current is None or sd.may_change(
    current, actor, user.role if user else None)
if read_only:
    why_not = (f"Your role ({user.role_label if user else 'viewer'}) can look at scenarios "
               "but not save them.")
elif not may_change:
    why_not = (f"Only its author ({current.created_by}), a manager or an admin can change "
               "this scenario; use Save as new for your own copy.")
else:
    why_not = None
if current is not None:
    right.caption(f"By {current.created_by or '—'} · created "
                  f"{dd_mmm(current.created_at, True)} · edited "
                  f"{dd_mmm(current.updated_at, True)}")

with st.expander(f"Saved scenarios ({len(rows)})", expanded=False):
    if rows.empty:
        st.caption("None yet: fill in the form below and press Save.")
    else:
        sv.saved_table(rows, version)

# ---- build ------------------------------------------------------------------------------
with st.expander("Assumptions and selection", expanded=current is None):
    action, scenario, form_err = sv.scenario_form(opts, not read_only, may_change, why_not)
if form_err:
    show_error(form_err)
    st.stop()

if action in ("save", "save_as"):
    name = (st.session_state.get(sv.F + "name") or "").strip()
    result, err = scenario_result(wh, scenario)
    if not name:
        err = "Give the scenario a name before saving it."
    if not err:
        keep = dict(summary=result.summary(), data_version=result.version)
        if action == "save" and current is not None:
            target = Scenario(name=name, selection=scenario.selection,
                              assumptions=scenario.assumptions,
                              scenario_id=current.scenario_id, scope=current.scope)
        else:
            target = Scenario(name=name, selection=scenario.selection,
                              assumptions=scenario.assumptions, scope=scope)
        saved, err = _write(sd.save, wh, target, actor, **keep)
        if not err:
            st.session_state[_PENDING] = saved.scenario_id
            st.session_state[_FLASH] = f"Saved {saved.name}."
            st.rerun()
    show_error(err)

if current is not None:
    with st.expander("Rename or delete this scenario"):
        c = st.columns([3, 1, 1], vertical_alignment="bottom")
        new_name = c[0].text_input("New name", value=current.name, key="scn_rename_name",
                                   max_chars=80)
        if c[1].button("Rename", key="scn_rename", disabled=bool(why_not),
                       help=why_not, icon=":material/edit:"):
            saved, err = _write(sd.rename, wh, current.scenario_id, new_name,
                                actor, scope)
            if err:
                show_error(err)
            else:
                st.session_state[_PENDING] = saved.scenario_id
                st.session_state[_FLASH] = f"Renamed to {saved.name}."
                st.rerun()
        sure = st.checkbox(f"Yes, delete {current.name} for everyone", key="scn_delete_sure",
                           disabled=bool(why_not))
        if c[2].button("Delete", key="scn_delete", disabled=bool(why_not) or not sure,
                       help=why_not or "Tick the box below first.", icon=":material/delete:"):
            gone, err = _write(sd.delete, wh, current.scenario_id, actor, scope)
            if err:
                show_error(err)
            else:
                st.session_state[_PENDING] = ""
                st.session_state[_FLASH] = f"Deleted {gone.name}."
                st.session_state.pop("scn_delete_sure", None)
                st.rerun()

# ---- the chain --------------------------------------------------------------------------
if action == "show":
    st.session_state[_SHOW] = True
shown = current if (current is not None and action is None and
                    scenario.definition() == current.definition()) else scenario
st.subheader(f"{shown.name}" if current is not None or action else "The chain")
st.caption(f"{shown.selection.label()} · {sv.assumptions_text(shown.assumptions)}")
if current is None and not st.session_state.get(_SHOW):
    result, err = None, None
    st.info("Choose what the scenario applies to and its assumptions above, then press "
            "**Show the chain**.", icon=":material/alt_route:")
else:
    result, err = scenario_result(wh, shown)
if err:
    show_error(err, icon=":material/warning:", kind="warning")
elif result is not None:
    sv.flow(result)
    if (current is not None and shown is current and not read_only
            and sv.base_version(current.data_version) != sv.base_version(result.version)):
        # keep the numbers with the scenario so the list can say when the data moves on
        attempt(sd.record_result, wh, current.scenario_id, result.summary(),
                result.version)
    sv.details(result)

# ---- compare ----------------------------------------------------------------------------
st.subheader("Compare scenarios")
if rows.empty:
    st.caption("Save scenarios to compare them side by side with the baseline.")
    st.stop()
picked = st.multiselect("Scenarios to compare (up to three)", ids, default=[],
                        max_selections=3, key="scn_compare",
                        placeholder="Pick saved scenarios to compare and download",
                        format_func=lambda sid: names.get(sid, sid))
results, errors = [], []
for sid in picked:
    sc = saved_scenario(rows, sid)
    res, err = scenario_result(wh, sc) if sc else (None, "That scenario could not be read.")
    if err:
        errors.append(f"{names.get(sid, sid)}: {err}")
    else:
        results.append(res)
for e in errors:
    st.warning(e, icon=":material/warning:")
if results:
    st.dataframe(sv.compare_frame(results), hide_index=True, width="stretch")
    st.plotly_chart(sv.compare_figure(results), width="stretch", key="scn_compare_chart")
    st.caption("Demand counts as its change in revenue; margin, orders and mandi buying are "
               "rupee amounts. Each scenario is against the baseline of its own selection.")
    row = st.container(horizontal=True)
    row.download_button(
        "Download Excel (a sheet per step)", lambda: scenario_export.to_excel(results),
        file_name="scenarios.xlsx", key="scn_xlsx", on_click="ignore",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:")
    row.download_button(
        "Download one-pager (HTML)",
        lambda: scenario_export.to_html(results).encode("utf-8"),
        file_name="scenarios.html", mime="text/html", key="scn_html", on_click="ignore",
        icon=":material/download:")
