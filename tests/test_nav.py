"""The sidebar navigation (components/nav.py, drawn by components.session.get_warehouse):
one st.page_link per page the signed-in role may open, labelled by page, and no links
(rather than a "Could not find page" error) when a page file runs on its own."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from components import nav
from engine import auth
from engine.warehouse.db import backend_class
from tests.test_auth_support import (ROLE, auth_wh_path, fast_bcrypt,  # noqa: F401
                                     session_for)
from tests.test_roles_pages import EXPECTED_PAGES, GATE_SCRIPT

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120
MENU_ORDER = ["Overview", "Forecast", "Accuracy", "Pricing", "Reorder", "Sourcing", "Scenarios",
              "Trends", "Ask", "Map", "Alerts", "Data", "Admin"]


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
    return auth_wh_path


@pytest.fixture()
def gate_app(tmp_path) -> Path:
    """A copy of the app's layout (app.py + pages/N_Page.py) whose pages only pass the
    gate, so each run is quick and shows exactly what the gate draws."""
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text(GATE_SCRIPT)
    for i, page in enumerate(MENU_ORDER[1:], start=1):
        (tmp_path / "pages" / f"{i}_{page}.py").write_text(GATE_SCRIPT)
    return tmp_path


def _run(path: Path, username: str | None = None) -> AppTest:
    at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
    if username:
        at.session_state["auth_user"] = session_for(username)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _links(at: AppTest) -> list[tuple[str, str, str]]:
    return [(link.value, link.proto.page, link.proto.icon) for link in at.sidebar.page_link]


def test_streamlit_page_list_is_off_in_the_config():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showSidebarNavigation"] is False


@pytest.mark.parametrize("username", ["boss", "mgr", "ana", "shop"])
def test_nav_lists_exactly_the_pages_of_the_role(auth_on, gate_app, username):
    at = _run(gate_app / "app.py", username)
    expected = [p for p in MENU_ORDER if p in EXPECTED_PAGES[ROLE[username]]]
    links = _links(at)
    assert [label for label, _, _ in links] == expected
    # Overview is the app's root ("" in Streamlit's URL terms); the others their page name.
    assert [page for _, page, _ in links] == ["" if p == "Overview" else p for p in expected]
    assert all(icon.startswith(":material/") for _, _, icon in links)
    # The account box is still there, under the links.
    assert any(f"Signed in as **{username}**" in c.value for c in at.sidebar.caption)
    assert any(b.label == "Sign out" for b in at.sidebar.button)


def test_store_user_on_a_forbidden_page_keeps_the_nav_to_leave(auth_on, gate_app):
    at = _run(gate_app / "app.py", "shop")
    at.switch_page(f"pages/{MENU_ORDER.index('Data')}_Data.py").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Your role (Store user) cannot open the Data page."]
    assert [label for label, _, _ in _links(at)] == \
        ["Overview", "Forecast", "Accuracy", "Reorder", "Trends", "Ask", "Map", "Alerts"]


def test_nav_follows_to_another_page(auth_on, gate_app):
    at = _run(gate_app / "app.py", "mgr")
    at.switch_page("pages/4_Reorder.py").run()
    assert any(f"PAGE-OK Reorder {backend_class().__name__}" in m.value for m in at.markdown)
    assert "Admin" not in [label for label, _, _ in _links(at)]
    assert len(_links(at)) == len(MENU_ORDER) - 1


def test_no_nav_before_sign_in(auth_on, gate_app):
    at = _run(gate_app / "app.py")
    assert [s.value for s in at.subheader] == ["Sign in to MicroPulse"]
    assert not at.sidebar.page_link


def test_demo_mode_links_every_page(gate_app, auth_wh_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(auth_wh_path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = _run(gate_app / "app.py")
    assert [label for label, _, _ in _links(at)] == MENU_ORDER
    assert any("Demo mode" in c.value for c in at.sidebar.caption)


def test_page_file_run_on_its_own_has_no_links_and_no_error(auth_on, gate_app):
    """AppTest.from_file('pages/...') registers no pages: st.page_link would raise
    'Could not find page', so the nav is left out and the page still renders."""
    at = _run(gate_app / "pages" / "5_Sourcing.py", "ana")
    assert any(f"PAGE-OK Sourcing {backend_class().__name__}" in m.value
               for m in at.markdown)
    assert not at.sidebar.page_link and not at.error


def test_real_page_run_on_its_own_renders_without_links(auth_on):
    at = _run(REPO / "pages" / "9_Admin.py", "boss")
    assert [t.value for t in at.title] == ["Admin"]
    assert not at.sidebar.page_link


def test_real_app_draws_links_to_the_real_page_files(app_env):
    at = _run(REPO / "app.py")
    assert [label for label, _, _ in _links(at)] == MENU_ORDER


def test_outside_streamlit_nothing_is_registered_and_nothing_is_drawn():
    assert nav.registered_pages() == {}
    assert nav.render_nav(auth.DEMO_USER) == []


def test_nav_pages_keep_menu_order_and_skip_unregistered_pages():
    registered = {"Overview": "/a/app.py", "Map": "/a/pages/6_Map.py",
                  "Admin": "/a/pages/9_Admin.py", "Forecast": "/a/pages/1_Forecast.py"}
    assert nav.nav_pages(auth.User("s", "store", ("400001",)), registered) == \
        ["Overview", "Forecast", "Map"]
    assert nav.nav_pages(auth.DEMO_USER, registered) == ["Overview", "Forecast", "Map", "Admin"]
    assert set(nav.NAV_ICONS) == set(auth.PAGE_TITLES)
