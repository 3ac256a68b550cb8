"""Users, roles and sign-in for MicroPulse (no Streamlit here; the UI is components/auth.py).

- Passwords are stored only as bcrypt hashes (`BCRYPT_ROUNDS`); a plain password is never
  written, logged or put in an error message.
- Roles and what they may do live in code: `PERMISSIONS` (actions) and `PAGES` (pages).
  `can(user, action)` answers, `require(user, action)` raises `PermissionDenied`.
- Store users see only their PIN codes: `scoped_warehouse(wh, user)` wraps the warehouse
  in `engine.warehouse.scoped.ScopedWarehouse`, which filters rows below every query.
- Lock-out per username AND client: five failed sign-ins for one username from one client
  within 15 minutes lock that username for that client for 15 minutes, whether or not the
  user exists; messages never reveal which names exist. The client is the network address
  ("ip:..."), or, for a browser that signed in to that username before, its device cookie
  ("device:..."), so failures typed elsewhere never lock the real user out.
- App sessions (sign-in that survives a refresh, a new tab, a deep link) live in
  `engine.auth_sessions`: a server-side record per session, revoked by sign-out, a
  password reset or disabling the user.
- `MICROPULSE_AUTH=off` turns sign-in off (single-user demo mode, acting as admin "demo").
"""
from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import bcrypt

from engine.warehouse.audit import write_audit
from engine.warehouse.db import Warehouse
from engine.warehouse.locations import is_valid_pin
from engine.warehouse.scoped import PermissionDenied, ScopedWarehouse
from engine.warehouse.users import (AuthError, count_users, device_trusted, get_user_row,
                                    insert_user, record_failure, record_success, throttle_row,
                                    update_user)

__all__ = ["PermissionDenied", "AuthError", "User", "can", "require", "can_open_page"]

BCRYPT_ROUNDS = 12              # ~0.3-1.3 s per hash on a 2-core laptop
MAX_FAILED_ATTEMPTS = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 10
DEVICE_TRUST = timedelta(days=90)   # a browser that signed in to a name within this is
                                    # counted apart from its network address (lock-out)

ROLES = {"admin": "Admin", "manager": "Manager", "analyst": "Analyst", "store": "Store user"}
ACTIONS = {
    "view": "view data",
    "upload": "upload files",
    "post_events": "post sales events (their own PIN codes only for a store user)",
    "run_forecast": "run forecasts and backtests",
    "run_scenario": "run price and reorder scenarios",
    "generate_alerts": "check the alert rules now",
    "acknowledge_alerts": "acknowledge or resolve alerts",
    "approve": "approve recommendations",
    "configure_alerts": "change alert settings",
    "rollback_batch": "roll back an upload",
    "configure": "change MicroPulse settings",
    "manage_users": "manage users",
}
_ANALYTIC = {"view", "upload", "post_events", "run_forecast", "run_scenario",
             "generate_alerts", "acknowledge_alerts"}
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "manager": frozenset(_ANALYTIC | {"approve", "configure_alerts"}),
    "analyst": frozenset(_ANALYTIC),
    "store": frozenset({"view", "post_events"}),
}
# Page keys: "Overview" for app.py, else the pages/ file name without its number prefix.
PAGE_TITLES = ["Overview", "Forecast", "Accuracy", "Pricing", "Reorder", "Sourcing",
               "Scenarios", "Trends", "Ask", "Map", "Alerts", "Data", "Admin"]
# Store users may look at scenarios (their PIN codes' only) but not save them: the role has
# no "run_scenario" and their warehouse handle is read-only.
# Accuracy: the backtests and live scores they see are computed from their PIN codes' rows
# (engine/forecast/live.py scoped_scores; the stored chain-wide live scores stay hidden).
_STORE_PAGES = {"Overview", "Forecast", "Accuracy", "Reorder", "Trends", "Ask", "Map",
                "Alerts"}
PAGES: dict[str, frozenset[str]] = {
    "admin": frozenset(PAGE_TITLES),
    "manager": frozenset(set(PAGE_TITLES) - {"Admin"}),
    "analyst": frozenset(set(PAGE_TITLES) - {"Admin"}),
    "store": frozenset(_STORE_PAGES),
}
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


