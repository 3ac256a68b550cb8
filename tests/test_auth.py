"""Sign-in, roles, throttling, sessions and user administration (engine level)."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import pytest

from engine import auth
from engine import auth_sessions as sessions
from engine.auth import User
from engine.warehouse import audit, users
from engine.warehouse.db import Warehouse
from tests.test_auth_support import (PASSWORD, auth_wh, auth_wh_path,  # noqa: F401
                                     fast_bcrypt, session_for, store_pins)


@pytest.fixture()
def users_wh(empty_warehouse, fast_bcrypt):  # noqa: F811
    return empty_warehouse


def _fail(wh, name, n, now):
    for i in range(n):
        with pytest.raises(auth.AuthError):
            auth.authenticate(wh, name, f"wrong-password-{i}", now=now + timedelta(seconds=i))


# ---- roles and permissions -------------------------------------------------------------------
def test_role_matrix_matches_the_product_spec():
    assert auth.PAGES["store"] == {"Overview", "Forecast", "Accuracy", "Reorder", "Trends",
                                   "Ask", "Map", "Alerts"}
    assert auth.PAGES["analyst"] == set(auth.PAGE_TITLES) - {"Admin"}
    assert auth.PAGES["manager"] == set(auth.PAGE_TITLES) - {"Admin"}
    assert auth.PAGES["admin"] == set(auth.PAGE_TITLES)
    store, ana, mgr, boss = (User("u", r) for r in ("store", "analyst", "manager", "admin"))
    assert auth.can(store, "view") and not auth.can(store, "upload")
    assert all(auth.can(ana, a) for a in ("view", "upload", "run_forecast", "run_scenario"))
    assert not any(auth.can(ana, a) for a in ("approve", "configure_alerts", "rollback_batch"))
    assert auth.can(mgr, "approve") and auth.can(mgr, "configure_alerts")
    assert not auth.can(mgr, "rollback_batch") and not auth.can(mgr, "manage_users")
    assert all(auth.can(boss, a) for a in auth.ACTIONS)


def test_require_raises_permission_denied_with_a_sentence():
    with pytest.raises(auth.PermissionDenied, match=r"Your role \(Analyst\) cannot approve "
                                                    r"recommendations"):
        auth.require(User("ana", "analyst"), "approve")
    with pytest.raises(ValueError, match="Unknown action"):
        auth.can(User("ana", "analyst"), "launch_rockets")


def test_page_keys_come_from_file_names_and_unknown_pages_are_admin_only():
    assert auth.page_key("/x/app.py") == "Overview"
    assert auth.page_key("/x/pages/3_Pricing.py") == "Pricing"
    assert auth.page_key("pages/10_Whatever.py") == "Whatever"
    assert auth.can_open_page(User("a", "admin"), "Pricing")
    assert not auth.can_open_page(User("s", "store"), "Pricing")
    assert not auth.can_open_page(User("m", "manager"), "Whatever")
    assert auth.page_denied_message(User("s", "store"), "Pricing") == \
        "Your role (Store user) cannot open the Pricing page."


def test_auth_is_on_unless_explicitly_off(monkeypatch):
    monkeypatch.delenv("MICROPULSE_AUTH", raising=False)
    assert auth.auth_enabled()
    for value in ("on", "", "1", "yes"):
        monkeypatch.setenv("MICROPULSE_AUTH", value)
        assert auth.auth_enabled()
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    assert not auth.auth_enabled()


# ---- first run and sign-in -------------------------------------------------------------------
def test_first_admin_only_while_no_user_exists(users_wh):
    assert auth.needs_first_admin(users_wh)
    boss = auth.create_first_admin(users_wh, "Boss", "a-long-password")
    assert boss == User("boss", "admin") and not auth.needs_first_admin(users_wh)
    with pytest.raises(auth.AuthError, match="already exists"):
        auth.create_first_admin(users_wh, "intruder", "another-long-password")
    assert users.count_users(users_wh) == 1


def test_sign_in_returns_the_user_with_role_and_pins(auth_wh):
    shop = auth.authenticate(auth_wh, " SHOP ", PASSWORD["shop"])
    assert shop.role == "store" and shop.pin_codes == store_pins(auth_wh)
    row = users.get_user_row(auth_wh, "shop")
    assert row["last_sign_in_at"] is not None
    assert "auth.sign_in" in audit.read_audit_log(auth_wh, actor="shop")["action"].tolist()


def test_wrong_password_and_unknown_user_get_the_same_message(auth_wh):
    with pytest.raises(auth.SignInFailed) as wrong:
        auth.authenticate(auth_wh, "mgr", "not-the-password")
    with pytest.raises(auth.SignInFailed) as unknown:
        auth.authenticate(auth_wh, "nobody", "not-the-password")
    assert str(wrong.value) == str(unknown.value) == "Wrong username or password."
    log = audit.read_audit_log(auth_wh, "auth.sign_in_failed")
    assert set(log["actor"]) == {"mgr", "nobody"}


def test_disabled_user_cannot_sign_in_and_open_sessions_end(auth_wh):
    boss = User("boss", "admin")
    session = session_for("ana")
    assert sessions.resume_session(auth_wh, session, time.time()).role == "analyst"
    auth.set_disabled(auth_wh, boss, "ana", True)
    with pytest.raises(auth.AccountDisabled, match="disabled"):
        auth.authenticate(auth_wh, "ana", PASSWORD["ana"])
    with pytest.raises(auth.SessionEnded, match="no longer active"):
        sessions.resume_session(auth_wh, session, time.time())
    auth.set_disabled(auth_wh, boss, "ana", False)
    assert auth.authenticate(auth_wh, "ana", PASSWORD["ana"]).username == "ana"


def test_session_expires_after_idle_hours(auth_wh, monkeypatch):
    monkeypatch.delenv("MICROPULSE_SESSION_HOURS", raising=False)
    start = time.time()
    session = {"username": "mgr", "signed_in_at": start, "last_seen": start}
    assert sessions.resume_session(auth_wh, session, start + 7 * 3600).username == "mgr"
    with pytest.raises(auth.SessionEnded, match="after 8 hours without activity"):
        sessions.resume_session(auth_wh, session, start + 8 * 3600 + 5)
    monkeypatch.setenv("MICROPULSE_SESSION_HOURS", "0.5")
    with pytest.raises(auth.SessionEnded, match="after 0.5 hours"):
        sessions.resume_session(auth_wh, session, start + 1900)


def test_password_reset_ends_older_sessions_and_old_password(auth_wh):
    session = session_for("mgr", age_s=5)
    auth.reset_password(auth_wh, User("boss", "admin"), "mgr", "brand-new-secret")
    with pytest.raises(auth.SessionEnded, match="password was changed"):
        sessions.resume_session(auth_wh, session, time.time())
    with pytest.raises(auth.SignInFailed):
        auth.authenticate(auth_wh, "mgr", PASSWORD["mgr"])
    assert auth.authenticate(auth_wh, "mgr", "brand-new-secret").role == "manager"


def test_role_changes_apply_to_open_sessions(auth_wh):
    session = session_for("ana")
    auth.set_role(auth_wh, User("boss", "admin"), "ana", "store", "110001, 400001")
    user = sessions.resume_session(auth_wh, session, time.time())
    assert user.role == "store" and user.pin_codes == ("110001", "400001")


# ---- brute force ------------------------------------------------------------------------------
def test_five_failures_lock_the_username_for_fifteen_minutes(auth_wh):
    t0 = datetime(2025, 3, 1, 10, 0, 0)
    _fail(auth_wh, "mgr", 4, t0)
    with pytest.raises(auth.AccountLocked, match=r"Try again in 15 minutes\.$") as locked:
        auth.authenticate(auth_wh, "mgr", "wrong-again", now=t0 + timedelta(minutes=5))
    assert locked.value.locked_until == t0 + timedelta(minutes=20)
    # Even the right password is refused while locked, with the same message.
    with pytest.raises(auth.AccountLocked, match=r"Too many failed sign-ins.* in 1 minute\.$"):
        auth.authenticate(auth_wh, "mgr", PASSWORD["mgr"], now=t0 + timedelta(minutes=19))
    user = auth.authenticate(auth_wh, "mgr", PASSWORD["mgr"], now=t0 + timedelta(minutes=21))
    assert user.username == "mgr"
    assert users.throttle_row(auth_wh, "mgr", "ip:unknown") is None


def test_unknown_usernames_lock_exactly_like_real_ones(auth_wh):
    t0 = datetime(2025, 3, 1, 10, 0, 0)
    _fail(auth_wh, "ghost", 4, t0)
    with pytest.raises(auth.AccountLocked) as locked:
        auth.authenticate(auth_wh, "ghost", "x", now=t0 + timedelta(minutes=1))
    assert "ghost" not in str(locked.value)


def test_failures_outside_the_window_do_not_add_up(auth_wh):
    t0 = datetime(2025, 3, 1, 10, 0, 0)
    _fail(auth_wh, "ana", 4, t0)
    _fail(auth_wh, "ana", 4, t0 + timedelta(minutes=16))  # a new window: no lock
    assert auth.authenticate(auth_wh, "ana", PASSWORD["ana"],
                             now=t0 + timedelta(minutes=17)).username == "ana"


def test_session_delay_grows_and_is_capped():
    assert auth.failure_delay(0) == 0
    assert auth.failure_delay(1) < auth.failure_delay(2) <= auth.failure_delay(50) == 3.0


# ---- passwords at rest and in logs ------------------------------------------------------------
def _everything_stored(path) -> bytes:
    """All the warehouse keeps: the DuckDB file and its write-ahead log, or on PostgreSQL
    every row of every table of the warehouse's schema, as text."""
    wh = Warehouse(path)
    try:
        if wh.backend == "postgresql":
            return "".join(wh.query(f'SELECT * FROM "{t}"').to_csv()
                           for t in wh.tables()).encode()
    finally:
        wh.close()
    wal = path.with_suffix(".duckdb.wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_plain_passwords_are_never_stored_or_logged(auth_wh_path, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    wh = Warehouse(auth_wh_path)
    typo = "shop-secret-typo"
    with pytest.raises(auth.AuthError):
        auth.authenticate(wh, "shop", typo)
    auth.authenticate(wh, "shop", PASSWORD["shop"])
    auth.reset_password(wh, User("boss", "admin"), "ana", "reset-secret-99")
    with pytest.raises(auth.AuthError) as short:
        auth.create_user(wh, User("boss", "admin"), "newbie", "short", "analyst")
    assert "short" not in str(short.value).replace("shorter", "")
    rows = users.get_user_row(wh, "shop")
    assert rows["password_hash"].startswith("$2b$")
    wh.close()
    raw = _everything_stored(auth_wh_path)
    for secret in [*PASSWORD.values(), typo, "reset-secret-99"]:
        assert secret.encode() not in raw, secret
        assert secret not in caplog.text
    wh = Warehouse(auth_wh_path)
    text = audit.read_audit_log(wh, limit=10_000).to_csv()
    wh.close()
    assert not any(s in text for s in [*PASSWORD.values(), typo, "reset-secret-99"])


# ---- user administration ----------------------------------------------------------------------
def test_only_admins_manage_users(auth_wh):
    with pytest.raises(auth.PermissionDenied, match=r"\(Manager\) cannot manage users"):
        auth.create_user(auth_wh, User("mgr", "manager"), "x1", "long-enough-pw", "analyst")


def test_user_validation_sentences(auth_wh):
    boss = User("boss", "admin")
    with pytest.raises(auth.AuthError, match="at least one PIN code"):
        auth.create_user(auth_wh, boss, "s2", "long-enough-pw", "store")
    with pytest.raises(auth.AuthError, match=r"not 6-digit PIN codes \(e.g. '56001'\)"):
        auth.create_user(auth_wh, boss, "s2", "long-enough-pw", "store", "560001, 56001")
    with pytest.raises(auth.AuthError, match="already exists"):
        auth.create_user(auth_wh, boss, "MGR", "long-enough-pw", "analyst")
    with pytest.raises(auth.AuthError, match="at least 10 characters"):
        auth.create_user(auth_wh, boss, "s3", "short", "analyst")
    with pytest.raises(auth.AuthError, match="at most 72 bytes"):
        auth.create_user(auth_wh, boss, "s3", "x" * 73, "analyst")
    with pytest.raises(auth.AuthError, match="username is 2 to 32"):
        auth.create_user(auth_wh, boss, "bad name!", "long-enough-pw", "analyst")


def test_the_last_enabled_admin_cannot_be_removed(auth_wh):
    boss = User("boss", "admin")
    with pytest.raises(auth.AuthError, match="cannot disable your own account"):
        auth.set_disabled(auth_wh, boss, "boss", True)
    with pytest.raises(auth.AuthError, match="only enabled administrator"):
        auth.set_role(auth_wh, boss, "boss", "manager")
    auth.set_role(auth_wh, boss, "mgr", "admin")
    auth.set_role(auth_wh, boss, "boss", "manager")
    assert users.get_user_row(auth_wh, "boss")["role"] == "manager"


def test_user_changes_are_audited(auth_wh):
    boss = User("boss", "admin")
    auth.set_disabled(auth_wh, boss, "ana", True)
    auth.set_role(auth_wh, boss, "mgr", "analyst")
    auth.audit(auth_wh, boss, "rollback.batch", {"batch_id": "b_1"})
    log = audit.read_audit_log(auth_wh)
    actions = log["action"].tolist()
    assert {"user.create_first_admin", "user.create", "user.disable", "user.role",
            "rollback.batch"} <= set(actions)
    assert set(log.loc[log["action"].str.startswith("user.") & (log["action"] != "user."
                                                                "create_first_admin"),
                       "actor"]) == {"boss"}


def test_auth_writes_do_not_bump_the_data_version(auth_wh):
    before = auth_wh.data_version()
    auth.authenticate(auth_wh, "mgr", PASSWORD["mgr"])
    with pytest.raises(auth.AuthError):
        auth.authenticate(auth_wh, "mgr", "wrong-password")
    auth.set_disabled(auth_wh, User("boss", "admin"), "ana", True)
    assert auth_wh.data_version() == before
