"""Sign-in UI and role gates: the sign-in and first-run forms, the sidebar account box,
and `current_user()` / `allowed(action)` for pages that disable buttons by role.

Session state (documented so tests and pages can rely on it):
- `st.session_state["auth_user"]` = {"username": str, "signed_in_at": epoch s,
  "last_seen": epoch s} while someone is signed in (`engine.auth.new_session`). Role and
  PIN codes are re-read from the warehouse on every run, so admin changes apply at once.
- `st.session_state["user"]` = the username (pages pass it on as the audit actor).
- `st.session_state["mp_pin_scope"]` = the store user's PIN codes (components/filters.py).
Signing in or out clears the whole session state, so nothing of one person's work is left
for the next person at the same browser.
"""
from __future__ import annotations

import sys
import time

import streamlit as st

from engine import auth
from engine.auth import DEMO_USER, AuthError, SessionEnded, User

SESSION_KEY = "auth_user"
USER_KEY = "user"
PIN_SCOPE_KEY = "mp_pin_scope"
_CURRENT = "_auth_current"
_FAILS = "_auth_failures"
_FLASH = "_auth_flash"


# ---- who is signed in -------------------------------------------------------------------------
def current_user() -> User | None:
    """The signed-in user (the admin "demo" when sign-in is off; None before sign-in)."""
    if not auth.auth_enabled():
        return DEMO_USER
    cur = st.session_state.get(_CURRENT)
    return User(cur["username"], cur["role"], tuple(cur["pin_codes"])) if cur else None


def allowed(action: str) -> bool:
    """May the current user do `action` (see engine.auth.ACTIONS)? True in demo mode."""
    user = current_user()
    return user is not None and auth.can(user, action)


def _set_current(user: User) -> None:
    st.session_state[_CURRENT] = {"username": user.username, "role": user.role,
                                  "pin_codes": list(user.pin_codes)}
    st.session_state[USER_KEY] = user.username


def _restart(flash: str | None = None) -> None:
    """Forget everything in this browser session (a different person may sit down next)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if flash:
        st.session_state[_FLASH] = flash


def _start(user: User) -> None:
    _restart()
    st.session_state[SESSION_KEY] = auth.new_session(user, time.time())
    _set_current(user)


# ---- which page is running --------------------------------------------------------------------
def page_from_frames() -> str | None:
    """__file__ of the page script up the call stack (Streamlit runs each page as a
    '__main__' module with __file__ set, under `streamlit run` and AppTest alike)."""
    frame = sys._getframe(1)
    while frame is not None:
        g = frame.f_globals
        if g.get("__name__") == "__main__" and g.get("__file__"):
            return str(g["__file__"])
        frame = frame.f_back
    return None


def page_from_context() -> str | None:
    """Script path of the current page from Streamlit's script-run context."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    info = ctx.pages_manager.get_pages().get(ctx.page_script_hash)
    return str(info["script_path"]) if info and info.get("script_path") else \
        str(ctx.main_script_path)


def current_page() -> str:
    """Page key ('Overview', 'Pricing', ...) of the running page; '?' if unknown."""
    path = page_from_frames() or page_from_context()
    return auth.page_key(path) if path else "?"


# ---- the gate ---------------------------------------------------------------------------------
def signed_in_user(wh) -> User:
    """The signed-in user; otherwise draws the sign-in (or first-run) form and stops."""
    session = st.session_state.get(SESSION_KEY)
    if session:
        now = time.time()
        try:
            user = auth.resume_session(wh, session, now)
        except SessionEnded as exc:
            auth.sign_out(wh, str(session.get("username")), "auth.session_ended")
            _restart(str(exc))
        else:
            session["last_seen"] = now
            _set_current(user)
            return user
    st.session_state.pop(_CURRENT, None)
    if auth.needs_first_admin(wh):
        first_run_form(wh)
    else:
        sign_in_form(wh)
    st.stop()


def sign_in_form(wh) -> None:
    st.subheader("Sign in to MicroPulse")
    flash = st.session_state.pop(_FLASH, None)
    if flash:
        st.info(flash, icon=":material/info:")
    with st.form("mp_sign_in", clear_on_submit=True):
        username = st.text_input("Username", key="mp_sign_in_user")
        password = st.text_input("Password", type="password", key="mp_sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    fails = int(st.session_state.get(_FAILS, 0))
    time.sleep(auth.failure_delay(fails))
    try:
        user = auth.authenticate(wh, username, password)
    except AuthError as exc:
        st.session_state[_FAILS] = fails + 1
        st.error(str(exc), icon=":material/lock:")
        return
    _start(user)
    st.rerun()


def first_run_form(wh) -> None:
    st.subheader("Create the MicroPulse administrator")
    st.caption("No users exist yet. The administrator signs in with this name and password "
               "and then adds everyone else on the Admin page. There is no default password.")
    with st.form("mp_first_admin", clear_on_submit=True):
        username = st.text_input("Administrator username", key="mp_first_user")
        password = st.text_input("Password (at least 10 characters)", type="password",
                                 key="mp_first_password")
        confirm = st.text_input("Repeat the password", type="password",
                                key="mp_first_confirm")
        submitted = st.form_submit_button("Create administrator", type="primary")
    if not submitted:
        return
    if password != confirm:
        st.error("The two passwords are not the same; type them again.")
        return
    try:
        user = auth.create_first_admin(wh, username, password)
    except AuthError as exc:
        st.error(str(exc))
        return
    auth.audit(wh, user, "auth.sign_in", {"first_run": True})
    _start(user)
    st.rerun()


def _sign_out(wh, username: str) -> None:
    auth.sign_out(wh, username)
    _restart("You have signed out.")


def account_box(wh, user: User) -> None:
    """Signed-in user, role, PIN codes and the sign-out button, in the sidebar."""
    if not auth.auth_enabled():
        st.sidebar.caption("Demo mode: sign-in is off (MICROPULSE_AUTH=off).")
        return
    text = f"Signed in as **{user.username}** · {user.role_label}"
    if user.is_scoped:
        text += f" · PIN {', '.join(user.pin_codes)}"
    st.sidebar.caption(text)
    st.sidebar.button("Sign out", key="mp_sign_out", icon=":material/logout:",
                      on_click=_sign_out, args=(wh, user.username))


def page_gate(user: User, page: str) -> None:
    """Stop the page with a sentence when the user's role may not open it."""
    if not auth.can_open_page(user, page):
        st.error(auth.page_denied_message(user, page), icon=":material/block:")
        st.stop()
