"""Users, sign-in throttling and the audit log: the SQL behind `engine.auth`.

Auth writes (sign-ins, throttle counters, user changes) run in their own small
transactions that do NOT bump the warehouse's data version: signing in changes no
analytic data, so it must not empty every page's cache (and an anonymous visitor typing
wrong passwords must not be able to do that either). Each write and its audit row commit
together. Password hashes never leave this module except through `get_user_row`, which
`engine.auth` uses to check a password; `list_users` leaves the hash out.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd

from engine.warehouse.db import Warehouse, WarehouseError

USER_COLUMNS = ["username", "role", "pin_codes", "disabled", "created_at", "updated_at",
                "password_changed_at", "created_by", "last_sign_in_at"]
_UPDATABLE = {"password_hash", "role", "pin_codes", "disabled", "password_changed_at"}


class AuthError(WarehouseError):
    """A sign-in or user-management problem, with a sentence for the person in front."""


class FirstRunClosed(AuthError):
    """The first-run admin form was submitted after a user already exists."""


def _write(wh: Warehouse):
    """One small transaction that leaves the data version alone (see module doc)."""
    if wh.read_only:
        raise WarehouseError("This warehouse was opened read-only; sign-in data cannot be "
                             "written. Open it read-write.")
    return wh.transaction(bump_version=False)


def _audit(cur, actor: str | None, action: str, details: dict | None, now: datetime) -> None:
    text = None if details is None else json.dumps(details, sort_keys=True, default=str)
    cur.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?)", [now, actor, action, text])


def write_audit(wh: Warehouse, actor: str | None, action: str, details: dict | None = None,
                now: datetime | None = None) -> None:
    with _write(wh) as cur:
        _audit(cur, actor, action, details, now or datetime.now())


# ---- users ------------------------------------------------------------------------------------
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
        _audit(cur, actor, action, details, now)


def update_user(wh: Warehouse, username: str, fields: dict, actor: str, action: str,
                details: dict, keep_an_admin: bool = False, now: datetime | None = None
                ) -> None:
    """Change some of a user's columns and audit it in one transaction. With
    `keep_an_admin`, refuse when the change would leave no enabled admin."""
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
        _audit(cur, actor, action, details, now)


# ---- sign-in throttle -------------------------------------------------------------------------
def throttle_row(wh: Warehouse, username: str) -> dict | None:
    df = wh.query("SELECT failed_attempts, window_start, locked_until FROM auth_throttle "
                  "WHERE username = ?", [username])
    return None if df.empty else df.iloc[0].to_dict()


def record_failure(wh: Warehouse, username: str, now: datetime, window: timedelta,
                   max_attempts: int, lock_for: timedelta, action: str, details: dict
                   ) -> tuple[int, datetime | None]:
    """Count a failed sign-in for `username` (failures older than `window` start a new
    count); the `max_attempts`-th failure inside the window locks the name until
    now + `lock_for`. Returns (failures in the window, locked_until or None)."""
    with _write(wh) as cur:
        row = cur.execute("SELECT failed_attempts, window_start FROM auth_throttle "
                          "WHERE username = ?", [username]).fetchone()
        if row is None or now - row[1] > window:
            attempts, start = 1, now
        else:
            attempts, start = row[0] + 1, row[1]
        locked = now + lock_for if attempts >= max_attempts else None
        if locked is not None:
            attempts, start = 0, now  # the lock is the penalty; count afresh after it
        cur.execute("INSERT INTO auth_throttle VALUES (?, ?, ?, ?) ON CONFLICT (username) DO "
                    "UPDATE SET failed_attempts = excluded.failed_attempts, window_start = "
                    "excluded.window_start, locked_until = excluded.locked_until",
                    [username, attempts, start, locked])
        _audit(cur, username, action, {**details, "locked_until": locked}, now)
    return (max_attempts if locked else attempts), locked


def record_success(wh: Warehouse, username: str, now: datetime) -> None:
    with _write(wh) as cur:
        cur.execute("DELETE FROM auth_throttle WHERE username = ?", [username])
        cur.execute("UPDATE users SET last_sign_in_at = ? WHERE username = ?", [now, username])
        _audit(cur, username, "auth.sign_in", None, now)


# ---- audit log view ---------------------------------------------------------------------------
def read_audit_log(wh: Warehouse, action_prefix: str | None = None, actor: str | None = None,
                   limit: int = 500) -> pd.DataFrame:
    """Newest audit rows first, optionally only actions starting with `action_prefix` and
    one actor."""
    sql, params = "SELECT ts, actor, action, details FROM audit_log WHERE TRUE", []
    if action_prefix:
        sql += " AND starts_with(action, ?)"
        params.append(action_prefix)
    if actor:
        sql += " AND actor = ?"
        params.append(actor)
    return wh.query(sql + " ORDER BY ts DESC LIMIT ?", [*params, int(limit)])

