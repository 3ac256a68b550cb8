"""Browser test of sign-in sessions (issues 25 and 26): with sign-in ON, a signed-in user
stays signed in across a reload, a new tab, a deep link (/Reorder) and the sidebar's page
links; sign-out ends the session in every tab and its token never signs in again; and
someone typing wrong passwords for a user from another browser (same machine, so the
same address) cannot lock that user out of the browser they signed in from before.

The app runs on a copy of the small demo with one user per role (tests/test_auth_support);
each test opens fresh browser contexts (their own cookie jars) in Debian's Chromium. The
flows start on light pages (Admin, Data): the overview's WebGL map can keep a software-
rendered headless page busy for many seconds on a loaded machine."""
from __future__ import annotations

import shutil

import pytest

from engine import auth
from engine.warehouse.db import Warehouse
from tests.browser.conftest import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, EXCEPTION,
                                    exception_text, require_browser, settle, start_app)
from tests.test_auth_support import PASSWORD, seed_users

pytestmark = pytest.mark.browser

SIDEBAR = '[data-testid="stSidebar"]'
NAV_LINK = f'{SIDEBAR} [data-testid="stPageLink-NavLink"]'


@pytest.fixture(scope="module")
def auth_app_url(small_warehouse_path, tmp_path_factory):
    require_browser()
    path = tmp_path_factory.mktemp("session_browser") / "auth.duckdb"
    shutil.copy(small_warehouse_path, path)
    rounds, auth.BCRYPT_ROUNDS = auth.BCRYPT_ROUNDS, 4   # cheap hashes for the seeded users
    try:
        wh = Warehouse(path)
        seed_users(wh)
        wh.close()
    finally:
        auth.BCRYPT_ROUNDS = rounds
    with start_app(path, {"MICROPULSE_AUTH": "on"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser(auth_app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    ctx.set_default_timeout(90_000)
    return ctx


def _session_cookies(ctx) -> list[dict]:
    return [c for c in ctx.cookies() if c["name"].startswith("mp_session_")]


def _wait_signed_in(pg, username: str) -> None:
    pg.locator(SIDEBAR).get_by_text(f"Signed in as {username}").wait_for(timeout=60_000)
    settle(pg)
    assert pg.locator(EXCEPTION).count() == 0, exception_text(pg)


def _wait_sign_in_form(pg) -> None:
    pg.get_by_text("Sign in to MicroPulse").wait_for(timeout=60_000)
    settle(pg)


def _sign_in(pg, username: str, password: str) -> None:
    _wait_sign_in_form(pg)
    pg.get_by_role("textbox", name="Username").fill(username)
    pg.get_by_role("textbox", name="Password").fill(password)
    pg.get_by_role("button", name="Sign in").click()


def _wait_cookie(pg, ctx, present: bool = True) -> list[dict]:
    for _ in range(40):
        cookies = _session_cookies(ctx)
        if bool(cookies) == present:
            return cookies
        pg.wait_for_timeout(250)
    raise AssertionError(f"session cookie {'never set' if present else 'not deleted'}: "
                         f"{ctx.cookies()}")


def test_session_survives_reload_new_tab_deep_link_and_page_links(browser, auth_app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = _context(browser)
    pg = ctx.new_page()
    pg.goto(f"{auth_app_url}/Admin")
    _sign_in(pg, "boss", PASSWORD["boss"])
    _wait_signed_in(pg, "boss")
    cookie = _wait_cookie(pg, ctx)[0]
    assert cookie["path"] == "/" and cookie["sameSite"] == "Strict"
    assert cookie["expires"] > 0   # a dated cookie: it outlives the tab

    pg.reload()                                       # a refresh
    _wait_signed_in(pg, "boss")
    assert pg.get_by_text("Sign in to MicroPulse").count() == 0
    pg.get_by_role("heading", name="Admin").first.wait_for(timeout=60_000)

    tab = ctx.new_page()                              # a new tab, straight to a deep link
    tab.goto(f"{auth_app_url}/Reorder")
    _wait_signed_in(tab, "boss")
    assert tab.url.endswith("/Reorder")
    tab.get_by_role("heading", name="Reorder planning").first.wait_for(timeout=60_000)
    assert tab.get_by_text("Sign in to MicroPulse").count() == 0

    tab.locator(NAV_LINK).filter(has=tab.get_by_text("Data", exact=True)).click()
    tab.wait_for_url(f"{auth_app_url}/Data", timeout=60_000)
    _wait_signed_in(tab, "boss")                      # page links keep the session
    tab.get_by_role("heading", name="Data").first.wait_for(timeout=60_000)

    token = cookie["value"]
    pg.locator(SIDEBAR).get_by_role("button", name="Sign out").click()
    pg.get_by_text("You have signed out.").wait_for(timeout=60_000)
    _wait_cookie(pg, ctx, present=False)              # the cookie is deleted...
    tab.reload()
    _wait_sign_in_form(tab)                           # ...and no tab is signed in any more

    # A copy of the signed-out token (say, taken from the browser before sign-out) is
    # refused by the server: the record was revoked.
    thief = _context(browser)
    thief.add_cookies([{**cookie, "value": token}])
    tpg = thief.new_page()
    tpg.goto(f"{auth_app_url}/Reorder")
    _wait_sign_in_form(tpg)
    tpg.get_by_text("You signed out").wait_for(timeout=30_000)
    assert tpg.locator(SIDEBAR).get_by_text("Signed in as").count() == 0
    thief.close()
    ctx.close()


def test_wrong_passwords_elsewhere_do_not_lock_a_user_out_of_their_own_browser(
        browser, auth_app_url):
    admin = _context(browser)
    apg = admin.new_page()
    apg.goto(f"{auth_app_url}/Data")
    _sign_in(apg, "mgr", PASSWORD["mgr"])             # this browser signed in before
    _wait_signed_in(apg, "mgr")
    _wait_cookie(apg, admin)
    apg.locator(SIDEBAR).get_by_role("button", name="Sign out").click()
    apg.get_by_text("You have signed out.").wait_for(timeout=60_000)

    attacker = _context(browser)                      # same machine, same address
    xpg = attacker.new_page()
    xpg.goto(f"{auth_app_url}/Data")
    for i in range(5):
        _sign_in(xpg, "mgr", f"guess-{i}-wrong")
        # The form waits auth.failure_delay(i) s before checking; let the run finish
        # before the next attempt (the error box of the last one is still on screen).
        xpg.wait_for_timeout(1000 + 1000 * auth.failure_delay(i))
        xpg.locator('[data-testid="stAlertContentError"]').first.wait_for(timeout=60_000)
        settle(xpg)
    message = xpg.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert "Too many failed sign-ins" in message and "Try again in 15 minutes." in message
    _sign_in(xpg, "mgr", PASSWORD["mgr"])             # locked here, even with the password
    xpg.get_by_text("Try again in 15 minutes.").wait_for(timeout=60_000)
    assert xpg.locator(SIDEBAR).get_by_text("Signed in as").count() == 0
    xpg.screenshot(path=str(ARTIFACTS / "session_attacker_locked.png"))

    apg.reload()                                      # the real user's own browser
    _sign_in(apg, "mgr", PASSWORD["mgr"])
    _wait_signed_in(apg, "mgr")
    attacker.close()
    admin.close()
