"""AppTest of pages/55_Scenarios.py on a copy of the small demo with a forecast run: build
and save a scenario, the four tiles show engine.scenarios.compute's numbers, save as /
compare / rename / delete, clear errors, and the role and PIN-scope rules."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine import auth
from engine.scenarios import Assumptions, Scenario, Selection
from engine.scenarios import compute as C
from engine.textfmt import dd_mmm, inr_compact, pct, units
from engine.scenarios import saved as scenario_store
from engine.warehouse.db import Warehouse
from engine.warehouse.scoped import ScopedWarehouse
from tests.test_auth_support import copy_warehouse, seed_users, session_for, store_pins

PAGE = Path(__file__).resolve().parents[1] / "pages" / "55_Scenarios.py"
TIMEOUT = 240
TILES = ["1. Demand", "2. Margin", "3. Orders", "4. Mandi buying"]


@pytest.fixture(scope="module")
def scn_path(small_warehouse_path, tmp_path_factory) -> Path:
    """The small demo + one cheap forecast run + one user per role (a private copy)."""
    from tests.forecast_page_frames import forecast_copy

    path = copy_warehouse(forecast_copy(str(small_warehouse_path)),
                          tmp_path_factory.mktemp("scn") / "scenarios.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auth, "BCRYPT_ROUNDS", 4)
        wh = Warehouse(path)
        try:
            seed_users(wh)
        finally:
            wh.close()
    return path


@pytest.fixture()
def env(scn_path, monkeypatch):
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(scn_path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    monkeypatch.setattr(auth, "failure_delay", lambda n: 0.0)
    st.cache_data.clear()
    st.cache_resource.clear()
    wh = Warehouse(scn_path)
    try:                                    # every test starts with no saved scenario
        for s in scenario_store.list_scenarios(wh):
            scenario_store.delete(wh, s.scenario_id, "test")
    finally:
        wh.close()
    yield scn_path
    st.cache_resource.clear()


def _run(at: AppTest | None = None, username: str | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
        if username:
            at.session_state["auth_user"] = session_for(username)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _tiles(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label: (m.value, m.delta) for m in at.metric if m.label in TILES}


def _expected(result) -> dict[str, tuple[str, str | None]]:
    """The tiles as they must read for an engine result, formatted here independently."""
    out = {}
    for i, step in enumerate(result.steps):
        fmt = units if step["unit"] == "units" else inr_compact
        value = fmt(step["scenario"]) if step["scenario"] is not None else "—"
        delta = None
        if step["delta"] is not None:
            d = step["delta"]
            delta = ("+" if d > 0 else "-" if d < 0 else "") + fmt(abs(d))
            if step["delta_pct"] is not None:
                delta += f" ({pct(step['delta_pct'])})"
        out[TILES[i]] = (value, delta)
    return out


def _engine(path: Path, scenario: Scenario, pins=None):
    """engine.scenarios.compute on the warehouse the page reads (the user's scoped view)."""
    wh = Warehouse(path)
    try:
        handle = ScopedWarehouse(wh, pins) if pins else wh
        return C.compute(C.load_inputs(handle), scenario, pins)
    finally:
        wh.close()


OIL = Scenario("Oil cut", Selection(categories=("Edible Oil",)),
               Assumptions(price_change_pct=-10.0, mandi_price_shock_pct=10.0))


def test_build_save_compare_rename_and_delete(env):
    at = _run()
    assert not _tiles(at)                                   # nothing computed before asked
    assert any("Show the chain" in i.value for i in at.info)
    at.text_input(key="scn_f_name").set_value("Oil cut")
    at.multiselect(key="scn_f_categories").set_value(["Edible Oil"])
    at.slider(key="scn_f_price").set_value(-10.0)
    at.slider(key="scn_f_mandi").set_value(10.0)
    _button(at, "Save").click()
    at = _run(at)
    assert [s.value for s in at.success] == ["Saved Oil cut."]
    # the four tiles are the engine's numbers for the same scenario
    assert _tiles(at) == _expected(_engine(env, OIL))
    assert [s.value for s in at.subheader][0] == "Oil cut"
    listed = at.dataframe[0].value
    assert listed.to_dict("records") == [{
        "Scenario": "Oil cut", "Author": "demo", "Created": dd_mmm(date.today(), True),
        "Edited": dd_mmm(date.today(), True), "Numbers": "Up to date"}]
    wh = Warehouse(env)
    try:
        [saved] = scenario_store.list_scenarios(wh)
    finally:
        wh.close()
    assert saved.selection == OIL.selection and saved.assumptions == OIL.assumptions

    # the same name again is a sentence, not a traceback
    _button(at, "Save as new").click()
    at = _run(at)
    assert [e.value for e in at.error] == [
        "A scenario called 'Oil cut' already exists; choose another name or open that one."]

    # save as a copy with a deeper cut, then compare both with the baseline
    at.text_input(key="scn_f_name").set_value("Oil deeper cut")
    at.slider(key="scn_f_price").set_value(-20.0)
    _button(at, "Save as new").click()
    at = _run(at)
    assert [s.value for s in at.success] == ["Saved Oil deeper cut."]
    deeper = Scenario("Oil deeper cut", OIL.selection,
                      Assumptions(price_change_pct=-20.0, mandi_price_shock_pct=10.0))
    assert _tiles(at) == _expected(_engine(env, deeper))
    wh = Warehouse(env)
    try:
        ids = [s.scenario_id for s in scenario_store.list_scenarios(wh)]
    finally:
        wh.close()
    assert len(ids) == 2
    at.multiselect(key="scn_compare").set_value(ids)
    at = _run(at)
    table = at.dataframe[-1].value
    assert table["Step"].tolist() == ["Demand", "Margin", "Orders", "Mandi buying"]
    assert {"Baseline", "Oil cut", "Oil deeper cut", "Oil cut: change"} <= set(table.columns)
    oil = _engine(env, OIL)
    assert table["Oil cut: change"][1] == _expected(oil)["2. Margin"][1]
    assert [b.label for b in at.get("download_button")] == [
        "Download Excel (a sheet per step)", "Download one-pager (HTML)"]

    # rename, then delete (confirmation first)
    at.text_input(key="scn_rename_name").set_value("Oil deepest cut")
    at.button(key="scn_rename").click()
    at = _run(at)
    assert [s.value for s in at.success] == ["Renamed to Oil deepest cut."]
    assert at.button(key="scn_delete").disabled
    at.checkbox(key="scn_delete_sure").check()
    at = _run(at)
    at.button(key="scn_delete").click()
    at = _run(at)
    assert [s.value for s in at.success] == ["Deleted Oil deepest cut."]
    wh = Warehouse(env)
    try:
        assert [s.name for s in scenario_store.list_scenarios(wh)] == ["Oil cut"]
    finally:
        wh.close()


def test_the_form_draws_from_the_series_list_and_the_inputs_load_only_for_a_chain(
        env, monkeypatch):
    """First paint with nothing saved: the form's choices come from one row per series,
    the scenario inputs (forecast rows, stock plans, elasticities...) are not read until
    the chain is asked for."""
    loads = []
    real = C.load_inputs
    monkeypatch.setattr(C, "load_inputs", lambda wh: loads.append(wh) or real(wh))
    at = _run()
    assert "Edible Oil" in at.multiselect(key="scn_f_categories").options
    assert at.date_input(key="scn_f_dates").value      # the forecast's horizon
    assert not loads and not _tiles(at)
    at.multiselect(key="scn_f_categories").set_value(["Edible Oil"])
    at.slider(key="scn_f_price").set_value(-10.0)
    at.slider(key="scn_f_mandi").set_value(10.0)
    _button(at, "Show the chain").click()
    at = _run(at)
    assert loads
    assert _tiles(at) == _expected(_engine(env, Scenario("Unsaved scenario", OIL.selection,
                                                         OIL.assumptions)))


def _seed(path: Path):
    """A manager's scenario (every PIN) and one made within the store user's PINs."""
    wh = Warehouse(path)
    try:
        pins = store_pins(wh)
        everyone = scenario_store.save(wh, Scenario("All India push", OIL.selection,
                                                    OIL.assumptions), "mgr")
        theirs = scenario_store.save(wh, Scenario("My stores +15%", Selection(),
                                                  Assumptions(demand_shock_pct=15.0),
                                                  scope=pins), "shop")
    finally:
        wh.close()
    return pins, everyone, theirs


def test_store_user_cannot_open_the_page_but_picks_their_own_scenarios_on_reorder(
        env, monkeypatch):
    """Margins and mandi costs are not a store user's to see (no Pricing or Sourcing page),
    so the Scenarios page is closed to them; on their Reorder page the picker lists only
    scenarios made within their PIN codes and shows the engine's numbers on their view."""
    monkeypatch.delenv("MICROPULSE_AUTH")
    pins, _, theirs = _seed(env)
    at = _run(username="shop")
    assert not at.metric and not at.selectbox
    assert any("Scenarios" in e.value for e in [*at.error, *at.warning, *at.info])
    at = AppTest.from_file(str(PAGE.parent / "4_Reorder.py"), default_timeout=TIMEOUT)
    at.session_state["auth_user"] = session_for("shop")
    at = _run(at)
    picker = at.sidebar.selectbox(key="_w_mp_scenario")
    assert picker.options == ["None (baseline)", "My stores +15%"]   # not "All India push"
    picker.set_value(theirs.scenario_id)
    at = _run(at)
    want = _expected(_engine(env, theirs, pins))
    shown = {m.label: (m.value, m.delta) for m in at.metric if m.label in PAGE_TILE.values()}
    assert shown == {PAGE_TILE["reorder"]: want["3. Orders"],
                     PAGE_TILE["demand"]: want["1. Demand"]}


def test_only_the_author_a_manager_or_an_admin_may_change_a_scenario(env, monkeypatch):
    monkeypatch.delenv("MICROPULSE_AUTH")
    _, everyone, _ = _seed(env)
    ana = _run(username="ana")               # an analyst who did not write it
    assert ana.selectbox(key="scn_pick").value == everyone.scenario_id
    assert _button(ana, "Save").disabled and not _button(ana, "Save as new").disabled
    assert ana.button(key="scn_rename").disabled
    assert "Only its author (mgr)" in _button(ana, "Save").help
    boss = _run(username="boss")             # an admin may
    assert not _button(boss, "Save").disabled and not boss.button(key="scn_rename").disabled


# ---- one source of truth: every page with the scenario selected ------------------------
PAGES = {"Forecast": "1_Forecast.py", "Pricing": "3_Pricing.py", "Reorder": "4_Reorder.py",
         "Sourcing": "5_Sourcing.py", "Map": "6_Map.py"}
SHOWN = {"Forecast": ("demand",), "Pricing": ("pricing", "demand"),
         "Reorder": ("reorder", "demand"), "Sourcing": ("sourcing", "reorder"),
         "Map": ("demand",)}
PAGE_TILE = {"demand": "Scenario demand", "pricing": "Scenario margin",
             "reorder": "Scenario order value", "sourcing": "Scenario mandi buying"}


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_shows_the_engine_numbers_of_the_selected_scenario(env, page):
    wh = Warehouse(env)
    try:
        saved = scenario_store.save(wh, OIL, "demo")
    finally:
        wh.close()
    want = _expected(_engine(env, OIL))
    by_step = dict(zip(C.STEPS, TILES))
    at = AppTest.from_file(str(PAGE.parent / PAGES[page]), default_timeout=TIMEOUT)
    at.session_state["mp_scenario"] = saved.scenario_id
    at = _run(at)
    assert at.sidebar.selectbox(key="_w_mp_scenario").value == saved.scenario_id
    assert any(i.value.startswith("**Scenario: Oil cut** — numbers below include its "
                                  "assumptions") for i in at.info)
    shown = {m.label: (m.value, m.delta) for m in at.metric if m.label in PAGE_TILE.values()}
    assert shown == {PAGE_TILE[s]: want[by_step[s]] for s in SHOWN[page]}
    # back to the baseline: the scenario's block is gone
    at.sidebar.selectbox(key="_w_mp_scenario").set_value("")
    at = _run(at)
    assert not [m for m in at.metric if m.label in PAGE_TILE.values()]
    assert not any("**Scenario:" in i.value for i in at.info)
