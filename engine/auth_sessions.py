"""App sign-in sessions: the records behind "stay signed in across a refresh, a new tab
and a deep link" (no Streamlit here; the browser side is components/auth.py).

- `start_session` (after a successful sign-in) stores a session and returns its token
  "<session_id>.<secret>": a 128-bit id and a 256-bit secret from `secrets`, so it cannot
  be guessed or forged. The warehouse (`auth_sessions`) keeps only the secret's SHA-256,
  compared in constant time by `resume_token`.
- A session ends after MICROPULSE_SESSION_HOURS (default 8) without activity and at the
  latest MICROPULSE_SESSION_MAX_HOURS (default 12) after sign-in; both are checked on the
  server record, so a browser cannot extend them.
- Sign-out (`end_session` / `sign_out`), a password reset and disabling the user revoke
  the record (the last two for every session of that user, in the same transaction as
  the change), so a signed-out, copied or expired token never signs in again.
- `resume_session` re-reads the user on every call: a new role or new PIN codes apply on
  the next click.
"""
from __future__ import annotations

import hmac
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.auth import (SessionEnded, User, secret_digest, local_epoch, existing_user_row, user_from_row,
                         require)
from engine.warehouse.audit import write_audit
from engine.warehouse.db import Warehouse
from engine.warehouse.users import (get_session, get_user_row, insert_session, list_sessions,
                                    revoke_session, revoke_user_sessions, touch_session)

DEFAULT_SESSION_HOURS = 8.0         # idle timeout
DEFAULT_SESSION_MAX_HOURS = 12.0    # absolute lifetime of an app session
SESSION_TOUCH = timedelta(seconds=60)   # how often a session's last activity is written
KEEP_SESSION_ROWS = timedelta(days=90)  # expired rows kept this long (trusted devices)


def _env_hours(name: str, default: float) -> float:
    try:
        hours = float(os.environ.get(name, default))
    except ValueError:
        return default
    return hours if hours > 0 and math.isfinite(hours) else default


def hours_text(hours: float) -> str:
    """'1 hour', '8 hours', '0.5 hours'."""
    return "1 hour" if hours == 1 else f"{hours:g} hours"


def session_hours() -> float:
    """Idle timeout of a session in hours (MICROPULSE_SESSION_HOURS, default 8)."""
    return _env_hours("MICROPULSE_SESSION_HOURS", DEFAULT_SESSION_HOURS)


def session_max_hours() -> float:
    """Absolute lifetime of an app session in hours (MICROPULSE_SESSION_MAX_HOURS,
    default 12): after it the browser's saved session no longer signs in."""
    return _env_hours("MICROPULSE_SESSION_MAX_HOURS", DEFAULT_SESSION_MAX_HOURS)


@dataclass(frozen=True)
class IssuedSession:
    """A new app session: `token` goes to the browser (cookie), the rest is for display."""

    token: str
    session_id: str
    username: str
    created_at: datetime
    expires_at: datetime


_TOKEN_RE = re.compile(r"^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")
_INACTIVE = "Your account is no longer active. Ask your MicroPulse administrator."
_PASSWORD_CHANGED = "Your password was changed. Sign in with the new password."
_INVALID_TOKEN = "Your saved sign-in is not valid (any more). Sign in again."
_REVOKED = {  # auth_sessions.revoked_reason -> what the person is told
    "sign_out": "You signed out (in this or another tab). Sign in again.",
    "password_reset": _PASSWORD_CHANGED,
    "account_disabled": _INACTIVE,
    "admin": "An administrator ended your session. Sign in again.",
}


def new_device_token() -> str:
    """A browser's device cookie value (256 random bits)."""
    return secrets.token_urlsafe(32)


def start_session(wh: Warehouse, user: User, now: datetime | None = None,
                  client: str | None = None, device: str | None = None) -> IssuedSession:
    """Record a new session for `user` (after `authenticate` or first-run) and return its
    token. `device` (the browser's device cookie) is stored as a hash so the next sign-in
    from this browser is counted apart from its network (see `throttle_client`)."""
    now = now or datetime.now()
    session_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
    expires = now + timedelta(hours=session_max_hours())
    insert_session(wh, {"session_id": session_id, "secret_hash": secret_digest(secret),
                              "username": user.username, "expires_at": expires,
                              "client": client,
                              "device_hash": secret_digest(device) if device else None},
                         now, keep_until=now - KEEP_SESSION_ROWS)
    return IssuedSession(f"{session_id}.{secret}", session_id, user.username, now, expires)


def new_session(user: User, now: float, issued: IssuedSession | None = None) -> dict:
    """What st.session_state["auth_user"] holds: epoch seconds of sign-in and last use,
    and for a recorded session its id and absolute expiry (epoch seconds)."""
    session = {"username": user.username, "signed_in_at": now, "last_seen": now}
    if issued is not None:
        session.update(session_id=issued.session_id,
                       signed_in_at=issued.created_at.timestamp(),
                       expires_at=issued.expires_at.timestamp())
    return session


