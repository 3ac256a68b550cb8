"""App sessions that survive a refresh (engine level: engine.auth_sessions) and the
lock-out per username and client (engine.auth), issues 25 and 26."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from engine import auth
from engine import auth_sessions as sessions
from engine.auth import User
from engine.warehouse import audit, users
from engine.warehouse.db import Warehouse
from engine.warehouse.scoped import ScopedWarehouse
from tests.test_auth_support import (PASSWORD, auth_wh, auth_wh_path,  # noqa: F401
                                     fast_bcrypt, store_pins)

BOSS = User("boss", "admin")
ATTACKER, OFFICE = auth.client_id("203.0.113.66"), auth.client_id("198.51.100.7")


@pytest.fixture(autouse=True)
def _default_lifetimes(monkeypatch):
    monkeypatch.delenv("MICROPULSE_SESSION_HOURS", raising=False)
    monkeypatch.delenv("MICROPULSE_SESSION_MAX_HOURS", raising=False)


def _fail(wh, name, n, now, client, device=None):
    for i in range(n):
        with pytest.raises(auth.AuthError):
            auth.authenticate(wh, name, f"wrong-password-{i}", now=now + timedelta(seconds=i),
                              client=client, device=device)


# ---- the token round-trip ---------------------------------------------------------------------
def test_token_round_trip_gives_back_the_user_and_session(auth_wh):
    issued = sessions.start_session(auth_wh, User("shop", "store"), client=OFFICE)
    user, session = sessions.resume_token(auth_wh, issued.token)
    assert user.username == "shop" and user.pin_codes == store_pins(auth_wh)
    assert session["session_id"] == issued.session_id
    assert session["expires_at"] == pytest.approx(issued.expires_at.timestamp())
    assert issued.expires_at - issued.created_at == timedelta(hours=12)
    # A second tab resumes the same session; the session dict keeps working on its own.
    again, _ = sessions.resume_token(auth_wh, issued.token)
    assert again == user
    assert sessions.resume_session(auth_wh, session, time.time()) == user


def test_only_a_hash_of_the_secret_is_stored(auth_wh):
    issued = sessions.start_session(auth_wh, BOSS)
    session_id, secret = issued.token.split(".")
    assert len(session_id) == 32 and len(secret) == 43        # 128-bit id, 256-bit secret
    row = auth_wh.query("SELECT * FROM auth_sessions WHERE session_id = ?", [session_id])
    assert secret not in row.astype(str).to_csv()
    assert len(row["secret_hash"].iloc[0]) == 64
    listed = sessions.open_sessions(auth_wh, BOSS)
    assert "secret_hash" not in listed.columns and session_id in set(listed["session_id"])
    with pytest.raises(auth.PermissionDenied):
        sessions.open_sessions(auth_wh, User("mgr", "manager"))


def test_forged_garbled_and_unknown_tokens_are_refused(auth_wh):
    issued = sessions.start_session(auth_wh, BOSS)
    session_id, secret = issued.token.split(".")
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    other = sessions.start_session(auth_wh, BOSS).token.split(".")[1]
    for token in (f"{session_id}.{flipped}",           # right id, wrong secret
                  f"{session_id}.{other}",             # another session's secret
                  f"{'0' * 32}.{secret}",              # unknown id
                  "", "garbage", issued.token + "x", issued.token.upper(),
                  f"{session_id}.{secret}'; DROP TABLE users; --"):
        with pytest.raises(auth.SessionEnded, match=r"^Your saved sign-in is not valid"):
            sessions.resume_token(auth_wh, token)
    assert sessions.resume_token(auth_wh, issued.token)[0].username == "boss"


# ---- expiry -----------------------------------------------------------------------------------
def test_session_ends_at_its_absolute_lifetime_even_while_in_use(auth_wh, monkeypatch):
    monkeypatch.setenv("MICROPULSE_SESSION_HOURS", "24")   # idle time is not the reason here
    issued = sessions.start_session(auth_wh, BOSS)
    start = issued.created_at.timestamp()
    assert sessions.resume_token(auth_wh, issued.token, start + 11.9 * 3600)[0] == BOSS
    with pytest.raises(auth.SessionEnded, match="ended 12 hours after you signed in"):
        sessions.resume_token(auth_wh, issued.token, start + 12 * 3600 + 1)
    _, session = sessions.resume_token(auth_wh, issued.token, start + 60)
    session["last_seen"] = start + 12 * 3600       # busy right up to the end
    with pytest.raises(auth.SessionEnded, match="ended 12 hours after"):
        sessions.resume_session(auth_wh, session, start + 12 * 3600 + 1)


def test_lifetime_comes_from_the_environment(auth_wh, monkeypatch):
    monkeypatch.setenv("MICROPULSE_SESSION_MAX_HOURS", "0.5")
    issued = sessions.start_session(auth_wh, BOSS)
    assert issued.expires_at - issued.created_at == timedelta(minutes=30)
    with pytest.raises(auth.SessionEnded, match="ended 0.5 hours after"):
        sessions.resume_token(auth_wh, issued.token, issued.created_at.timestamp() + 1801)
    for bad in ("soon", "-3", "0", "nan", "inf"):
        monkeypatch.setenv("MICROPULSE_SESSION_MAX_HOURS", bad)
        assert sessions.session_max_hours() == sessions.DEFAULT_SESSION_MAX_HOURS


def test_idle_token_is_refused_by_the_server_record(auth_wh, monkeypatch):
    monkeypatch.setenv("MICROPULSE_SESSION_HOURS", "1")
    issued = sessions.start_session(auth_wh, BOSS)
    start = issued.created_at.timestamp()
    # Used after 50 minutes: the record notes the activity, so the idle clock restarts.
    assert sessions.resume_token(auth_wh, issued.token, start + 50 * 60)[0] == BOSS
    seen = users.get_session(auth_wh, issued.session_id)["last_seen_at"]
    assert seen.to_pydatetime() == datetime.fromtimestamp(start + 50 * 60)
    assert sessions.resume_token(auth_wh, issued.token, start + 100 * 60)[0] == BOSS
    # A browser that comes back after more than an hour of silence is not let in, even
    # though its own copy of the session (a fresh tab) knows nothing about the idle time.
    with pytest.raises(auth.SessionEnded, match="after 1 hour without activity"):
        sessions.resume_token(auth_wh, issued.token, start + 161 * 60)


def test_activity_is_written_at_most_once_a_minute(auth_wh):
    issued = sessions.start_session(auth_wh, BOSS)
    start = issued.created_at.timestamp()
    sessions.resume_token(auth_wh, issued.token, start + 30)
    assert users.get_session(auth_wh, issued.session_id)["last_seen_at"] == \
        issued.created_at
    sessions.resume_token(auth_wh, issued.token, start + 61)
    assert users.get_session(auth_wh, issued.session_id)["last_seen_at"] > \
        issued.created_at


def test_activity_note_never_waits_for_another_write(auth_wh):
    issued = sessions.start_session(auth_wh, BOSS)
    later = issued.created_at + timedelta(minutes=5)
    held, done = threading.Event(), threading.Event()

    def upload():                                  # another session's long write
        with auth_wh.transaction(touches=()):
            held.set()
            done.wait(30)

    writer = threading.Thread(target=upload)
    writer.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        assert not users.touch_session(auth_wh, issued.session_id, later,
                                            sessions.SESSION_TOUCH)
        assert time.monotonic() - started < 1
    finally:
        done.set()
        writer.join()
    assert users.touch_session(auth_wh, issued.session_id, later, sessions.SESSION_TOUCH)
    assert users.get_session(auth_wh, issued.session_id)["last_seen_at"] == later


# ---- revocation -------------------------------------------------------------------------------
def test_signed_out_token_never_signs_in_again(auth_wh):
    issued = sessions.start_session(auth_wh, BOSS)
    _, other_tab = sessions.resume_token(auth_wh, issued.token)
    sessions.sign_out(auth_wh, "boss", session_id=issued.session_id)
    with pytest.raises(auth.SessionEnded, match=r"You signed out \(in this or another tab\)"):
        sessions.resume_token(auth_wh, issued.token)
    with pytest.raises(auth.SessionEnded, match="You signed out"):
        sessions.resume_session(auth_wh, other_tab, time.time())
    log = audit.read_audit_log(auth_wh, "auth.sign_out", actor="boss")
    assert len(log) == 1
    # The boss's other sessions are untouched.
    assert sessions.resume_token(auth_wh, sessions.start_session(auth_wh, BOSS).token)


def test_password_reset_and_disabling_revoke_every_session_of_that_user(auth_wh):
    mgr, ana = (sessions.start_session(auth_wh, User(n, r))
                for n, r in (("mgr", "manager"), ("ana", "analyst")))
    ana_2 = sessions.start_session(auth_wh, User("ana", "analyst"))
    boss = sessions.start_session(auth_wh, BOSS)
    auth.reset_password(auth_wh, BOSS, "mgr", "a-brand-new-secret")
    with pytest.raises(auth.SessionEnded, match="password was changed"):
        sessions.resume_token(auth_wh, mgr.token)
    assert users.get_session(auth_wh, mgr.session_id)["revoked_reason"] == \
        "password_reset"
    auth.set_disabled(auth_wh, BOSS, "ana", True)
    for issued in (ana, ana_2):
        with pytest.raises(auth.SessionEnded, match="no longer active"):
            sessions.resume_token(auth_wh, issued.token)
    # Enabling the account again does not bring the old sessions back.
    auth.set_disabled(auth_wh, BOSS, "ana", False)
    with pytest.raises(auth.SessionEnded, match="no longer active"):
        sessions.resume_token(auth_wh, ana.token)
    assert sessions.resume_token(auth_wh, boss.token)[0] == BOSS
    details = audit.read_audit_log(auth_wh, "user.disable")["details"].iloc[0]
    assert '"sessions_ended": 2' in details


def test_admin_can_sign_a_user_out_everywhere(auth_wh):
    first, second = (sessions.start_session(auth_wh, User("mgr", "manager")) for _ in "12")
    with pytest.raises(auth.PermissionDenied):
        sessions.end_sessions_of(auth_wh, User("mgr", "manager"), "mgr")
    assert sessions.end_sessions_of(auth_wh, BOSS, "MGR") == 2
    for issued in (first, second):
        with pytest.raises(auth.SessionEnded, match="An administrator ended your session"):
            sessions.resume_token(auth_wh, issued.token)


def test_session_tables_are_hidden_from_store_users(auth_wh):
    sessions.start_session(auth_wh, BOSS)
    _fail(auth_wh, "boss", 1, datetime.now(), ATTACKER)
    scoped = ScopedWarehouse(auth_wh, store_pins(auth_wh))
    assert scoped.scalar("SELECT count(*) FROM auth_sessions") == 0
    assert scoped.scalar("SELECT count(*) FROM auth_client_throttle") == 0
    assert auth_wh.scalar("SELECT count(*) FROM auth_sessions") == 1


# ---- lock-out per username and client ---------------------------------------------------------
def test_attacker_locks_only_their_own_client_and_the_admin_still_signs_in(auth_wh):
    t0 = datetime(2025, 3, 1, 10, 0, 0)
    _fail(auth_wh, "boss", 4, t0, ATTACKER)
    with pytest.raises(auth.AccountLocked, match=r"Try again in 15 minutes\.$"):
        auth.authenticate(auth_wh, "boss", "wrong-again", now=t0 + timedelta(minutes=1),
                          client=ATTACKER)
    # Even the right password is refused from the attacker's client...
    with pytest.raises(auth.AccountLocked):
        auth.authenticate(auth_wh, "boss", PASSWORD["boss"], now=t0 + timedelta(minutes=2),
                          client=ATTACKER)
    # ...while the admin signs in from their own client at the same moment.
    user = auth.authenticate(auth_wh, "boss", PASSWORD["boss"],
                             now=t0 + timedelta(minutes=2), client=OFFICE)
    assert user == BOSS
    assert users.throttle_row(auth_wh, "boss", ATTACKER)["locked_until"] == \
        t0 + timedelta(minutes=16)
    blocked = audit.read_audit_log(auth_wh, "auth.sign_in_blocked")
    assert ATTACKER in blocked["details"].iloc[0]


def test_a_browser_that_signed_in_before_is_not_locked_by_failures_from_its_network(auth_wh):
    """The app sees one address for everyone on this machine or behind one proxy: the
    admin's browser (its device cookie) is counted apart from that address."""
    device = sessions.new_device_token()
    sessions.start_session(auth_wh, BOSS, client="ip:local", device=device)
    t0 = datetime.now()
    _fail(auth_wh, "boss", 5, t0, "ip:local")                  # attacker, same address
    with pytest.raises(auth.AccountLocked):
        auth.authenticate(auth_wh, "boss", PASSWORD["boss"], now=t0 + timedelta(seconds=9),
                          client="ip:local")
    assert auth.authenticate(auth_wh, "boss", PASSWORD["boss"], now=t0 + timedelta(seconds=9),
                             client="ip:local", device=device) == BOSS
    # A made-up device id (or the attacker's own, trusted for nobody) counts as the address.
    with pytest.raises(auth.AccountLocked):
        auth.authenticate(auth_wh, "boss", PASSWORD["boss"], now=t0 + timedelta(seconds=9),
                          client="ip:local", device=sessions.new_device_token())
    # A device is trusted only for the names it signed in to.
    assert auth.throttle_client(auth_wh, "mgr", "ip:local", device) == "ip:local"
    assert auth.throttle_client(auth_wh, "boss", "ip:local", device).startswith("device:")


