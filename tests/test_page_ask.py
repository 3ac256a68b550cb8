"""AppTest of pages/56_Ask.py: suggested questions, a typed question with its table and
link, a follow-up, clarifying options as buttons, a new conversation, and a store user's
answers held to their PIN codes."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.warehouse.db import Warehouse
from tests.test_auth_support import copy_warehouse, seed_users, session_for

PAGE = Path(__file__).resolve().parents[1] / "pages" / "56_Ask.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    yield


@pytest.fixture()
def env(small_warehouse_path, tmp_path, monkeypatch):
    from tests.forecast_page_frames import forecast_copy

    path = copy_warehouse(forecast_copy(str(small_warehouse_path)), tmp_path / "ask.duckdb")
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    return path


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at) -> list[str]:
    return [m.value for m in at.markdown]


def test_suggestions_typed_questions_follow_ups_and_clarifications(env):
    at = _run(AppTest.from_file(str(PAGE), default_timeout=TIMEOUT))
    suggestions = [b for b in at.button if b.key and b.key.startswith("ask_suggest_")]
    assert len(suggestions) >= 5 and any("reorder" in b.label for b in suggestions)
    first = suggestions[0].label
    suggestions[0].click()
    at = _run(at)
    assert first in _texts(at)
    at.chat_input(key="ask_input").set_value("How much will Delhi sell tomorrow?")
    at = _run(at)
    answer = next(t for t in _texts(at) if t.startswith("All products in Delhi"))
    assert "units forecast for" in answer
    assert at.dataframe and any("forecast" in c.lower() for c in at.dataframe[-1].value.columns)
    at.chat_input(key="ask_input").set_value("and in Mumbai?")
    at = _run(at)
    assert any(t.startswith("All products in Mumbai") for t in _texts(at))
    at.chat_input(key="ask_input").set_value("How much Nescafe Classic will Chennai sell?")
    at = _run(at)
    options = [b for b in at.button if b.key and b.key.startswith("ask_opt_")]
    assert [b.label for b in options] == ["Nescafe Classic 100 g", "Nescafe Classic 50 g"]
    options[1].click()
    at = _run(at)
    assert any(t.startswith("Nescafe Classic 50 g in Chennai") for t in _texts(at))
    at.sidebar.button(key="ask_new").click()
    at = _run(at)
    assert not any("Nescafe" in t for t in _texts(at))
    assert [b for b in at.button if b.key and b.key.startswith("ask_suggest_")]


def test_store_user_sees_only_their_pin_codes(env, monkeypatch):
    wh = Warehouse(env)
    try:
        users = seed_users(wh)
        cities = wh.query("SELECT city, list(pin_code) AS pins FROM locations GROUP BY 1")
    finally:
        wh.close()
    monkeypatch.delenv("MICROPULSE_AUTH")
    shop = users["shop"]
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.session_state["auth_user"] = session_for("shop")
    at = _run(at)
    assert at.title and at.title[0].value == "Ask MicroPulse"
    offered = [b.label for b in at.button if b.key and b.key.startswith("ask_suggest_")]
    assert offered and not [q for q in offered if "mandi" in q or "price" in q]
    elsewhere = next(r.city for r in cities.itertuples()
                     if not set(r.pins) & set(shop.pin_codes))
    at.chat_input(key="ask_input").set_value(f"How much will {elsewhere} sell next week?")
    at = _run(at)
    assert any("outside your PIN codes" in t for t in _texts(at))
    assert not at.dataframe
    at.chat_input(key="ask_input").set_value(f"How much will {shop.pin_codes[0]} sell tomorrow?")
    at = _run(at)
    assert any("units forecast" in t for t in _texts(at))
