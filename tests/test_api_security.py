"""REST API security: tokens, sign-in throttling, API keys, rate limits."""
from __future__ import annotations

import time

import jwt
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import RateLimiter, Settings, issue_token
from engine import auth
from tests.api_frames import PASSWORDS, build_world, token_headers

SECRET = "s" * 48


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    # No forecast run needed here: the plain small demo is enough.
    return build_world(small_warehouse_path, tmp_path_factory.mktemp("apisec") / "s.duckdb",
                       with_alerts=False)


def _client(world, **settings) -> TestClient:
    app = create_app(world.path, Settings(jwt_secret=SECRET, **settings))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(world):
    c = _client(world, rate_per_minute=10_000, batch_rate_per_minute=10_000)
    yield c
    c.app.state.micropulse.close()


def _err(res) -> dict:
    return res.json()["error"]


def test_token_carries_role_and_expires_in_thirty_minutes(client):
    res = client.post("/v1/auth/token", json={"username": "Manager",
                                              "password": PASSWORDS["manager"]})
    assert res.status_code == 200
    body = res.json()
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == "manager" and claims["role"] == "manager"
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 1800


def test_wrong_password_is_401_without_saying_which_part_was_wrong(client):
    for name in ("analyst", "nobody-here"):
        res = client.post("/v1/auth/token", json={"username": name, "password": "wrong-pass"})
        assert res.status_code == 401
        assert _err(res) ["message"] == "Wrong username or password."


def test_five_failed_sign_ins_lock_the_username_with_retry_after(client):
    for _ in range(4):
        assert client.post("/v1/auth/token", json={"username": "lockme",
                                                   "password": "bad"}).status_code == 401
    res = client.post("/v1/auth/token", json={"username": "lockme", "password": "bad"})
    assert res.status_code == 429 and _err(res)["code"] == "account_locked"
    assert 890 <= int(res.headers["Retry-After"]) <= 900
    assert _err(res)["message"].endswith("Try again in 15 minutes.")


def test_failed_sign_ins_lock_the_name_for_the_calling_address_only(world):
    """Issue 25: an attacker failing the admin's password locks the admin out of the
    attacker's own address, not out of the API."""
    app = _client(world).app
    attacker = TestClient(app, client=("203.0.113.66", 50000), raise_server_exceptions=False)
    office = TestClient(app, client=("198.51.100.7", 50000), raise_server_exceptions=False)
    for _ in range(4):
        assert attacker.post("/v1/auth/token", json={"username": "admin",
                                                     "password": "guess-guess"}
                             ).status_code == 401
    res = attacker.post("/v1/auth/token", json={"username": "admin",
                                                "password": "guess-again"})
    assert res.status_code == 429 and _err(res)["code"] == "account_locked"
    # Locked from this address even with the right password, for the stated 15 minutes.
    res = attacker.post("/v1/auth/token", json={"username": "admin",
                                                "password": PASSWORDS["admin"]})
    assert res.status_code == 429 and _err(res)["code"] == "account_locked"
    assert _err(res)["message"].endswith("Try again in 15 minutes.")
    assert 890 <= int(res.headers["Retry-After"]) <= 900
    res = office.post("/v1/auth/token", json={"username": "admin",
                                              "password": PASSWORDS["admin"]})
    assert res.status_code == 200 and res.json()["role"] == "admin"
    wh = app.state.micropulse.warehouse()
    locked = wh.query("SELECT client FROM auth_client_throttle WHERE username = 'admin' "
                      "AND locked_until IS NOT NULL")
    assert locked["client"].tolist() == ["ip:203.0.113.66"]
    app.state.micropulse.close()


