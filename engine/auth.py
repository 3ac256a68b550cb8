"""Users, roles and sign-in for MicroPulse (no Streamlit here; the UI is components/auth.py).

- Passwords are stored only as bcrypt hashes (`BCRYPT_ROUNDS`); a plain password is never
  written, logged or put in an error message.
- Roles and what they may do live in code: `PERMISSIONS` (actions) and `PAGES` (pages).
  `can(user, action)` answers, `require(user, action)` raises `PermissionDenied`.
- Store users see only their PIN codes: `scoped_warehouse(wh, user)` wraps the warehouse
  in `engine.warehouse.scoped.ScopedWarehouse`, which filters rows below every query.
- Five failed sign-ins for one username within 15 minutes lock that username for 15
  minutes, whether or not the user exists; messages never reveal which names exist.
- `MICROPULSE_AUTH=off` turns sign-in off (single-user demo mode, acting as admin "demo").
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import bcrypt

from engine.geo import is_valid_pin
from engine.warehouse import auth_store as store
from engine.warehouse.auth_store import AuthError
from engine.warehouse.db import Warehouse
from engine.warehouse.scoped import PermissionDenied, ScopedWarehouse

__all__ = ["PermissionDenied", "AuthError", "User", "can", "require", "can_open_page"]

BCRYPT_ROUNDS = 12              # ~0.3-1.3 s per hash on a 2-core laptop
MAX_FAILED_ATTEMPTS = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 10
DEFAULT_SESSION_HOURS = 8.0

ROLES = {"admin": "Admin", "manager": "Manager", "analyst": "Analyst", "store": "Store user"}
ACTIONS = {
    "view": "view data",
    "upload": "upload files",
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
_ANALYTIC = {"view", "upload", "run_forecast", "run_scenario", "generate_alerts",
             "acknowledge_alerts"}
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "manager": frozenset(_ANALYTIC | {"approve", "configure_alerts"}),
    "analyst": frozenset(_ANALYTIC),
    "store": frozenset({"view"}),
}
# Page keys: "Overview" for app.py, else the pages/ file name without its number prefix.
PAGE_TITLES = ["Overview", "Forecast", "Accuracy", "Pricing", "Reorder", "Sourcing", "Map",
               "Alerts", "Data", "Admin"]
_STORE_PAGES = {"Overview", "Forecast", "Reorder", "Map", "Alerts"}
PAGES: dict[str, frozenset[str]] = {
    "admin": frozenset(PAGE_TITLES),
    "manager": frozenset(set(PAGE_TITLES) - {"Admin"}),
    "analyst": frozenset(set(PAGE_TITLES) - {"Admin"}),
    "store": frozenset(_STORE_PAGES),
}
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


class SignInFailed(AuthError):
    """Wrong username or password (never says which)."""


class AccountLocked(AuthError):
    def __init__(self, message: str, locked_until: datetime):
        super().__init__(message)
        self.locked_until = locked_until


class AccountDisabled(AuthError):
    """Right password, but an admin disabled the account."""


class SessionEnded(AuthError):
    """The session expired, or the account changed since sign-in."""


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


def session_hours() -> float:
    try:
        hours = float(os.environ.get("MICROPULSE_SESSION_HOURS", DEFAULT_SESSION_HOURS))
    except ValueError:
        return DEFAULT_SESSION_HOURS
    return hours if hours > 0 else DEFAULT_SESSION_HOURS


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


def _user_from_row(row: dict) -> User:
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


# ---- first run, sign-in, sessions -------------------------------------------------------------
def needs_first_admin(wh: Warehouse) -> bool:
    """True while no user exists: the app then offers to create the administrator."""
    return store.count_users(wh) == 0


def create_first_admin(wh: Warehouse, username: str, password: str) -> User:
    name, _ = _validate_new(username, "admin", ())
    check_password_rules(password, name)
    store.insert_user(wh, {"username": name, "password_hash": hash_password(password),
                           "role": "admin", "pin_codes": ""}, name, "user.create_first_admin",
                      {"username": name, "role": "admin"}, first_run=True)
    return User(name, "admin")


def authenticate(wh: Warehouse, username: str, password: str,
                 now: datetime | None = None) -> User:
    """The signed-in user, or a typed error whose message is safe to show."""
    now = now or datetime.now()
    name = normalise_username(username)[:64]
    if not name or not password:
        raise SignInFailed("Enter your username and password.")
    throttle = store.throttle_row(wh, name)
    until = _local_epoch(throttle["locked_until"]) if throttle else None
    if until is not None and until > now.timestamp():
        locked = datetime.fromtimestamp(until)
        store.write_audit(wh, name, "auth.sign_in_blocked", {"locked_until": locked}, now)
        raise AccountLocked(_locked_message(locked, now), locked)
    row = store.get_user_row(wh, name)
    ok = _check(password, row["password_hash"] if row else _dummy_hash()) and row is not None
    if not ok:
        _, locked = store.record_failure(wh, name, now, FAILURE_WINDOW, MAX_FAILED_ATTEMPTS,
                                         LOCK_FOR, "auth.sign_in_failed", {})
        if locked is not None:
            raise AccountLocked(_locked_message(locked, now), locked)
        raise SignInFailed("Wrong username or password.")
    if row["disabled"]:
        store.write_audit(wh, name, "auth.sign_in_disabled", None, now)
        raise AccountDisabled("This account is disabled. Ask your MicroPulse administrator.")
    store.record_success(wh, name, now)
    return _user_from_row(row)


def _locked_message(locked: datetime, now: datetime) -> str:
    minutes = max(1, int((locked - now).total_seconds() // 60) + 1)
    return (f"Too many failed sign-ins for this username. Try again after "
            f"{locked:%H:%M} (in about {minutes} minutes).")


def failure_delay(failures_this_session: int) -> float:
    """Seconds to wait before checking another password in a session that failed before."""
    return min(3.0, 0.5 * max(0, failures_this_session))


def new_session(user: User, now: float) -> dict:
    """What st.session_state["auth_user"] holds: epoch seconds of sign-in and last use."""
    return {"username": user.username, "signed_in_at": now, "last_seen": now}


def resume_session(wh: Warehouse, session: dict, now: float,
                   idle_hours: float | None = None) -> User:
    """The user behind a session, re-read from the warehouse (so a disabled account, a new
    role or new PIN codes take effect on the next click). Raises SessionEnded."""
    hours = idle_hours if idle_hours is not None else session_hours()
    if now - float(session.get("last_seen", 0)) > hours * 3600:
        raise SessionEnded(f"You were signed out after {hours:g} hours without activity. "
                           "Sign in again.")
    row = store.get_user_row(wh, str(session.get("username", "")))
    if row is None or row["disabled"]:
        raise SessionEnded("Your account is no longer active. Ask your MicroPulse "
                           "administrator.")
    changed = _local_epoch(row["password_changed_at"])
    if changed is not None and changed > float(session.get("signed_in_at", 0)):
        raise SessionEnded("Your password was changed. Sign in with the new password.")
    return _user_from_row(row)


def _local_epoch(value) -> float | None:
    """Epoch seconds of a naive local timestamp read back from the warehouse."""
    if value is None or value != value:
        return None
    value = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return value.timestamp()


def sign_out(wh: Warehouse, username: str, reason: str = "auth.sign_out") -> None:
    store.write_audit(wh, username, reason)


def audit(wh: Warehouse, actor: User | str | None, action: str, details: dict | None = None
          ) -> None:
    """Record who did what (uploads, rollbacks, approvals, settings) in audit_log. Writes
    that change data should rather call `wh.audit(cur, ...)` inside their own transaction."""
    name = actor.username if isinstance(actor, User) else actor
    store.write_audit(getattr(wh, "base", wh), name, action, details)


# ---- user administration (admins only) --------------------------------------------------------
def create_user(wh: Warehouse, actor: User, username: str, password: str, role: str,
                pin_codes=()) -> User:
    require(actor, "manage_users")
    name, pins = _validate_new(username, role, pin_codes)
    check_password_rules(password, name)
    store.insert_user(wh, {"username": name, "password_hash": hash_password(password),
                           "role": role, "pin_codes": ",".join(pins)}, actor.username,
                      "user.create", {"username": name, "role": role, "pin_codes": list(pins)})
    return User(name, role, pins)


def _target(wh: Warehouse, username: str) -> dict:
    row = store.get_user_row(wh, normalise_username(username))
    if row is None:
        raise AuthError(f"There is no user called '{username}'.")
    return row


def set_role(wh: Warehouse, actor: User, username: str, role: str, pin_codes=()) -> None:
    """Change a user's role and (for store users) PIN codes."""
    require(actor, "manage_users")
    row = _target(wh, username)
    _, pins = _validate_new(row["username"], role, pin_codes)
    store.update_user(wh, row["username"], {"role": role, "pin_codes": ",".join(pins)},
                      actor.username, "user.role",
                      {"username": row["username"], "from": row["role"], "role": role,
                       "pin_codes": list(pins)},
                      keep_an_admin=row["role"] == "admin" and role != "admin")


def set_disabled(wh: Warehouse, actor: User, username: str, disabled: bool) -> None:
    require(actor, "manage_users")
    row = _target(wh, username)
    if disabled and row["username"] == actor.username:
        raise AuthError("You cannot disable your own account.")
    store.update_user(wh, row["username"], {"disabled": bool(disabled)}, actor.username,
                      "user.disable" if disabled else "user.enable",
                      {"username": row["username"]},
                      keep_an_admin=disabled and row["role"] == "admin")


def reset_password(wh: Warehouse, actor: User, username: str, new_password: str) -> None:
    """Set a new password; every session of that user signed in before now ends."""
    require(actor, "manage_users")
    row = _target(wh, username)
    check_password_rules(new_password, row["username"])
    store.update_user(wh, row["username"], {"password_hash": hash_password(new_password),
                                            "password_changed_at": datetime.now()},
                      actor.username, "user.password_reset", {"username": row["username"]})


# ---- scoping ----------------------------------------------------------------------------------
def scoped_warehouse(wh: Warehouse, user: User) -> Warehouse | ScopedWarehouse:
    """The handle a user's pages read through: store users get their PIN codes only."""
    return ScopedWarehouse(wh, user.pin_codes) if user.is_scoped else wh
