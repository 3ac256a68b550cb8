"""Contracts of Ask MicroPulse outside the engine: POST /v1/assistant/ask (JWT, roles, PIN
scope, conversations, errors) and `python -m engine ask QUESTION [--conversation] --json`."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.__main__ import main
from tests.api_frames import build_world, token_headers

FIELDS = {"conversation_id", "question", "intent", "confidence", "entities", "answer",
          "engine_answer", "reason", "table", "chart", "link", "clarify", "follow_up",
          "rephrased"}
ENTITY_FIELDS = {"sku_id", "category", "pin_code", "city", "state", "commodity", "market",
                 "date_from", "date_to", "horizon_days", "festival", "price_change_pct",
                 "budget", "quantity_qtl"}


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    from tests.forecast_page_frames import forecast_copy

    return build_world(forecast_copy(str(small_warehouse_path)),
                       tmp_path_factory.mktemp("api_ask") / "api.duckdb")


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world.path, Settings(jwt_secret="s" * 48, rate_per_minute=10_000))
    yield TestClient(app, raise_server_exceptions=False)
    app.state.micropulse.close()


def _ask(client, user, question, conversation_id=None):
    body = {"question": question}
    if conversation_id:
        body["conversation_id"] = conversation_id
    return client.post("/v1/assistant/ask", json=body, headers=token_headers(client, user))


def test_api_answers_with_every_field_and_keeps_the_conversation(client):
    res = _ask(client, "analyst", "How much will Delhi sell next week?")
    assert res.status_code == 200, res.text
    body = res.json()
    assert set(body) == FIELDS and set(body["entities"]) == ENTITY_FIELDS
    assert body["intent"] == "forecast" and body["entities"]["city"] == "Delhi"
    assert body["table"] and body["link"]["page"] == "Forecast"
    follow = _ask(client, "analyst", "and in Mumbai?", body["conversation_id"]).json()
    assert follow["follow_up"] and follow["entities"]["city"] == "Mumbai"
    assert follow["entities"]["date_from"] == body["entities"]["date_from"]
    other = _ask(client, "manager", "and in Kolkata?", body["conversation_id"])
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "conversation_not_yours"


def test_api_store_user_is_held_to_their_pin_codes_and_pages(client, world):
    import re

    from engine.warehouse.db import Warehouse

    wh = Warehouse(world.path)
    try:
        other_city = wh.scalar("SELECT city FROM locations WHERE pin_code = ?",
                               [world.other_pin])
    finally:
        wh.close()
    body = _ask(client, "store", f"How much will {other_city} sell next week?").json()
    assert "outside your PIN codes" in body["answer"] and body["table"] == []
    assert not re.search(r"\d", body["answer"].replace(world.store_pins[0], ""))
    body = _ask(client, "store", f"How much will {world.store_pins[0]} sell tomorrow?").json()
    assert body["table"] and "outside" not in body["answer"]
    body = _ask(client, "store", "Which mandi is cheapest for onions?").json()
    assert "not available to your role" in body["answer"]


def test_api_rejects_bad_requests(client):
    assert client.post("/v1/assistant/ask", json={"question": "hi"}).status_code == 401
    res = client.post("/v1/assistant/ask", json={"question": ""},
                      headers=token_headers(client, "analyst"))
    assert res.status_code == 422
    res = client.post("/v1/assistant/ask", json={"question": "hi", "extra": 1},
                      headers=token_headers(client, "analyst"))
    assert res.status_code == 422
    res = client.post("/v1/assistant/ask", json={"question": "hi", "conversation_id": "a b"},
                      headers=token_headers(client, "analyst"))
    assert res.status_code == 422
    assert "/v1/assistant/ask" in client.get("/v1/openapi.json").json()["paths"]


def test_cli_prints_the_json_contract_and_follows_up(world, capsys):
    assert main(["ask", "Kal Chennai mein kitna bikega?", "--json",
                 "--warehouse", str(world.path)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert FIELDS <= set(first) and first["intent"] == "forecast"
    assert first["entities"]["city"] == "Chennai" and first["entities"]["date_from"]
    assert main(["ask", "and in Kolkata?", "--json", "--conversation",
                 first["conversation_id"], "--warehouse", str(world.path)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["entities"]["city"] == "Kolkata"
    assert second["entities"]["date_from"] == first["entities"]["date_from"]
    assert main(["ask", "What should I reorder in Delhi?", "--warehouse",
                 str(world.path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Delhi") and "intent reorder" in text


def test_cli_empty_question_is_a_one_line_error(world, capsys):
    assert main(["ask", " ", "--warehouse", str(world.path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Type a question") and "Traceback" not in err
    assert main(["ask", " ", "--json", "--warehouse", str(world.path)]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "empty_question"
