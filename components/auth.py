"""Sign-in UI and role gates: the sign-in and first-run forms, the sidebar account box,
and `current_user()` / `allowed(action)` for pages that disable buttons by role.

Session state (documented so tests and pages can rely on it):
- `st.session_state["auth_user"]` = {"username": str, "signed_in_at": epoch s,
  "last_seen": epoch s, "session_id": str, "expires_at": epoch s} while someone is signed
  in (`engine.auth_sessions.new_session`). Role and PIN codes are re-read from the
  warehouse on every run, so admin changes apply at once; the session record is checked
  too, so signing out in one tab ends the others on their next click.
- `st.session_state["user"]` = the username (pages pass it on as the audit actor).
- `st.session_state["mp_pin_scope"]` = the store user's PIN codes (components/filters.py).
Signing in or out clears the whole session state, so nothing of one person's work is left
for the next person at the same browser (only this browser's device id and the cookie
this connection already used are kept).

Staying signed in across a refresh, a new tab or a deep link (e.g. /Reorder): Streamlit
starts a new session for each of them, so the sign-in lives in a cookie the browser sends
when it connects, read with `st.context.cookies`. Streamlit cannot set cookies itself; a
few lines of script in `st.html(unsafe_allow_javascript=True)` (no iframe, no download)
set them after sign-in and delete the session cookie at sign-out. Both names end in a
digest of the warehouse path (`cookie_names`), so two apps on one host never clash:
- `mp_session_<tag>`: the session token (`engine.auth_sessions`), Path=/,
  SameSite=Strict, Secure on https, expiring with the session. The token alone proves
  nothing: the server-side record must be open, so a signed-out or expired token never
  signs in again.
- `mp_device_<tag>`: a random id of this browser (90 days). A browser that signed in to a
  username before has its own failed-sign-in count for it (engine.auth.throttle_client),
  so someone else's wrong passwords cannot lock the user out here.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from components.admin_views import when
from engine import auth
from engine import auth_sessions as sessions
from engine.auth import DEMO_USER, AuthError, SessionEnded, User

SESSION_KEY = "auth_user"
USER_KEY = "user"
PIN_SCOPE_KEY = "mp_pin_scope"
_CURRENT = "_auth_current"
_FAILS = "_auth_failures"
_FLASH = "_auth_flash"
_COOKIE = "_auth_cookie"      # {"token", "expires"} the browser should hold for this session
_DEVICE = "_auth_device"      # this browser's device id (kept across sign-in and sign-out)
_SPENT = "_auth_spent_cookie"  # the session cookie this connection already tried
_FORGET = "_auth_forget_cookie"  # delete the session cookie on the next run
_KEEP = (_DEVICE, _SPENT)
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9._-]{20,100}$")
DEVICE_DAYS = 90


# ---- cookies ----------------------------------------------------------------------------------
def cookie_names(wh) -> tuple[str, str]:
    """(session cookie, device cookie) names for this warehouse."""
    tag = hashlib.sha256(str(Path(wh.path).resolve()).encode()).hexdigest()[:10]
    return f"mp_session_{tag}", f"mp_device_{tag}"


def request_cookies() -> dict[str, str]:
    """Cookies the browser sent when this connection opened (empty under AppTest)."""
    return dict(st.context.cookies)


def client_address() -> str | None:
    """The browser's network address (None for this machine, see st.context.ip_address)."""
    return st.context.ip_address


def cookie_script(set_cookies: dict[str, tuple[str, datetime]],
                  delete: tuple[str, ...] = ()) -> str:
    """A <script> that sets each name -> (value, expiry) and deletes `delete`; Path=/ so
    every page (and a deep link) sends them, SameSite=Strict, Secure on https. Only
    cookie-safe values are written (tokens and ids are [A-Za-z0-9._-])."""
    lines = []
    for name, (value, expires) in set_cookies.items():
        if not _COOKIE_VALUE.match(value):
            raise ValueError(f"Refusing to write cookie {name!r}: unexpected characters")
        when = format_datetime(expires.astimezone(timezone.utc), usegmt=True)
        lines.append(f"document.cookie = {json.dumps(f'{name}={value}; Expires={when}')}"
                     " + tail;")
    for name in delete:
        lines.append(f"document.cookie = {json.dumps(f'{name}=; Max-Age=0')} + tail;")
    body = "\n".join(lines).replace("</", "<\\/")
    return ("<script>(function () {\n"
            "var tail = '; Path=/; SameSite=Strict' + "
            "(window.location.protocol === 'https:' ? '; Secure' : '');\n"
            f"{body}\n}})();</script>")


def _emit(where, script: str) -> None:
    where.html(script, unsafe_allow_javascript=True)


def _device(wh) -> str | None:
    """This browser's device id: from this session, else its cookie (if well-formed)."""
    device = st.session_state.get(_DEVICE) or request_cookies().get(cookie_names(wh)[1])
    return device if device and _COOKIE_VALUE.match(device) else None


