"""Sessions that survive a refresh, in the app (AppTest): sign-in hands the browser a
session cookie, a NEW Streamlit session (what a refresh, a new tab or a deep link starts)
that sends it back is signed in without the form, sign-out deletes it and revokes it, and
the sign-in form locks a username per client. The browser itself is exercised in
tests/browser/test_session_refresh.py.

AppTest cannot send cookies or a client address, so these tests replace
`components.auth.request_cookies` / `client_address` (what the browser would have sent
when it connected) - the same two functions the app reads st.context through."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from components import auth as ui
from engine import auth
from engine import auth_sessions as sessions
from engine.warehouse.audit import read_audit_log
from engine.warehouse.db import Warehouse
from tests.test_auth_support import PASSWORD, auth_wh_path, fast_bcrypt  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
ADMIN = REPO / "pages" / "9_Admin.py"
TIMEOUT = 120
GATE_SCRIPT = """
import streamlit as st
from components.session import get_warehouse

wh = get_warehouse()
st.markdown("PAGE-OK")
"""


class Browser:
    """What one browser would send when it connects: its cookies and its address."""

    def __init__(self, address: str | None = None):
        self.cookies: dict[str, str] = {}
        self.address = address

    def store(self, at: AppTest) -> None:
        """Run the cookie scripts the app emitted, as the browser would."""
        for element in at.get("html"):
            body = element.proto.body
            for name, value in re.findall(r'document\.cookie = "([^=";]+)=([^;"]*)', body):
                if "Max-Age=0" in body.split(f'"{name}=')[1].split('"')[0]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value


@pytest.fixture(autouse=True)
def _env(auth_wh_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(auth_wh_path))
    monkeypatch.delenv("MICROPULSE_AUTH", raising=False)
    monkeypatch.delenv("MICROPULSE_SESSION_HOURS", raising=False)
    monkeypatch.delenv("MICROPULSE_SESSION_MAX_HOURS", raising=False)
    monkeypatch.setattr(auth, "failure_delay", lambda n: 0.0)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture()
def browser(monkeypatch) -> Browser:
    """The browser every AppTest of the test talks to (swap `.address` to move it)."""
    b = Browser()
    monkeypatch.setattr(ui, "request_cookies", lambda: dict(b.cookies))
    monkeypatch.setattr(ui, "client_address", lambda: b.address)
    return b


@pytest.fixture()
def gate_page(tmp_path) -> Path:
    path = tmp_path / "pages" / "4_Reorder.py"
    path.parent.mkdir()
    path.write_text(GATE_SCRIPT)
    return path


def _open(path: Path, browser: Browser | None = None) -> AppTest:
    """A new Streamlit session on `path` (a refresh, a new tab or a deep link)."""
    at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if browser is not None:
        browser.store(at)
    return at


def _sign_in(at: AppTest, username: str, password: str, browser: Browser) -> AppTest:
    at.text_input(key="mp_sign_in_user").input(username)
    at.text_input(key="mp_sign_in_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    browser.store(at)
    return at


def _on_form(at: AppTest) -> bool:
    return "Sign in to MicroPulse" in [s.value for s in at.subheader]


class _Wh:
    """Stands in for a warehouse handle where only its path matters (cookie names)."""

    def __init__(self, path):
        self.path = Path(path)


def test_sign_in_hands_the_browser_a_cookie_that_a_new_session_resumes(
        browser, gate_page, auth_wh_path):  # noqa: F811
    at = _sign_in(_open(ADMIN, browser), "boss", PASSWORD["boss"], browser)
    assert [t.value for t in at.title] == ["Admin"]
    name, device_name = ui.cookie_names(_Wh(auth_wh_path))
    token = browser.cookies[name]
    session = at.session_state["auth_user"]
    assert token.startswith(session["session_id"] + ".") and device_name in browser.cookies
    script = at.sidebar.get("html")[0].proto
    assert script.unsafe_allow_javascript
    assert "Path=/" in script.body and "SameSite=Strict" in script.body
    assert "Secure" in script.body                      # added on https

    # A refresh / a new tab / a deep link: a new session that knows only the cookie.
    for page in (ADMIN, gate_page):
        again = _open(page, browser)
        assert not _on_form(again)
        assert again.session_state["auth_user"]["session_id"] == session["session_id"]
        assert any("Signed in as **boss**" in c.value for c in again.sidebar.caption)
    assert "PAGE-OK" in [m.value for m in _open(gate_page, browser).markdown]


def test_without_the_cookie_a_new_session_shows_the_form(browser):
    at = _sign_in(_open(ADMIN, browser), "boss", PASSWORD["boss"], browser)
    assert not _on_form(at)
    browser.cookies.clear()                             # another browser
    assert _on_form(_open(ADMIN, browser))


def test_sign_out_deletes_the_cookie_and_its_token_never_signs_in_again(
        browser, auth_wh_path):  # noqa: F811
    at = _sign_in(_open(ADMIN, browser), "boss", PASSWORD["boss"], browser)
    name = ui.cookie_names(_Wh(auth_wh_path))[0]
    token = browser.cookies[name]
    other_tab = _open(ADMIN, browser)
    assert not _on_form(other_tab)
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    browser.store(at)
    assert _on_form(at) and name not in browser.cookies          # deleted in the browser
    other_tab.run()                                              # the other tab's next click
    assert _on_form(other_tab)
    assert any("You signed out (in this or another tab)" in i.value for i in other_tab.info)
    browser.cookies[name] = token                                # a copy kept somewhere
    copied = _open(ADMIN, browser)
    assert _on_form(copied) and "auth_user" not in copied.session_state
    assert any("You signed out" in i.value for i in copied.info)
    assert name not in browser.cookies                           # and the app deletes it
    wh = Warehouse(auth_wh_path)
    assert read_audit_log(wh, "auth.sign_out", actor="boss")["action"].tolist() == \
        ["auth.sign_out"]
    wh.close()


def test_expired_or_forged_cookie_shows_the_form_with_the_reason(
        browser, auth_wh_path):  # noqa: F811
    wh = Warehouse(auth_wh_path)
    old = sessions.start_session(wh, auth.User("mgr", "manager"),
                                 now=datetime.now() - timedelta(hours=12, minutes=1))
    wh.close()
    name = ui.cookie_names(_Wh(auth_wh_path))[0]
    browser.cookies[name] = old.token
    at = _open(ADMIN, browser)
    assert _on_form(at)
    assert any("Your session ended 12 hours after you signed in" in i.value for i in at.info)
    assert name not in browser.cookies
    browser.cookies[name] = old.session_id + "." + "x" * 43      # a guessed secret
    at = _open(ADMIN, browser)
    assert _on_form(at)
    assert any("not valid" in i.value for i in at.info)


def test_password_reset_ends_the_session_in_the_browser(browser, auth_wh_path):  # noqa: F811
    at = _sign_in(_open(ADMIN, browser), "mgr", PASSWORD["mgr"], browser)
    assert not _on_form(at)
    wh = Warehouse(auth_wh_path)
    auth.reset_password(wh, auth.User("boss", "admin"), "mgr", "another-long-secret")
    wh.close()
    refreshed = _open(ADMIN, browser)
    assert _on_form(refreshed)
    assert any("Your password was changed" in i.value for i in refreshed.info)
    at.run()
    assert _on_form(at)


def test_form_lock_out_is_per_client_and_says_how_long(browser):
    browser.address = "203.0.113.66"                             # the attacker
    at = _open(ADMIN, browser)
    for i in range(5):
        _sign_in(at, "boss", f"guess-number-{i}", browser)
    assert [e.value for e in at.error] == [
        "Too many failed sign-ins for this username from this device or network. "
        "Try again in 15 minutes."]
    _sign_in(at, "boss", PASSWORD["boss"], browser)
    assert _on_form(at) and "Try again in 15 minutes." in at.error[0].value
    browser.address = "198.51.100.7"                             # the admin, elsewhere
    admin = _sign_in(_open(ADMIN, browser), "boss", PASSWORD["boss"], browser)
    assert not _on_form(admin) and [t.value for t in admin.title] == ["Admin"]


def test_a_browser_that_signed_in_before_is_not_locked_by_its_neighbours(browser):
    """Same address for everyone (this machine, or one proxy): the admin's browser keeps
    its own count through its device cookie."""
    _sign_in(_open(ADMIN, browser), "boss", PASSWORD["boss"], browser)
    device = {k: v for k, v in browser.cookies.items() if k.startswith("mp_device_")}
    assert device
    browser.cookies.clear()                                      # attacker: no cookies
    at = _open(ADMIN, browser)
    for i in range(5):
        _sign_in(at, "boss", f"guess-number-{i}", browser)
    assert "Try again in 15 minutes." in at.error[0].value
    browser.cookies.clear()
    browser.cookies.update(device)                               # the admin's own browser
    admin = _sign_in(_open(ADMIN, browser), "boss", PASSWORD["boss"], browser)
    assert not _on_form(admin)


def test_cookie_names_belong_to_one_warehouse(tmp_path):
    a, b = ui.cookie_names(_Wh(tmp_path / "a.duckdb")), ui.cookie_names(_Wh(tmp_path / "b"))
    assert a != b and a == ui.cookie_names(_Wh(tmp_path / "a.duckdb"))
    assert a[0].startswith("mp_session_") and a[1].startswith("mp_device_")


def test_cookie_script_writes_only_cookie_safe_values():
    when = datetime(2026, 12, 2, 16, 0)
    script = ui.cookie_script({"mp_session_x": ("a" * 32 + ".b-_c" * 9, when)},
                              delete=("mp_old",))
    assert "Expires=" in script and "GMT" in script and "mp_old=; Max-Age=0" in script
    for bad in ('a" + alert(1) + "' * 3, "x" * 30 + "</script><script>alert(1)", "x;y" * 10):
        with pytest.raises(ValueError, match="unexpected characters"):
            ui.cookie_script({"mp_session_x": (bad, when)})


def test_admin_sees_open_sessions_and_signs_a_user_out_everywhere(browser):
    mgr_tab = _sign_in(_open(ADMIN), "mgr", PASSWORD["mgr"], Browser())  # on this computer
    assert [e.value for e in mgr_tab.error] == ["Your role (Manager) cannot open the Admin page."]
    browser.address = "198.51.100.7"                             # the admin, elsewhere
    at = _sign_in(_open(ADMIN, browser), "boss", PASSWORD["boss"], browser)
    table = next(d.value for d in at.dataframe if "Last activity" in d.value.columns)
    assert sorted(table["User"]) == ["boss", "mgr"]
    assert list(table.columns) == ["User", "Signed in", "Last activity", "Ends at the latest",
                                   "From"]
    assert set(table["From"]) == {"198.51.100.7", "this computer"}
    assert all(re.match(r"^\d{2}-[A-Z][a-z]{2}-\d{4}, \d{2}:\d{2}$", t)
               for t in table["Signed in"])
    at.selectbox(key="adm_who").select("mgr")
    at.run()
    next(b for b in at.button if b.label == "Sign mgr out everywhere").click()
    at.run()
    assert [s.value for s in at.success] == ["mgr is signed out everywhere."]
    table = next(d.value for d in at.dataframe if "Last activity" in d.value.columns)
    assert list(table["User"]) == ["boss"]
    mgr_tab.run()
    assert _on_form(mgr_tab)
    assert any("An administrator ended your session" in i.value for i in mgr_tab.info)