class SignInFailed(AuthError):
    """Wrong username or password (never says which)."""

    code = "sign_in_failed"
    http_status = 401


class AccountLocked(AuthError):
    code = "account_locked"
    http_status = 429

    def __init__(self, message: str, locked_until: datetime):
        super().__init__(message)
        self.locked_until = locked_until


class AccountDisabled(AuthError):
    """Right password, but an admin disabled the account."""

    code = "account_disabled"
    http_status = 403


class SessionEnded(AuthError):
    """The session expired, or the account changed since sign-in."""

    code = "session_ended"
    http_status = 401


@dataclass(frozen=True)
class User:
    username: str
    role: str
    pin_codes: tuple[str, ...] = field(default=())

    @property
    def role_label(self) -> str:
        return ROLES[self.role]

    @property
    def is_scoped(self) -> bool:
        """Store users see only their PIN codes."""
        return self.role == "store"


DEMO_USER = User("demo", "admin")


def auth_enabled() -> bool:
    """Sign-in is on unless MICROPULSE_AUTH is explicitly 'off' (or 0/false/no)."""
    return os.environ.get("MICROPULSE_AUTH", "").strip().lower() not in {"off", "0", "false",
                                                                         "no"}


# ---- permissions ------------------------------------------------------------------------------
def can(user: User, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}; known: {sorted(ACTIONS)}")
    return action in PERMISSIONS.get(user.role, frozenset())


def require(user: User, action: str) -> None:
    if not can(user, action):
        raise PermissionDenied(f"Your role ({user.role_label}) cannot {ACTIONS[action]}. "
                               "Ask an administrator if you need to.")


def page_key(script_path: str | Path) -> str:
    """'app.py' -> 'Overview'; 'pages/3_Pricing.py' -> 'Pricing'."""
    stem = Path(script_path).stem
    return "Overview" if stem == "app" else re.sub(r"^\d+_", "", stem)


def can_open_page(user: User, page: str) -> bool:
    """Pages not in PAGE_TITLES are open to admins only (fail closed)."""
    return page in PAGES.get(user.role, frozenset())


def page_denied_message(user: User, page: str) -> str:
    return f"Your role ({user.role_label}) cannot open the {page} page."


# ---- validation and hashing -------------------------------------------------------------------
def normalise_username(username: str) -> str:
    return str(username or "").strip().lower()


def parse_pins(pins) -> tuple[str, ...]:
    """'560001, 400001' or a list -> sorted unique valid PINs; raises on any bad one."""
    items = pins.replace(";", ",").replace(" ", ",").split(",") if isinstance(pins, str) \
        else list(pins or [])
    items = [str(p).strip() for p in items if str(p).strip()]
    bad = [p for p in items if not is_valid_pin(p)]
    if bad:
        raise AuthError(f"{len(bad)} value(s) are not 6-digit PIN codes (e.g. '{bad[0]}').")
    return tuple(sorted(set(items)))