def test_failures_from_a_trusted_browser_still_lock_that_browser(auth_wh):
    device = sessions.new_device_token()
    sessions.start_session(auth_wh, BOSS, device=device)
    t0 = datetime.now()
    _fail(auth_wh, "boss", 5, t0, "ip:local", device=device)
    with pytest.raises(auth.AccountLocked):
        auth.authenticate(auth_wh, "boss", PASSWORD["boss"], now=t0 + timedelta(seconds=9),
                          client="ip:local", device=device)
    assert auth.authenticate(auth_wh, "boss", PASSWORD["boss"], now=t0 + timedelta(seconds=9),
                             client="ip:local") == BOSS


def test_success_clears_only_that_clients_count(auth_wh):
    t0 = datetime(2025, 3, 1, 10, 0, 0)
    _fail(auth_wh, "ana", 4, t0, ATTACKER)
    auth.authenticate(auth_wh, "ana", PASSWORD["ana"], now=t0 + timedelta(minutes=1),
                      client=OFFICE)
    with pytest.raises(auth.AccountLocked):                     # the 5th from the attacker
        auth.authenticate(auth_wh, "ana", "nope-nope-nope", now=t0 + timedelta(minutes=2),
                          client=ATTACKER)


@pytest.mark.parametrize("address,client", [
    ("203.0.113.7", "ip:203.0.113.7"), ("::ffff:203.0.113.7", "ip:203.0.113.7"),
    ("2001:db8::1", "ip:2001:db8::1"), ("::ffff:127.0.0.1", "ip:local"), ("::1", "ip:local"),
    ("127.0.0.1", "ip:local"), (None, "ip:local"), ("", "ip:local"),
    ("testclient", "ip:testclient")])