def _expired(created: float, expires: float) -> SessionEnded:
    lifetime = round((expires - created) / 3600, 2)
    return SessionEnded(f"Your session ended {hours_text(lifetime)} after you signed in "
                        "(the longest a session lasts). Sign in again.")


def _check_record(record: dict | None, now: datetime, idle_hours: float) -> None:
    """Raise SessionEnded unless the session record is open, unexpired and recently used."""
    if record is None:
        raise SessionEnded(_INVALID_TOKEN)
    if _present(record.get("revoked_at")):
        raise SessionEnded(_REVOKED.get(str(record.get("revoked_reason")),
                                        "This session has ended. Sign in again."))
    if now >= _naive(record["expires_at"]):
        raise _expired(_naive(record["created_at"]).timestamp(),
                       _naive(record["expires_at"]).timestamp())
    if now - _naive(record["last_seen_at"]) > timedelta(hours=idle_hours):
        raise SessionEnded(f"You were signed out after {hours_text(idle_hours)} without "
                           "activity. Sign in again.")


def resume_session(wh: Warehouse, session: dict, now: float,
                   idle_hours: float | None = None) -> User:
    """The user behind a session, re-read from the warehouse (so a disabled account, a new
    role or new PIN codes take effect on the next click). A session with a `session_id`
    is also checked against its record (signed out elsewhere, expired, idle), and its
    activity is noted there. Raises SessionEnded."""
    hours = idle_hours if idle_hours is not None else session_hours()
    if now - float(session.get("last_seen", 0)) > hours * 3600:
        raise SessionEnded(f"You were signed out after {hours_text(hours)} without "
                           "activity. Sign in again.")
    expires = session.get("expires_at")
    if expires is not None and now >= float(expires):
        raise _expired(float(session.get("signed_in_at", expires)), float(expires))
    session_id = session.get("session_id")
    when = datetime.fromtimestamp(now)
    if session_id:
        _check_record(get_session(wh, str(session_id)), when, hours)
    row = get_user_row(wh, str(session.get("username", "")))
    if row is None or row["disabled"]:
        raise SessionEnded(_INACTIVE)
    changed = local_epoch(row["password_changed_at"])
    if changed is not None and changed > float(session.get("signed_in_at", 0)):
        raise SessionEnded(_PASSWORD_CHANGED)
    if session_id:
        touch_session(wh, str(session_id), when, SESSION_TOUCH)
    return user_from_row(row)


def resume_token(wh: Warehouse, token: str, now: float | None = None) -> tuple[User, dict]:
    """The user and session dict behind a browser's session token (a refresh, a new tab,
    a deep link). Raises SessionEnded for a malformed, unknown, forged, signed-out or
    expired token, with a sentence to show."""
    now = datetime.now().timestamp() if now is None else now
    match = _TOKEN_RE.match(str(token or "").strip())
    if not match:
        raise SessionEnded(_INVALID_TOKEN)
    session_id, secret = match.groups()
    record = get_session(wh, session_id)
    if record is None or not hmac.compare_digest(str(record["secret_hash"]),
                                                 secret_digest(secret)):
        raise SessionEnded(_INVALID_TOKEN)
    session = {"username": str(record["username"]), "last_seen": now,
               "signed_in_at": _naive(record["created_at"]).timestamp(),
               "session_id": session_id,
               "expires_at": _naive(record["expires_at"]).timestamp()}
    return resume_session(wh, session, now), session


def end_session(wh: Warehouse, session_id: str, reason: str = "sign_out",
                actor: str | None = None) -> bool:
    """Revoke one session (sign-out, or an administrator ending it); its token never
    signs in again. True when this call ended it."""
    return revoke_session(wh, session_id, reason, actor, datetime.now())


def end_sessions_of(wh: Warehouse, actor: User, username: str) -> int:
    """An administrator signs a user out everywhere; the number of sessions ended."""
    require(actor, "manage_users")
    row = existing_user_row(wh, username)
    return revoke_user_sessions(wh, row["username"], "admin", actor.username,
                                      datetime.now())


def open_sessions(wh: Warehouse, actor: User):
    """Open app sessions (who, since when, last activity, expiry, client); admins only."""
    require(actor, "manage_users")
    return list_sessions(wh, datetime.now())


def _present(value) -> bool:
    """Not None / NaT / NaN (a NULL read back through pandas)."""
    return value is not None and value == value


def _naive(value) -> datetime:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def sign_out(wh: Warehouse, username: str, reason: str = "auth.sign_out",
             session_id: str | None = None) -> None:
    """Audit the end of a session (`reason` is the audit action) and revoke its record."""
    if session_id:
        revoke_session(wh, session_id, "sign_out" if reason == "auth.sign_out"
                             else "session_ended", username, datetime.now())
    write_audit(wh, username, reason)