def check_password_rules(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AuthError(f"Choose a password of at least {MIN_PASSWORD_CHARS} characters.")
    if len(password.encode("utf-8")) > 72:
        raise AuthError("Choose a password of at most 72 bytes (about 70 letters).")
    if password.strip().lower() == username.lower():
        raise AuthError("The password must not be the username.")


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def _check(password: str, hashed: str) -> bool:
    data = password.encode("utf-8")
    if len(data) > 72:
        return False
    return bcrypt.checkpw(data, hashed.encode())


_DUMMY: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash to check against for unknown usernames, so they take as long as known ones."""
    if BCRYPT_ROUNDS not in _DUMMY:
        _DUMMY[BCRYPT_ROUNDS] = hash_password(os.urandom(16).hex())
    return _DUMMY[BCRYPT_ROUNDS]


def user_from_row(row: dict) -> User:
    """The signed-in User of a `users` row: a store user keeps their PIN codes, other
    roles see every PIN."""
    pins = tuple(p for p in str(row.get("pin_codes") or "").split(",") if p)
    return User(row["username"], row["role"], pins if row["role"] == "store" else ())


def _validate_new(username: str, role: str, pin_codes) -> tuple[str, tuple[str, ...]]:
    name = normalise_username(username)
    if not USERNAME_RE.match(name):
        raise AuthError("A username is 2 to 32 characters: letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit.")
    if role not in ROLES:
        raise AuthError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    pins = parse_pins(pin_codes) if role == "store" else ()
    if role == "store" and not pins:
        raise AuthError("A store user needs at least one PIN code to see.")
    return name, pins


# ---- first run and sign-in ------------------------------------------------------------------
def needs_first_admin(wh: Warehouse) -> bool:
    """True while no user exists: the app then offers to create the administrator."""
    return count_users(wh) == 0


def create_first_admin(wh: Warehouse, username: str, password: str) -> User:
    name, _ = _validate_new(username, "admin", ())
    check_password_rules(password, name)
    insert_user(wh, {"username": name, "password_hash": hash_password(password),
                           "role": "admin", "pin_codes": ""}, name, "user.create_first_admin",
                      {"username": name, "role": "admin"}, first_run=True)
    return User(name, "admin")


def client_id(address: str | None) -> str:
    """The lock-out client for a network address: 'ip:203.0.113.7' (an IPv4-mapped IPv6
    address such as '::ffff:203.0.113.7' counts as its IPv4 address), or 'ip:local' for
    this machine (loopback, or no address: Streamlit reports none for localhost)."""
    text = str(address or "").strip()[:64]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return f"ip:{text}" if text else "ip:local"
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return "ip:local" if ip.is_loopback else f"ip:{ip}"


def secret_digest(secret: str) -> str:
    """SHA-256 hex digest of a secret (device token, session token): what the warehouse
    stores instead of the secret itself."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def throttle_client(wh: Warehouse, username: str, client: str | None,
                    device: str | None = None, now: datetime | None = None) -> str:
    """Whose failures count together: the browser's device ('device:<hash>') when that
    device cookie signed in to `username` within DEVICE_TRUST, else the client address.
    An attacker who types wrong passwords elsewhere (or drops cookies) is counted under
    their own address and never under the real user's device."""
    now = now or datetime.now()
    if device:
        hashed = secret_digest(device)
        if device_trusted(wh, username, hashed, now - DEVICE_TRUST):
            return f"device:{hashed[:32]}"
    return client or "ip:unknown"


def authenticate(wh: Warehouse, username: str, password: str,
                 now: datetime | None = None, client: str | None = None,
                 device: str | None = None) -> User:
    """The signed-in user, or a typed error whose message is safe to show.

    `client` identifies where the attempt comes from (`client_id(address)`); `device` is
    the browser's device cookie, if any. Failures are counted per username and client
    (see `throttle_client`), so a lock stops that client only."""
    now = now or datetime.now()
    name = normalise_username(username)[:64]
    if not name or not password:
        raise SignInFailed("Enter your username and password.")
    key = throttle_client(wh, name, client, device, now)
    throttle = throttle_row(wh, name, key)
    until = local_epoch(throttle["locked_until"]) if throttle else None
    if until is not None and until > now.timestamp():
        locked = datetime.fromtimestamp(until)
        write_audit(wh, name, "auth.sign_in_blocked",
                          {"client": key, "locked_until": locked}, now)
        raise AccountLocked(locked_message(locked, now), locked)
    row = get_user_row(wh, name)
    ok = _check(password, row["password_hash"] if row else _dummy_hash()) and row is not None
    if not ok:
        _, locked = record_failure(wh, name, key, now, FAILURE_WINDOW,
                                         MAX_FAILED_ATTEMPTS, LOCK_FOR, "auth.sign_in_failed",
                                         {})
        if locked is not None:
            raise AccountLocked(locked_message(locked, now), locked)
        raise SignInFailed("Wrong username or password.")
    if row["disabled"]:
        write_audit(wh, name, "auth.sign_in_disabled", {"client": key}, now)
        raise AccountDisabled("This account is disabled. Ask your MicroPulse administrator.")
    record_success(wh, name, key, now)
    return user_from_row(row)


