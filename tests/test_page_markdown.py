"""AppTests of the markdown sections: Pricing page → Markdowns (candidates, settings, the
picked line's path) and the Reorder page's "plan a markdown" on an excess-stock line."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.pricing.service import markdown_candidates
from tests.test_auth_support import auth_wh_path, fast_bcrypt  # noqa: F401

PAGES = Path(__file__).resolve().parents[1] / "pages"
TIMEOUT = 180


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_pricing_page_lists_candidates_and_plans_the_picked_line(app_env):
    at = _run(AppTest.from_file(str(PAGES / "3_Pricing.py"), default_timeout=TIMEOUT))
    assert any(h.value == "Markdowns" for h in at.subheader)
    cands = _table(at, "Excess")
    assert len(cands) > 0
    assert set(cands["Why it must go"]) <= {"Short shelf life", "End of season"}
    assert cands["Cost at risk"].str.startswith("₹").all()
    assert any("lines hold short-life or end-of-season stock" in c.value for c in at.caption)
    at.session_state["md_table"] = {"selection": {"rows": [0], "columns": []}}
    at = _run(at)
    labels = [m.label for m in at.metric]
    assert {"Recovered margin", "Sell-through", "Left at the deadline", "Days left"} <= set(labels)
    steps = _table(at, "Stock left")
    assert steps["Price"].str.startswith("₹").all()
    assert any(m.value.startswith(cands["Why it must go"].iloc[0]) for m in at.markdown)
    weekly = len(steps)
    at.number_input(key="md_step").set_value(2)
    at.button(key="FormSubmitter:md_form-Apply").click()
    at = _run(at)
    assert len(_table(at, "Stock left")) > weekly       # 2-day steps: more of them
    at.text_input(key="md_shelf").input("Dairy five")
    at.button(key="FormSubmitter:md_form-Apply").click()
    at = _run(at)
    assert "should be CATEGORY=DAYS" in at.error[0].value
    assert len(_table(at, "Stock left")) > weekly       # the last applied settings stay


def test_reorder_page_plans_a_markdown_for_an_excess_short_life_line(app_env,
                                                                     small_warehouse):
    cands, _ = markdown_candidates(small_warehouse, date.today())
    wanted = set(zip(cands["sku_id"], cands["pin_code"]))
    at = AppTest.from_file(str(PAGES / "4_Reorder.py"), default_timeout=TIMEOUT)
    _run(at)
    at.multiselect(key="rp_urgency").set_value(["critical", "high", "medium", "low"])
    at = _run(at)
    shown = at.dataframe[0].value
    hits = [i for i, (s, p) in enumerate(zip(shown["sku_id"], shown["pin_code"]))
            if (s, p) in wanted and "expiring unsold" in shown["reason"].iloc[i]]
    assert hits, "no excess short-life line in the plan"
    at.session_state["rp_table"] = {"selection": {"rows": [hits[0]], "columns": []}}
    at = _run(at)
    at.toggle(key="rp_markdown").set_value(True)
    at = _run(at)
    assert any(m.label == "Recovered margin" for m in at.metric)
    assert any(m.value.startswith("Short shelf life: shelf life") for m in at.markdown)


def test_reorder_page_clears_long_life_overstock_within_the_days_given(app_env):
    at = AppTest.from_file(str(PAGES / "4_Reorder.py"), default_timeout=TIMEOUT)
    _run(at)
    at.multiselect(key="rp_urgency").set_value(["low"])
    at = _run(at)
    shown = at.dataframe[0].value
    hits = [i for i, why in enumerate(shown["reason"]) if "units surplus" in why
            and "expiring" not in why]
    assert hits, "no long-life overstock line in the plan"
    at.session_state["rp_table"] = {"selection": {"rows": [hits[0]], "columns": []}}
    at = _run(at)
    at.toggle(key="rp_markdown").set_value(True)
    at = _run(at)
    if not any(m.label == "Recovered margin" for m in at.metric):   # not short-life/seasonal
        assert "give it a deadline (days to clear)" in at.info[-1].value
    at.number_input(key="rp_markdown_days").set_value(21)
    at = _run(at)
    assert next(m for m in at.metric if m.label == "Days left").value == "21"


def test_store_user_plans_a_markdown_within_their_pin_codes(auth_wh_path,  # noqa: F811
                                                            monkeypatch):
    from engine import auth
    from engine.warehouse.db import Warehouse
    from engine.warehouse.scoped import ScopedWarehouse
    from tests.test_auth_support import session_for, store_pins

    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(auth_wh_path))
    monkeypatch.delenv("MICROPULSE_AUTH", raising=False)
    monkeypatch.setattr(auth, "failure_delay", lambda n: 0.0)
    wh = Warehouse(auth_wh_path)
    try:
        pins = store_pins(wh)
        cands, _ = markdown_candidates(ScopedWarehouse(wh, pins), date.today())
    finally:
        wh.close()
    wanted = set(zip(cands["sku_id"], cands["pin_code"]))
    assert wanted and {p for _, p in wanted} <= set(pins)
    at = AppTest.from_file(str(PAGES / "4_Reorder.py"), default_timeout=TIMEOUT)
    at.session_state["auth_user"] = session_for("shop")
    _run(at)
    at.multiselect(key="rp_urgency").set_value(["critical", "high", "medium", "low"])
    at = _run(at)
    shown = at.dataframe[0].value
    assert set(shown["pin_code"]) <= set(pins)
    hits = [i for i, key in enumerate(zip(shown["sku_id"], shown["pin_code"])) if key in wanted]
    assert hits
    at.session_state["rp_table"] = {"selection": {"rows": [hits[0]], "columns": []}}
    at = _run(at)
    at.toggle(key="rp_markdown").set_value(True)
    at = _run(at)
    assert any(m.label == "Recovered margin" for m in at.metric)
    assert any(m.value.startswith(("Short shelf life: ", "End of season: "))
               for m in at.markdown)