def _client() -> str:
    return auth.client_id(client_address())


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


def _restart(flash: str | None = None, forget_cookie: bool = False) -> None:
    """Forget everything in this browser session (a different person may sit down next),
    except this browser's device id and which cookie this connection already used."""
    keep = {key: st.session_state[key] for key in _KEEP if key in st.session_state}
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state.update(keep)
    if flash:
        st.session_state[_FLASH] = flash
    if forget_cookie:
        st.session_state[_FORGET] = True


def _start(wh, user: User) -> None:
    """Record a session for `user`, keep it in this browser session and (next run) in the
    browser's cookie."""
    device = _device(wh) or sessions.new_device_token()
    issued = sessions.start_session(wh, user, client=_client(), device=device)
    _restart()
    st.session_state[SESSION_KEY] = sessions.new_session(user, time.time(), issued)
    st.session_state[_COOKIE] = {"token": issued.token,
                                 "expires": issued.expires_at.timestamp()}
    st.session_state[_DEVICE] = device
    _set_current(user)


def _resume_from_cookie(wh, now: float) -> User | None:
    """The user of the session cookie the browser sent (a refresh, a new tab, a deep
    link), or None. A cookie is tried once per connection; a refused one is deleted."""
    token = request_cookies().get(cookie_names(wh)[0])
    if not token or token == st.session_state.get(_SPENT):
        return None
    st.session_state[_SPENT] = token
    try:
        user, session = sessions.resume_token(wh, token, now)
    except SessionEnded as exc:
        st.session_state[_FORGET] = True
        st.session_state.setdefault(_FLASH, str(exc))
        return None
    st.session_state[SESSION_KEY] = session
    st.session_state[_COOKIE] = {"token": token, "expires": session["expires_at"]}
    _set_current(user)
    return user


def session_cookie_html(wh) -> str | None:
    """The script that stores this session's cookies in the browser (None without one)."""
    cookie = st.session_state.get(_COOKIE)
    device = st.session_state.get(_DEVICE)
    if not cookie:
        return None
    session_name, device_name = cookie_names(wh)
    expires = datetime.fromtimestamp(float(cookie["expires"]))
    sets = {session_name: (cookie["token"], expires)}
    if device:
        sets[device_name] = (device, expires + timedelta(days=DEVICE_DAYS))
    return cookie_script(sets)


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
    now = time.time()
    if session:
        try:
            user = sessions.resume_session(wh, session, now)
        except SessionEnded as exc:
            sessions.sign_out(wh, str(session.get("username")), "auth.session_ended",
                              session.get("session_id"))
            _restart(str(exc), forget_cookie=True)
        else:
            session["last_seen"] = now
            _set_current(user)
            return user
    else:
        user = _resume_from_cookie(wh, now)
        if user is not None:
            return user
    st.session_state.pop(_CURRENT, None)
    if auth.needs_first_admin(wh):
        first_run_form(wh)
    else:
        sign_in_form(wh)
    if st.session_state.pop(_FORGET, False):
        _emit(st, cookie_script({}, delete=(cookie_names(wh)[0],)))
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
        user = auth.authenticate(wh, username, password, client=_client(),
                                 device=_device(wh))
    except AuthError as exc:
        st.session_state[_FAILS] = fails + 1
        st.error(str(exc), icon=":material/lock:")
        return
    _start(wh, user)
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
    _start(wh, user)
    st.rerun()


def _sign_out(wh, username: str) -> None:
    """End this session everywhere (its record is revoked) and forget it here."""
    session = st.session_state.get(SESSION_KEY) or {}
    sessions.sign_out(wh, username, session_id=session.get("session_id"))
    _restart("You have signed out.", forget_cookie=True)


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
    script = session_cookie_html(wh)
    if script:
        _emit(st.sidebar, script)


def sessions_frame(open_sessions: pd.DataFrame) -> pd.DataFrame:
    """Open sessions as the Admin page shows them: who, since when, last activity, when
    the session ends at the latest, and from where (never a token or its hash)."""
    def where(client) -> str:
        text = "" if client is None or client != client else str(client)
        return "this computer" if text == "ip:local" else (text.removeprefix("ip:") or "—")

    return pd.DataFrame({
        "User": open_sessions["username"].to_numpy(),
        "Signed in": [when(t) for t in open_sessions["created_at"]],
        "Last activity": [when(t) for t in open_sessions["last_seen_at"]],
        "Ends at the latest": [when(t) for t in open_sessions["expires_at"]],
        "From": [where(c) for c in open_sessions["client"]]})


def page_gate(user: User, page: str) -> None:
    """Stop the page with a sentence when the user's role may not open it."""
    if not auth.can_open_page(user, page):
        st.error(auth.page_denied_message(user, page), icon=":material/block:")
        st.stop()