def test_client_id_names_one_machine_one_way(address, client):
    assert auth.client_id(address) == client


@pytest.mark.parametrize("seconds,text", [
    (900, "15 minutes"), (899.4, "15 minutes"), (840.01, "15 minutes"), (840, "14 minutes"),
    (61, "2 minutes"), (60, "1 minute"), (59.2, "1 minute"), (44.2, "45 seconds"),
    (1.5, "2 seconds"), (0.3, "1 second"), (0, "1 second"), (7200, "120 minutes"),
    (7260.5, "2 h 2 min"), (3 * 3600 + 1, "3 h 1 min"), (3 * 3600, "3 hours")])
def test_wait_is_rounded_up_never_down(seconds, text):
    assert auth.wait_text(seconds) == text


def test_lock_message_states_the_exact_remaining_time(auth_wh):
    t0 = datetime(2025, 3, 1, 10, 0, 0)
    _fail(auth_wh, "mgr", 4, t0, ATTACKER)
    with pytest.raises(auth.AccountLocked) as locked:
        auth.authenticate(auth_wh, "mgr", "x-wrong-pass", now=t0 + timedelta(seconds=30),
                          client=ATTACKER)
    assert str(locked.value) == ("Too many failed sign-ins for this username from this "
                                 "device or network. Try again in 15 minutes.")
    for after, wait in [(timedelta(minutes=1), "14 minutes"),
                        (timedelta(minutes=14, seconds=1), "59 seconds"),
                        (timedelta(minutes=14, seconds=59.5), "1 second")]:
        with pytest.raises(auth.AccountLocked, match=f"Try again in {wait}\\.$"):
            auth.authenticate(auth_wh, "mgr", PASSWORD["mgr"],
                              now=t0 + timedelta(seconds=30) + after, client=ATTACKER)
    assert auth.authenticate(auth_wh, "mgr", PASSWORD["mgr"],
                             now=t0 + timedelta(minutes=15, seconds=30), client=ATTACKER)


def test_schema_additions_reach_an_older_warehouse_file(tmp_path):
    """A file made before schema 4 (no session tables, and no migration record: it predates
    Alembic) gets them on its next start."""
    path = tmp_path / "old.duckdb"
    wh = Warehouse(path)
    with wh.transaction(touches=()) as cur:
        cur.execute("DROP TABLE alembic_version")
        cur.execute("DROP TABLE auth_sessions")
        cur.execute("DROP TABLE auth_client_throttle")
        cur.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    wh.close()
    wh = Warehouse(path)
    assert {"auth_sessions", "auth_client_throttle"} <= set(wh.tables())
    assert wh.schema_version() >= 4
    wh.close()