def wait_text(seconds: float) -> str:
    """A wait as a person reads it, never shorter than the real one: '15 minutes' for
    900 s, '2 minutes' for 61 s, '45 seconds' for 44.2 s, '1 second' for 0.3 s."""
    seconds = max(0.0, float(seconds))
    if seconds <= 60:
        whole = max(1, math.ceil(seconds))
        return "1 second" if whole == 1 else (
            "1 minute" if whole == 60 else f"{whole} seconds")
    minutes = math.ceil(seconds / 60)
    if minutes <= 120:
        return f"{minutes} minutes"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} hours"


def locked_message(locked: datetime, now: datetime) -> str:
    """The lock-out sentence with the exact remaining wait, rounded up."""
    wait = wait_text((locked - now).total_seconds())
    return (f"Too many failed sign-ins for this username from this device or network. "
            f"Try again in {wait}.")


def failure_delay(failures_this_session: int) -> float:
    """Seconds to wait before checking another password in a session that failed before."""
    return min(3.0, 0.5 * max(0, failures_this_session))


def local_epoch(value) -> float | None:
    """Epoch seconds of a naive local timestamp read back from the warehouse."""
    if value is None or value != value:
        return None
    value = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return value.timestamp()


def audit(wh: Warehouse, actor: User | str | None, action: str, details: dict | None = None
          ) -> None:
    """Record who did what (uploads, rollbacks, approvals, settings) in audit_log. Writes
    that change data should rather call `wh.audit(cur, ...)` inside their own transaction."""
    name = actor.username if isinstance(actor, User) else actor
    write_audit(getattr(wh, "base", wh), name, action, details)


# ---- user administration (admins only) --------------------------------------------------------
def create_user(wh: Warehouse, actor: User, username: str, password: str, role: str,
                pin_codes=()) -> User:
    require(actor, "manage_users")
    name, pins = _validate_new(username, role, pin_codes)
    check_password_rules(password, name)
    insert_user(wh, {"username": name, "password_hash": hash_password(password),
                           "role": role, "pin_codes": ",".join(pins)}, actor.username,
                      "user.create", {"username": name, "role": role, "pin_codes": list(pins)})
    return User(name, role, pins)


def existing_user_row(wh: Warehouse, username: str) -> dict:
    """The `users` row of `username` (normalised); AuthError naming the user when there
    is none."""
    row = get_user_row(wh, normalise_username(username))
    if row is None:
        raise AuthError(f"There is no user called '{username}'.")
    return row


def set_role(wh: Warehouse, actor: User, username: str, role: str, pin_codes=()) -> None:
    """Change a user's role and (for store users) PIN codes."""
    require(actor, "manage_users")
    row = existing_user_row(wh, username)
    _, pins = _validate_new(row["username"], role, pin_codes)
    update_user(wh, row["username"], {"role": role, "pin_codes": ",".join(pins)},
                      actor.username, "user.role",
                      {"username": row["username"], "from": row["role"], "role": role,
                       "pin_codes": list(pins)},
                      keep_an_admin=row["role"] == "admin" and role != "admin")


def set_disabled(wh: Warehouse, actor: User, username: str, disabled: bool) -> None:
    require(actor, "manage_users")
    row = existing_user_row(wh, username)
    if disabled and row["username"] == actor.username:
        raise AuthError("You cannot disable your own account.")
    update_user(wh, row["username"], {"disabled": bool(disabled)}, actor.username,
                      "user.disable" if disabled else "user.enable",
                      {"username": row["username"]},
                      keep_an_admin=disabled and row["role"] == "admin",
                      revoke_sessions="account_disabled" if disabled else None)


def reset_password(wh: Warehouse, actor: User, username: str, new_password: str) -> None:
    """Set a new password; every session of that user signed in before now ends (their
    records are revoked in the same transaction)."""
    require(actor, "manage_users")
    row = existing_user_row(wh, username)
    check_password_rules(new_password, row["username"])
    update_user(wh, row["username"], {"password_hash": hash_password(new_password),
                                            "password_changed_at": datetime.now()},
                      actor.username, "user.password_reset", {"username": row["username"]},
                      revoke_sessions="password_reset")


# ---- scoping ----------------------------------------------------------------------------------
def scoped_warehouse(wh: Warehouse, user: User) -> Warehouse | ScopedWarehouse:
    """The handle a user's pages read through: store users get their PIN codes only."""
    return ScopedWarehouse(wh, user.pin_codes) if user.is_scoped else wh