def test_unauthenticated_requests_from_one_address_get_429_with_retry_after(world):
    app = _client(world, unauth_rate_per_minute=3).app
    stranger = TestClient(app, client=("203.0.113.9", 50000), raise_server_exceptions=False)
    other = TestClient(app, client=("198.51.100.20", 50000), raise_server_exceptions=False)
    good = token_headers(other, "analyst")
    codes = [stranger.get("/v1/alerts").status_code,
             stranger.get("/v1/alerts", headers={"Authorization": "Bearer not-a-token"}
                          ).status_code,
             stranger.get("/v1/alerts", headers={"X-API-Key": "mpk_x_y"}).status_code,
             stranger.get("/v1/alerts").status_code]
    assert codes == [401, 401, 401, 429]
    res = stranger.get("/v1/alerts", headers=good)      # not even valid credentials pass
    assert res.status_code == 429 and _err(res)["code"] == "rate_limited"
    assert 1 <= int(res.headers["Retry-After"]) <= 60
    assert _err(res)["message"].startswith("Too many requests without valid credentials "
                                           "from your address: the limit is 3 per minute.")
    # Other addresses are not affected, with or without credentials.
    assert other.get("/v1/alerts", headers=good).status_code == 200
    assert other.get("/v1/alerts").status_code == 401
    app.state.micropulse.close()


def test_successful_requests_do_not_count_as_unauthenticated(world):
    app = _client(world, unauth_rate_per_minute=2).app
    c = TestClient(app, client=("203.0.113.10", 50000), raise_server_exceptions=False)
    headers = token_headers(c, "analyst")
    assert all(c.get("/v1/alerts", headers=headers).status_code == 200 for _ in range(5))
    assert [c.get("/v1/alerts").status_code for _ in range(3)] == [401, 401, 429]
    app.state.micropulse.close()


def test_wait_reports_a_full_window_without_recording_a_hit():
    lim = RateLimiter(window=60)
    assert lim.wait("unauth", "ip", 2, now=0) is None
    assert lim.hit("unauth", "ip", 2, now=0) is None
    assert lim.wait("unauth", "ip", 2, now=5) is None    # wait() itself did not count
    assert lim.hit("unauth", "ip", 2, now=10) is None
    assert lim.wait("unauth", "ip", 2, now=20) == pytest.approx(40)
    assert lim.wait("unauth", "ip", 2, now=60.5) is None


def test_idle_rate_limit_keys_are_dropped(monkeypatch):
    lim = RateLimiter(window=60)
    monkeypatch.setattr(RateLimiter, "SWEEP_AT", 100)
    for i in range(100):
        lim.hit("unauth", f"ip-{i}", 5, now=0)
    lim.hit("unauth", "late", 5, now=120)
    assert set(lim._hits) == {("unauth", "late")}


def test_expired_or_tampered_tokens_are_401(client):
    user = auth.User("analyst", "analyst")
    old = issue_token(Settings(jwt_secret=SECRET), user, now=time.time() - 3600)
    res = client.get("/v1/alerts", headers={"Authorization": f"Bearer {old['access_token']}"})
    assert res.status_code == 401 and _err(res)["code"] == "token_expired"
    forged = issue_token(Settings(jwt_secret="another-secret" * 4), user)
    res = client.get("/v1/alerts", headers={"Authorization": f"Bearer {forged['access_token']}"})
    assert res.status_code == 401 and _err(res)["code"] == "invalid_token"
    assert res.headers["WWW-Authenticate"] == "Bearer"


def test_disabling_an_account_ends_its_tokens_on_the_next_request(client):
    headers = token_headers(client, "service")
    assert client.get("/v1/alerts", headers=headers).status_code == 200
    wh = client.app.state.micropulse.warehouse()
    admin = auth.User("admin", "admin")
    auth.set_disabled(wh, admin, "service", True)
    try:
        res = client.get("/v1/alerts", headers=headers)
        assert res.status_code == 401 and _err(res)["code"] == "session_ended"
    finally:
        auth.set_disabled(wh, admin, "service", False)


