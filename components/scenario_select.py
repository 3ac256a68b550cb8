"""The saved scenarios a page can read, one cached compute of each, and the sidebar
"Scenario" selector the Forecast, Pricing, Reorder, Sourcing and Map pages share.

One source of truth: every figure a page shows for a scenario comes from
`engine.scenarios.compute.compute` (through `scenario_result` here), the same call the
Scenarios page, the CLI and the API make; the pages only choose which part to draw
(components/scenario_views.py `page_section`).

Caching: the inputs are read once per data version by `engine.scenarios.compute.load_inputs`
(its own cache); a result is kept by `st.cache_data` keyed on the version of the data it
depends on (`compute.DEPENDS`), the scenario's name and definition and the viewer's PIN
scope. The saved list is keyed on the "scenarios" domain only.

The pick is kept in `st.session_state["mp_scenario"]` (a scenario id; not a widget key),
so it follows the user from page to page, like the sidebar filters.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from components.errors import Problem
from components.filters import current_pin_scope
from engine.errors import MicroPulseError
from engine.scenarios import Scenario, ScenarioError
from engine.scenarios import compute as C

PICK_KEY = "mp_scenario"
_WIDGET = "_w_mp_scenario"
NONE_LABEL = "None (baseline)"


def scenario_key(scenario: Scenario) -> str:
    """What a result depends on besides the data: the name and the definition."""
    return json.dumps({"name": scenario.name, **scenario.definition()}, sort_keys=True)


@st.cache_data(show_spinner="Computing the scenario...", max_entries=48)
def _compute(_wh, version: str, key: str, pin_scope, _scenario: Scenario):
    return C.compute(C.load_inputs(_wh), _scenario, pin_scope)


def scenario_result(wh, scenario: Scenario, pin_scope=None):
    """(ScenarioResult, None) or (None, a sentence for the user, with the engine error's
    evidence for show_error): never a traceback."""
    scope = current_pin_scope(pin_scope)
    try:
        return _compute(wh, wh.data_version(*C.DEPENDS), scenario_key(scenario),
                        tuple(scope) if scope is not None else None, scenario), None
    except MicroPulseError as exc:
        return None, Problem.of(exc)
    except Exception as exc:  # noqa: BLE001 - a sentence, the page stays alive
        return None, (f"The scenario could not be computed ({type(exc).__name__}: {exc}).")


@st.cache_data(show_spinner=False, max_entries=32)
def _saved(_wh, version: str, pin_scope) -> pd.DataFrame:
    from engine.warehouse import scenarios

    return scenarios.list_rows(_wh, pin_scope)


def saved_rows(wh, pin_scope=None) -> pd.DataFrame:
    """Saved scenarios this viewer may see (engine.warehouse.scenarios.list_rows)."""
    scope = current_pin_scope(pin_scope)
    try:
        return _saved(wh, wh.data_version("scenarios"),
                      tuple(scope) if scope is not None else None)
    except Exception:  # noqa: BLE001 - an old warehouse without the table: nothing saved
        return pd.DataFrame(columns=["scenario_id", "name"])


def saved_scenario(rows: pd.DataFrame, scenario_id: str) -> Scenario | None:
    from engine.scenarios.saved import to_scenario

    hit = rows[rows["scenario_id"] == scenario_id]
    if hit.empty:
        return None
    row = hit.iloc[0].copy()
    try:
        return to_scenario(row)
    except ScenarioError:
        return None


def banner(scenario: Scenario) -> None:
    """The label every page shows above a scenario's numbers."""
    st.info(f"**Scenario: {scenario.name}** — numbers below include its assumptions "
            f"({scenario.selection.label()}).", icon=":material/alt_route:")


def scenario_selector(wh, pin_scope=None):
    """The sidebar "Scenario" selectbox. Returns (Scenario, ScenarioResult) for the pick, or
    None for the baseline (nothing saved, nothing picked, or the scenario cannot be
    computed: then a warning says why)."""
    rows = saved_rows(wh, pin_scope)
    if rows.empty:
        st.session_state.pop(PICK_KEY, None)
        return None
    ids = rows["scenario_id"].tolist()
    names = dict(zip(rows["scenario_id"], rows["name"]))
    stored = st.session_state.get(PICK_KEY)
    stored = stored if stored in names else None
    options = ["", *ids]                  # "" = no scenario (None shows as unselected)
    if st.session_state.get(_WIDGET, "") not in options:
        st.session_state.pop(_WIDGET, None)
    picked = st.sidebar.selectbox(
        "Scenario", options, index=options.index(stored or ""), key=_WIDGET,
        format_func=lambda sid: names.get(sid, NONE_LABEL),
        help="Show a saved scenario's numbers (Scenarios page) beside this page's "
             "baseline. The pick follows you to the other pages.")
    picked = picked or None
    st.session_state[PICK_KEY] = picked
    if picked is None:
        return None
    scenario = saved_scenario(rows, picked)
    if scenario is None:
        st.sidebar.warning("That scenario could not be read; pick another one.")
        return None
    result, err = scenario_result(wh, scenario, pin_scope)
    if err:
        st.warning(f"Scenario {scenario.name}: {err}", icon=":material/alt_route:")
        return None
    return scenario, result


def scenario_for_page(wh, page: str, pin_scope=None) -> None:
    """The whole hook a page adds: the sidebar selector and, when a scenario is picked,
    its banner and its numbers for this page (components/scenario_views.page_section)."""
    picked = scenario_selector(wh, pin_scope)
    if picked is None:
        return None
    scenario, result = picked
    from components.scenario_views import page_section

    with st.container(border=True):
        banner(scenario)
        page_section(result, page, wh)
    return result
