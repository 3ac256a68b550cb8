"""WS /ws: the JWT in the first message, then forecast-run progress, new alerts and event
results pushed from the engine's in-process bus, each only to users who may see it."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.main import create_app
from api.security import Settings
from engine import bus
from engine.bus import may_see
from tests.api_frames import token_headers
from tests.events_frames import events_world, ndjson, planted_events
from tests.live_frames import CHEAPEST


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    return events_world(small_warehouse_path, tmp_path_factory.mktemp("ws") / "ws.duckdb")


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world.path, Settings(jwt_secret="w" * 48, rate_per_minute=10_000))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _token(client, role: str) -> str:
    return token_headers(client, role)["Authorization"].split(" ", 1)[1]


def _until_marker(ws, marker: str) -> list[dict]:
    """Messages up to the marker published after the actions (every listener gets the
    bus's messages in order, so nothing of the actions can come after it)."""
    got = []
    while True:
        msg = ws.receive_json()
        if msg.get("type") == "marker" and msg.get("name") == marker:
            return got
        got.append(msg)


def test_a_store_user_gets_run_progress_and_their_pins_alert_not_another_pins(client, world):
    from engine.forecast.pipeline import run_forecast

    state = client.app.state.micropulse
    wh = state.warehouse()
    mine, other = world.store_pins[0], world.other_pin
    events, _ = planted_events(wh, days=7, factor={mine: 3.0, other: 3.0})
    with client.websocket_connect("/ws") as store_ws, client.websocket_connect("/ws") as admin_ws:
        store_ws.send_json({"token": _token(client, "store")})
        admin_ws.send_json({"token": _token(client, "admin")})
        ready = store_ws.receive_json()
        assert ready == {"type": "ready", "user": "store", "role": "store",
                         "pin_codes": [mine]}
        assert admin_ws.receive_json()["pin_codes"] is None
        res = client.post("/v1/sales/events", content=ndjson(events),
                          headers=token_headers(client, "admin"))
        assert res.json()["loaded"] == len(events)
        state.events().score_now()           # the debounced live scoring + drift check
        run_forecast(wh, CHEAPEST)
        bus.publish("marker", {"name": "m1"})
        store_got, admin_got = _until_marker(store_ws, "m1"), _until_marker(admin_ws, "m1")

    def of(got, kind):
        return [m for m in got if m["type"] == kind]
    store_alerts, admin_alerts = of(store_got, "alert"), of(admin_got, "alert")
    assert {a["pin_code"] for a in admin_alerts if a["rule"] == "live_drift"} == {mine, other}
    assert [a["pin_code"] for a in store_alerts] == [mine]
    assert store_alerts[0]["rule"] == "live_drift" and "off by" in store_alerts[0]["reason"]
    for got in (store_got, admin_got):
        steps = of(got, "run_progress")
        assert steps[0]["message"] == "forecast run started" and len(steps) > 2
        finished = of(got, "run_finished")
        assert len(finished) == 1 and finished[0]["ok"] and finished[0]["run_id"]
        assert finished[0]["run"] == steps[0]["run"]
    # event results: the poster (admin) and users who see every PIN; never the store user
    assert of(admin_got, "events_committed")[0]["loaded"] == len(events)
    assert of(admin_got, "ingest")[0]["loaded"] == len(events)
    assert not of(store_got, "events_committed") and not of(store_got, "ingest")
    assert all("audience" not in m for m in store_got + admin_got)


def test_event_results_reach_their_poster_and_upload_results_unscoped_users(client, world,
                                                                            tmp_path):
    wh = client.app.state.micropulse.warehouse()
    events, _ = planted_events(wh, days=1, prefix="own")
    mine = [e for e in events if e["pin"] in world.store_pins][:2]
    csv = tmp_path / "sales.csv"
    csv.write_text(f"sku_id,pin_code,date,quantity\n{mine[0]['sku']},{mine[0]['pin']},"
                   f"{mine[0]['timestamp'][:10]},3\n")
    with client.websocket_connect("/ws") as ws, client.websocket_connect("/ws") as analyst:
        ws.send_json({"token": _token(client, "store")})
        analyst.send_json({"token": _token(client, "analyst")})
        ws.receive_json(), analyst.receive_json()
        client.post("/v1/sales/events", content=ndjson(mine),
                    headers=token_headers(client, "store"))
        with csv.open("rb") as fh:
            up = client.post("/v1/ingest/sales", files={"file": ("sales.csv", fh, "text/csv")},
                             headers=token_headers(client, "analyst"))
        assert up.status_code == 201, up.text
        bus.publish("marker", {"name": "m2"})
        got, other = _until_marker(ws, "m2"), _until_marker(analyst, "m2")
    assert [m["loaded"] for m in got if m["type"] == "events_committed"] == [2]
    assert not [m for m in other if m["type"] == "events_committed"]
    uploads = [m for m in other if m["type"] == "ingest" and m.get("kind") == "sales"]
    assert [m["batch_id"] for m in uploads] == [up.json()["batch_id"]]
    assert uploads[0]["rows_loaded"] == 1
    assert not [m for m in got if m["type"] == "ingest"]


@pytest.mark.parametrize("first", [{"token": "not-a-jwt"}, {"hello": 1}, "plain text"])
def test_ws_without_a_valid_token_gets_an_error_and_is_closed(client, first):
    with client.websocket_connect("/ws") as ws:
        if isinstance(first, str):
            ws.send_text(first)
        else:
            ws.send_json(first)
        err = ws.receive_json()
        assert err["type"] == "error" and err["code"] in ("invalid_token", "not_authenticated")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401


def test_may_see_rules():
    class U:
        def __init__(self, name, pins):
            self.username, self.pin_codes, self.is_scoped = name, tuple(pins), bool(pins)
    store, admin = U("s", ["560001"]), U("a", [])
    assert may_see(store, {"pin_code": "560001"}) and not may_see(store, {"pin_code": "400001"})
    assert may_see(store, {"pin_code": None}) and may_see(admin, {"pin_code": "400001"})
    assert not may_see(store, {"audience": "unscoped"}) and may_see(admin, {"audience": "unscoped"})
    assert may_see(store, {"audience": "user:s"}) and not may_see(admin, {"audience": "user:s"})


def test_the_socket_closes_when_its_token_expires(client, world):
    import time

    import jwt

    settings = client.app.state.micropulse.settings
    now = int(time.time())
    token = jwt.encode({"sub": "analyst", "role": "analyst", "auth_time": now, "iat": now,
                        "exp": now + 2, "typ": "access"}, settings.jwt_secret,
                       algorithm="HS256")
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"token": token})
        assert ws.receive_json()["type"] == "ready"
        err = ws.receive_json()                    # nothing else happens meanwhile
        assert err == {"type": "error", "code": "token_expired", "message": err["message"]}
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