def test_api_key_acts_as_its_service_account_until_revoked(client):
    admin = token_headers(client, "admin")
    res = client.post("/v1/auth/api-keys", json={"username": "service"}, headers=admin)
    assert res.status_code == 201
    key = res.json()
    assert key["api_key"].startswith(f"mpk_{key['key_id']}_") and key["role"] == "analyst"
    stored = client.app.state.micropulse.warehouse().query(
        "SELECT key_hash FROM api_keys WHERE key_id = ?", [key["key_id"]])
    assert key["api_key"].split("_", 2)[2] not in stored["key_hash"].iloc[0]
    assert client.get("/v1/alerts", headers={"X-API-Key": key["api_key"]}).status_code == 200
    wrong = key["api_key"][:-3] + "xyz"
    assert client.get("/v1/alerts", headers={"X-API-Key": wrong}).status_code == 401
    assert client.delete(f"/v1/auth/api-keys/{key['key_id']}", headers=admin).status_code == 204
    res = client.get("/v1/alerts", headers={"X-API-Key": key["api_key"]})
    assert res.status_code == 401 and _err(res)["code"] == "invalid_api_key"


def test_only_admins_issue_api_keys(client):
    res = client.post("/v1/auth/api-keys", json={"username": "service"},
                      headers=token_headers(client, "manager"))
    assert res.status_code == 403 and "cannot manage users" in _err(res)["message"]
    res = client.post("/v1/auth/api-keys", json={"username": "ghost"},
                      headers=token_headers(client, "admin"))
    assert res.status_code == 404


def test_requests_over_the_per_user_limit_get_429_with_retry_after(world):
    c = _client(world, rate_per_minute=3, batch_rate_per_minute=100)
    headers = token_headers(c, "analyst")
    codes = [c.get("/v1/alerts", headers=headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    res = c.get("/v1/alerts", headers=headers)
    assert _err(res)["code"] == "rate_limited" and 1 <= int(res.headers["Retry-After"]) <= 60
    other = token_headers(c, "manager")   # the limit is per user
    assert c.get("/v1/alerts", headers=other).status_code == 200
    c.app.state.micropulse.close()


def test_batch_requests_have_their_own_lower_limit(world):
    c = _client(world, rate_per_minute=100, batch_rate_per_minute=2)
    headers = token_headers(c, "analyst")
    body = {"items": [{"sku_id": "X", "pin_code": world.other_pin}]}
    codes = [c.post("/v1/forecasts/batch", json=body, headers=headers).status_code
             for _ in range(3)]
    assert codes[2] == 429 and codes[:2] != [429, 429]
    assert "batch requests" in _err(c.post("/v1/forecasts/batch", json=body,
                                           headers=headers))["message"]
    c.app.state.micropulse.close()


def test_rate_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MICROPULSE_API_RATE_LIMIT", "7")
    monkeypatch.setenv("MICROPULSE_API_BATCH_RATE_LIMIT", "2")
    monkeypatch.setenv("MICROPULSE_JWT_SECRET", SECRET)
    monkeypatch.setenv("MICROPULSE_API_UNAUTH_RATE_LIMIT", "12")
    s = Settings.from_env()
    assert (s.rate_per_minute, s.batch_rate_per_minute, s.jwt_secret) == (7, 2, SECRET)
    assert s.unauth_rate_per_minute == 12
    monkeypatch.delenv("MICROPULSE_API_UNAUTH_RATE_LIMIT")
    assert Settings.from_env().unauth_rate_per_minute == 30


def test_sliding_window_frees_a_slot_a_minute_after_the_oldest_hit():
    lim = RateLimiter(window=60)
    assert lim.hit("all", "u", 2, now=0) is None
    assert lim.hit("all", "u", 2, now=10) is None
    assert lim.hit("all", "u", 2, now=30) == pytest.approx(30)
    assert lim.hit("all", "u", 2, now=60.5) is None


def test_unknown_path_and_wrong_method_use_the_error_shape(client):
    res = client.get("/v1/nothing-here")
    assert res.status_code == 404 and _err(res)["code"] == "not_found"
    res = client.delete("/v1/alerts")
    assert res.status_code == 405 and _err(res)["request_id"] == res.headers["X-Request-ID"]
