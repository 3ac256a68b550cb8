"""Each role opens exactly its pages (AppTest with each role signed in), and the sign-in,
first-run, expiry and sign-out flows work in the app."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine import auth
from engine.warehouse.audit import read_audit_log
from engine.warehouse.db import Warehouse, backend_class
from tests.test_auth_support import (PASSWORD, ROLE, auth_wh_path,  # noqa: F401
                                     copy_warehouse, fast_bcrypt, session_for, store_pins)

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120
EXPECTED_PAGES = {  # the product spec, written out independently of engine.auth.PAGES
    "admin": set(auth.PAGE_TITLES),
    "manager": set(auth.PAGE_TITLES) - {"Admin"},
    "analyst": set(auth.PAGE_TITLES) - {"Admin"},
    "store": {"Overview", "Forecast", "Accuracy", "Reorder", "Trends", "Ask", "Map",
              "Alerts"},
}
GATE_SCRIPT = """
import streamlit as st
from components.auth import current_page, page_from_context, page_from_frames
from components.session import get_warehouse

wh = get_warehouse()
st.markdown(f"PAGE-OK {current_page()} {type(wh).__name__}")
st.markdown(f"FRAMES {page_from_frames()}")
st.markdown(f"CONTEXT {page_from_context()}")
"""


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture()
def auth_on(auth_wh_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(auth_wh_path))
    monkeypatch.delenv("MICROPULSE_AUTH", raising=False)
    monkeypatch.delenv("MICROPULSE_SESSION_HOURS", raising=False)
    monkeypatch.setattr(auth, "failure_delay", lambda n: 0.0)
    return auth_wh_path


def _app(path: Path, username: str | None = None, age_s: float = 0.0) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
    if username:
        at.session_state["auth_user"] = session_for(username, age_s)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _page_file(tmp_path: Path, page: str) -> Path:
    if page == "Overview":
        path = tmp_path / "app.py"
    else:
        (tmp_path / "pages").mkdir(exist_ok=True)
        path = tmp_path / "pages" / f"{auth.PAGE_TITLES.index(page)}_{page}.py"
    path.write_text(GATE_SCRIPT)
    return path


def test_page_matrix_is_the_product_spec():
    assert {r: set(p) for r, p in auth.PAGES.items()} == EXPECTED_PAGES


@pytest.mark.parametrize("username", ["boss", "mgr", "ana", "shop"])
def test_each_role_opens_exactly_its_pages(auth_on, tmp_path, username):
    role = ROLE[username]
    label = auth.ROLES[role]
    for page in auth.PAGE_TITLES:
        at = _app(_page_file(tmp_path, page), username)
        if page in EXPECTED_PAGES[role]:
            assert f"PAGE-OK {page}" in _text(at), (role, page)
            kind = "ScopedWarehouse" if role == "store" else backend_class().__name__
            assert f"{page} {kind}" in _text(at)
            assert not at.error
        else:
            assert [e.value for e in at.error] == \
                [f"Your role ({label}) cannot open the {page} page."]
            assert "PAGE-OK" not in _text(at)


def test_page_is_found_from_the_script_frame_and_the_run_context(auth_on, tmp_path):
    path = _page_file(tmp_path, "Reorder")
    text = _text(_app(path, "shop"))
    assert f"FRAMES {path}" in text and f"CONTEXT {path}" in text


@pytest.mark.parametrize("page", ["3_Pricing.py", "5_Sourcing.py", "8_Data.py", "9_Admin.py"])
def test_store_user_is_stopped_on_real_pages_outside_the_role(auth_on, page):
    at = _app(REPO / "pages" / page, "shop")
    name = auth.page_key(page)
    assert [e.value for e in at.error] == [f"Your role (Store user) cannot open the {name} page."]
    assert not at.dataframe and not at.get("plotly_chart")


def test_analyst_cannot_open_admin(auth_on):
    at = _app(REPO / "pages" / "9_Admin.py", "ana")
    assert [e.value for e in at.error] == ["Your role (Analyst) cannot open the Admin page."]


def test_store_user_overview_shows_only_their_pins(auth_on):
    wh = Warehouse(auth_on)
    pins = store_pins(wh)
    states = wh.query("SELECT state FROM locations WHERE list_contains(?, pin_code)",
                      [list(pins)])["state"].tolist()
    wh.close()
    at = _app(REPO / "app.py", "shop")
    active = next(m.value for m in at.metric if m.label == "Active PIN codes")
    assert int(active) <= len(pins)
    assert sorted(at.multiselect(key="_w_mp_filter_states").options) == sorted(states)
    assert at.session_state["mp_pin_scope"] == tuple(sorted(pins))
    assert any("Store user" in c.value and pins[0] in c.value for c in at.sidebar.caption)
    # A crafted widget value for another state cannot widen anything.
    at.session_state["mp_filter_states"] = ["Tamil Nadu", "West Bengal", "Delhi", "Maharashtra"]
    at.run()
    assert int(next(m.value for m in at.metric if m.label == "Active PIN codes")) <= len(pins)


# ---- flows ------------------------------------------------------------------------------------
def test_without_a_session_the_sign_in_form_blocks_the_page(auth_on):
    at = _app(REPO / "app.py")
    assert [s.value for s in at.subheader] == ["Sign in to MicroPulse"]
    assert not at.metric


@pytest.mark.parametrize("page", ["app.py", *sorted(p.name for p in (REPO / "pages").glob("*.py"))])
def test_signed_out_every_page_shows_only_the_sign_in_form(auth_on, page):
    at = _app(REPO / page if page == "app.py" else REPO / "pages" / page)
    assert [s.value for s in at.subheader] == ["Sign in to MicroPulse"]
    assert not at.title and not at.caption and not at.tabs and not at.metric


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="mp_sign_in_user").input(username)
    at.text_input(key="mp_sign_in_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sign_in_form_signs_in_and_wrong_password_is_refused(auth_on):
    at = _app(REPO / "pages" / "9_Admin.py")
    _sign_in(at, "boss", "not-the-password")
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert "auth_user" not in at.session_state
    _sign_in(at, "boss", PASSWORD["boss"])
    assert at.session_state["auth_user"]["username"] == "boss"
    assert [t.value for t in at.title] == ["Admin"]


def test_throttle_message_in_the_form_after_five_failures(auth_on):
    at = _app(REPO / "pages" / "9_Admin.py")
    for i in range(5):
        _sign_in(at, "mgr", f"wrong-{i}")
    assert "Too many failed sign-ins for this username" in at.error[0].value
    _sign_in(at, "mgr", PASSWORD["mgr"])
    assert "Too many failed sign-ins" in at.error[0].value


def test_expired_session_shows_the_sign_in_form_with_the_reason(auth_on):
    at = _app(REPO / "pages" / "9_Admin.py", "boss", age_s=8 * 3600 + 60)
    assert any("after 8 hours without activity" in i.value for i in at.info)
    assert [s.value for s in at.subheader] == ["Sign in to MicroPulse"]
    assert "auth_user" not in at.session_state


def test_disabled_user_is_signed_out_on_the_next_click(auth_on):
    at = _app(REPO / "pages" / "9_Admin.py", "mgr")
    assert "manager" not in [e.value for e in at.error]
    wh = Warehouse(auth_on)
    auth.set_disabled(wh, auth.User("boss", "admin"), "mgr", True)
    wh.close()
    at.run()
    assert any("no longer active" in i.value for i in at.info)


def test_sign_out_clears_the_session_and_is_audited(auth_on):
    at = _app(REPO / "pages" / "9_Admin.py", "boss")
    at.session_state["pr_opt"] = "left over work"
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    assert "auth_user" not in at.session_state and "pr_opt" not in at.session_state
    assert any("You have signed out." in i.value for i in at.info)
    wh = Warehouse(auth_on)
    assert "auth.sign_out" in read_audit_log(wh, actor="boss")["action"].tolist()
    wh.close()


def test_first_run_creates_the_admin_and_signs_in(small_warehouse_path, tmp_path, monkeypatch,
                                                 fast_bcrypt):  # noqa: F811
    path = copy_warehouse(small_warehouse_path, tmp_path / "fresh.duckdb")
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.delenv("MICROPULSE_AUTH", raising=False)
    at = _app(REPO / "pages" / "9_Admin.py")
    assert [s.value for s in at.subheader] == ["Create the MicroPulse administrator"]
    at.text_input(key="mp_first_user").input("owner")
    at.text_input(key="mp_first_password").input("owner-password-1")
    at.text_input(key="mp_first_confirm").input("owner-password-1")
    next(b for b in at.button if b.label == "Create administrator").click()
    at.run()
    assert not at.exception
    assert at.session_state["auth_user"]["username"] == "owner"
    assert [t.value for t in at.title] == ["Admin"]
    wh = Warehouse(path)
    assert wh.query("SELECT username, role FROM users").values.tolist() == [["owner", "admin"]]
    wh.close()


def test_demo_mode_needs_no_sign_in(auth_on, monkeypatch, tmp_path):
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = _app(_page_file(tmp_path, "Admin"))
    assert f"PAGE-OK Admin {backend_class().__name__}" in _text(at)
    assert any("Demo mode" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("page,pin_evidence", [
    ("app.py", False), ("pages/1_Forecast.py", False), ("pages/2_Accuracy.py", False),
    ("pages/4_Reorder.py", True),
    ("pages/6_Map.py", True), ("pages/7_Alerts.py", False)])
def test_store_user_pages_show_only_their_pins_and_places(auth_on, page, pin_evidence):
    wh = Warehouse(auth_on)
    pins = set(store_pins(wh))
    places = wh.query("SELECT state, city FROM locations WHERE list_contains(?, pin_code)",
                      [sorted(pins)])
    wh.close()
    at = _app(REPO / page, "shop")
    assert not [e.value for e in at.error if "cannot open" in e.value]
    shown = 0
    for frame in at.dataframe:
        df = frame.value
        for col in [c for c in df.columns if str(c).lower() in ("pin_code", "pin code")]:
            shown += 1
            assert set(df[col].dropna().astype(str)) <= pins, (page, col)
    for box in [*at.multiselect, *at.selectbox]:
        options = {str(o) for o in box.options}
        if box.label == "PIN code":
            shown += 1
            assert {o.split()[0] for o in options} <= pins, page
        elif box.label in ("State", "City"):
            assert options <= set(places[box.label.lower()]), (page, box.label)
    assert shown > 0 or not pin_evidence, f"{page} showed no PIN codes to check"
