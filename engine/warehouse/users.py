"""Users, sign-in throttling, sessions and service-account API keys: the SQL behind
`engine.auth` and the API's key management.

Auth writes (sign-ins, throttle counters, user changes, API keys) run in their own small
transactions that do NOT bump the warehouse's data version: signing in or issuing a key
changes no analytic data, so it must not empty every page's cache (and an anonymous
visitor typing wrong passwords must not be able to do that either). Each write and its
audit row commit together. Password hashes never leave this module except through
`get_user_row`, which `engine.auth` uses to check a password; `list_users` leaves the hash
out. Session rows hold only a SHA-256 of each session's secret (`get_session` returns it
for the constant-time comparison in `engine.auth`; `list_sessions` leaves it out). API keys
are stored only as SHA-256 hashes of their secret part (`api_keys.key_hash`); the plain key
is shown once, when it is issued."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from engine.warehouse.db import Warehouse, WarehouseError


SESSION_COLUMNS = ["session_id", "username", "created_at", "last_seen_at", "expires_at",
                   "revoked_at", "revoked_reason", "client"]
USER_COLUMNS = ["username", "role", "pin_codes", "disabled", "created_at", "updated_at",
                "password_changed_at", "created_by", "last_sign_in_at"]
_UPDATABLE = {"password_hash", "role", "pin_codes", "disabled", "password_changed_at"}


class AuthError(WarehouseError):
    """A sign-in or user-management problem, with a sentence for the person in front."""

    code = "auth_error"
    http_status = 400


class FirstRunClosed(AuthError):
    """The first-run admin form was submitted after a user already exists."""

    code = "first_run_closed"
    http_status = 409


def _write(wh: Warehouse):
    """One small transaction that leaves the data version alone (see module doc)."""
    return wh.transaction(touches=(), what="sign-in data")


def count_users(wh: Warehouse) -> int:
    return int(wh.scalar("SELECT count(*) FROM users"))


def get_user_row(wh: Warehouse, username: str) -> dict | None:
    """The full row, password hash included (for `engine.auth` only)."""
    df = wh.query("SELECT * FROM users WHERE username = ?", [username])
    return None if df.empty else df.iloc[0].to_dict()


def list_users(wh: Warehouse) -> pd.DataFrame:
    """Every user without the password hash, admins first."""
    return wh.query(f"SELECT {', '.join(USER_COLUMNS)} FROM users ORDER BY "
                    "CASE role WHEN 'admin' THEN 0 WHEN 'manager' THEN 1 WHEN 'analyst' "
                    "THEN 2 ELSE 3 END, username")


def count_active_admins(cur_or_wh, exclude: str | None = None) -> int:
    sql = "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND username <> ?"
    if isinstance(cur_or_wh, Warehouse):
        return int(cur_or_wh.scalar(sql, [exclude or ""]))
    return int(cur_or_wh.execute(sql, [exclude or ""]).fetchone()[0])


def insert_user(wh: Warehouse, row: dict, actor: str | None, action: str, details: dict,
                first_run: bool = False, now: datetime | None = None) -> None:
    """Insert one user and its audit row. With `first_run`, only while no user exists."""
    now = now or datetime.now()
    with _write(wh) as cur:
        if first_run and cur.execute("SELECT count(*) FROM users").fetchone()[0]:
            raise FirstRunClosed("An administrator already exists: sign in instead.")
        if cur.execute("SELECT count(*) FROM users WHERE username = ?",
                       [row["username"]]).fetchone()[0]:
            raise AuthError(f"A user called '{row['username']}' already exists.")
        cur.execute(
            "INSERT INTO users (username, password_hash, role, pin_codes, disabled, "
            "created_at, updated_at, password_changed_at, created_by) "
            "VALUES (?, ?, ?, ?, FALSE, ?, ?, ?, ?)",
            [row["username"], row["password_hash"], row["role"], row["pin_codes"], now, now,
             now, actor])
        wh.audit(cur, actor, action, details, now)


def update_user(wh: Warehouse, username: str, fields: dict, actor: str, action: str,
                details: dict, keep_an_admin: bool = False, now: datetime | None = None,
                revoke_sessions: str | None = None) -> None:
    """Change some of a user's columns and audit it in one transaction. With
    `keep_an_admin`, refuse when the change would leave no enabled admin. With
    `revoke_sessions` (a reason such as 'password_reset'), every open session of the user
    ends in the same transaction."""
    bad = set(fields) - _UPDATABLE
    if bad:
        raise ValueError(f"Cannot update user columns {sorted(bad)}")
    now = now or datetime.now()
    sets = ", ".join(f"{col} = ?" for col in fields)
    with _write(wh) as cur:
        if not cur.execute("SELECT count(*) FROM users WHERE username = ?",
                           [username]).fetchone()[0]:
            raise AuthError(f"There is no user called '{username}'.")
        if keep_an_admin and count_active_admins(cur, exclude=username) == 0:
            raise AuthError(f"'{username}' is the only enabled administrator; make "
                                 "another user an administrator first.")
        cur.execute(f"UPDATE users SET {sets}, updated_at = ? WHERE username = ?",
                    [*fields.values(), now, username])
        if revoke_sessions:
            ended = _revoke_user_sessions(cur, username, revoke_sessions, now)
            details = {**details, "sessions_ended": ended}
        wh.audit(cur, actor, action, details, now)


# Counted per (name as typed, client): `client` is "ip:<address>" (or "ip:local"), or
# "device:<hash>" for a browser that signed in to that name before (engine.auth decides).
def throttle_row(wh: Warehouse, username: str, client: str) -> dict | None:
    df = wh.query("SELECT failed_attempts, window_start, locked_until FROM "
                  "auth_client_throttle WHERE username = ? AND client = ?", [username, client])
    return None if df.empty else df.iloc[0].to_dict()


def record_failure(wh: Warehouse, username: str, client: str, now: datetime,
                   window: timedelta, max_attempts: int, lock_for: timedelta, action: str,
                   details: dict) -> tuple[int, datetime | None]:
    """Count a failed sign-in for `username` from `client` (failures older than `window`
    start a new count); the `max_attempts`-th failure inside the window locks that name
    for that client until now + `lock_for`. Other clients are not affected. Returns
    (failures in the window, locked_until or None)."""
    with _write(wh) as cur:
        row = cur.execute("SELECT failed_attempts, window_start FROM auth_client_throttle "
                          "WHERE username = ? AND client = ?", [username, client]).fetchone()
        if row is None or now - row[1] > window:
            attempts, start = 1, now
        else:
            attempts, start = row[0] + 1, row[1]
        locked = now + lock_for if attempts >= max_attempts else None
        if locked is not None:
            attempts, start = 0, now  # the lock is the penalty; count afresh after it
        cur.execute("INSERT INTO auth_client_throttle VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                    "(username, client) DO UPDATE SET failed_attempts = "
                    "excluded.failed_attempts, window_start = excluded.window_start, "
                    "locked_until = excluded.locked_until",
                    [username, client, attempts, start, locked])
        wh.audit(cur, username, action, {**details, "client": client, "locked_until": locked},
                 now)
    return (max_attempts if locked else attempts), locked


def record_success(wh: Warehouse, username: str, client: str, now: datetime) -> None:
    """Clear the failure count of this name from this client (only), note the sign-in."""
    with _write(wh) as cur:
        cur.execute("DELETE FROM auth_client_throttle WHERE username = ? AND client = ?",
                    [username, client])
        cur.execute("UPDATE users SET last_sign_in_at = ? WHERE username = ?", [now, username])
        wh.audit(cur, username, "auth.sign_in", {"client": client}, now)


def purge_throttle(wh: Warehouse, before: datetime) -> None:
    """Forget counters whose window and lock both ended before `before`."""
    with _write(wh) as cur:
        cur.execute("DELETE FROM auth_client_throttle WHERE window_start < ? AND "
                    "(locked_until IS NULL OR locked_until < ?)", [before, before])


def insert_session(wh: Warehouse, row: dict, now: datetime, keep_until: datetime) -> None:
    """Store a new session (its secret only as a hash) and drop rows that expired before
    `keep_until` (expired rows are kept a while: they mark the browsers a user signed in
    from, see `device_trusted`)."""
    with _write(wh) as cur:
        cur.execute("DELETE FROM auth_sessions WHERE expires_at < ?", [keep_until])
        cur.execute(
            "INSERT INTO auth_sessions (session_id, secret_hash, username, created_at, "
            "last_seen_at, expires_at, client, device_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [row["session_id"], row["secret_hash"], row["username"], now, now,
             row["expires_at"], row.get("client"), row.get("device_hash")])


def get_session(wh: Warehouse, session_id: str) -> dict | None:
    """The session row, secret hash included (for `engine.auth` only)."""
    df = wh.query("SELECT * FROM auth_sessions WHERE session_id = ?", [session_id])
    return None if df.empty else df.iloc[0].to_dict()


def touch_session(wh: Warehouse, session_id: str, now: datetime, every: timedelta) -> bool:
    """Move the session's last_seen_at to `now` when it is older than `every`. Best
    effort: skipped (False) while another write holds the warehouse, so a page never waits
    for an upload just to note activity; a skipped touch only makes the idle clock a
    little stricter."""
    lock = getattr(wh, "_write_lock", None)
    if wh.read_only or (lock is not None and not lock.acquire(blocking=False)):
        return False
    try:
        with _write(wh) as cur:
            cur.execute("UPDATE auth_sessions SET last_seen_at = ? WHERE session_id = ? AND "
                        "revoked_at IS NULL AND last_seen_at < ?",
                        [now, session_id, now - every])
        return True
    finally:
        if lock is not None:
            lock.release()


def revoke_session(wh: Warehouse, session_id: str, reason: str, actor: str | None,
                   now: datetime, action: str | None = None) -> bool:
    """End one session (no-op if it already ended); audit `action` if given. True when
    this call ended it."""
    with _write(wh) as cur:
        row = cur.execute("UPDATE auth_sessions SET revoked_at = ?, revoked_reason = ? "
                          "WHERE session_id = ? AND revoked_at IS NULL RETURNING username",
                          [now, reason, session_id]).fetchall()
        if action:
            wh.audit(cur, actor, action, {"session": session_id[:8], "reason": reason}, now)
    return bool(row)


def _revoke_user_sessions(cur, username: str, reason: str, now: datetime) -> int:
    rows = cur.execute("UPDATE auth_sessions SET revoked_at = ?, revoked_reason = ? "
                       "WHERE username = ? AND revoked_at IS NULL AND expires_at > ? "
                       "RETURNING session_id", [now, reason, username, now]).fetchall()
    return len(rows)


def revoke_user_sessions(wh: Warehouse, username: str, reason: str, actor: str | None,
                         now: datetime) -> int:
    """End every open session of `username` and audit it; the number ended."""
    with _write(wh) as cur:
        ended = _revoke_user_sessions(cur, username, reason, now)
        wh.audit(cur, actor, "auth.sessions_ended", {"username": username, "reason": reason,
                                                     "sessions_ended": ended}, now)
    return ended


def device_trusted(wh: Warehouse, username: str, device_hash: str, since: datetime) -> bool:
    """Did a browser with this device hash sign in as `username` since `since`?"""
    return bool(wh.scalar("SELECT count(*) FROM auth_sessions WHERE username = ? AND "
                          "device_hash = ? AND created_at >= ?",
                          [username, device_hash, since]))


def list_sessions(wh: Warehouse, now: datetime) -> pd.DataFrame:
    """Open sessions (not ended, not past their expiry), newest first, without hashes."""
    return wh.query(f"SELECT {', '.join(SESSION_COLUMNS)} FROM auth_sessions WHERE "
                    "revoked_at IS NULL AND expires_at > ? ORDER BY last_seen_at DESC",
                    [now])


def _key_write(wh: Warehouse):
    """A small transaction that leaves the data version alone (no page caches API keys)."""
    return wh.transaction(touches=(), what="API keys")


def insert_api_key(wh: Warehouse, key_id: str, key_hash: str, username: str,
                   actor: str | None) -> None:
    with _key_write(wh) as cur:
        cur.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, FALSE)",
                    [key_id, key_hash, username, datetime.now()])
        wh.audit(cur, actor, "api_key.create", {"key_id": key_id, "username": username})


def get_api_key(wh: Warehouse, key_id: str) -> dict | None:
    df = wh.query("SELECT key_id, key_hash, username, created_at, revoked FROM api_keys "
                  "WHERE key_id = ?", [key_id])
    return None if df.empty else df.iloc[0].to_dict()


def revoke_api_key(wh: Warehouse, key_id: str, actor: str | None) -> bool:
    """Mark a key revoked; False when no such key exists."""
    with _key_write(wh) as cur:
        n = cur.execute("SELECT count(*) FROM api_keys WHERE key_id = ?", [key_id]).fetchone()[0]
        if not n:
            return False
        cur.execute("UPDATE api_keys SET revoked = TRUE WHERE key_id = ?", [key_id])
        wh.audit(cur, actor, "api_key.revoke", {"key_id": key_id})
    return True


def list_api_keys(wh: Warehouse) -> pd.DataFrame:
    """Every key without its hash, newest first."""
    return wh.query("SELECT key_id, username, created_at, revoked FROM api_keys "
                    "ORDER BY created_at DESC, key_id")
