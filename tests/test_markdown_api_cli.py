"""Markdown contracts: `python -m engine pricing markdown` and POST /v1/pricing/markdown on
a copy of the small demo (naive baseline), PIN scoping for store users."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.__main__ import main
from engine.pricing.endings import is_allowed
from engine.warehouse.db import Warehouse
from tests.api_frames import build_world, token_headers


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    return build_world(small_warehouse_path, tmp_path_factory.mktemp("md_api") / "md.duckdb",
                       with_alerts=False)


@pytest.fixture(scope="module")
def facts(world):
    """The count date and a short-life candidate line in the store user's PIN and outside."""
    wh = Warehouse(world.path)
    try:
        as_of = str(pd.Timestamp(wh.scalar("SELECT max(snapshot_date) FROM inventory")).date())
        lines = wh.query(
            "SELECT i.sku_id, i.pin_code FROM inventory i JOIN skus s USING (sku_id) "
            "WHERE s.shelf_life_days <= 14 AND i.on_hand > 0 "
            "ORDER BY i.on_hand DESC")
    finally:
        wh.close()
    mine = lines[lines["pin_code"].isin(world.store_pins)].iloc[0]
    other = lines[~lines["pin_code"].isin(world.store_pins)].iloc[0]
    return as_of, tuple(mine), tuple(other)


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world.path, Settings(jwt_secret="m" * 48, rate_per_minute=10_000))
    yield TestClient(app, raise_server_exceptions=False)
    app.state.micropulse.close()


def test_cli_lists_candidates_and_plans_one_line(world, facts, tmp_path, capsys):
    as_of, (sku, pin), _ = facts
    assert main(["pricing", "markdown", "--warehouse", str(world.path), "--as-of", as_of,
                 "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["status"] == "ok" and listing["candidates"] == len(listing["lines"]) > 0
    assert "baseline" in listing["baseline"]
    out = tmp_path / "path.csv"
    assert main(["pricing", "markdown", "--warehouse", str(world.path), "--as-of", as_of,
                 "--sku", sku, "--pin", pin, "--out", str(out), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    steps = pd.read_csv(out)
    assert plan["kind"] == "short_life" and plan["steps"] == len(steps) == len(plan["path"])
    assert plan["stock"] == pytest.approx(plan["sold"] + plan["left"])
    assert steps["units"].sum() == pytest.approx(plan["sold"], abs=0.01)
    assert plan["reason"].startswith("Short shelf life: shelf life ")


def test_cli_errors_carry_a_code_and_scope_holds(world, facts, capsys):
    as_of, _, (sku, pin) = facts
    assert main(["pricing", "markdown", "--warehouse", str(world.path), "--sku", sku,
                 "--pin", pin, "--pins", world.store_pins[0], "--json"]) == 1
    err = json.loads(capsys.readouterr().out)
    assert err["code"] == "pin_out_of_scope"
    assert main(["pricing", "markdown", "--warehouse", str(world.path), "--as-of", as_of,
                 "--pins", world.store_pins[0], "--json"]) == 0
    mine = json.loads(capsys.readouterr().out)
    assert {r["pin_code"] for r in mine["lines"]} <= set(world.store_pins)
    assert main(["pricing", "markdown", "--warehouse", str(world.path), "--sku", sku,
                 "--pin", pin, "--as-of", "2099-01-01", "--json"]) == 1
    expired = json.loads(capsys.readouterr().out)
    assert expired["code"] == "expired" and "past their last selling day" in expired["message"]
    assert main(["pricing", "markdown", "--warehouse", str(world.path), "--sku", sku,
                 "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["code"] == "bad_settings"
    assert main(["pricing", "markdown", "--warehouse", str(world.path), "--shelf-life",
                 "Dairy five", "--json"]) == 1
    bad = json.loads(capsys.readouterr().out)
    assert bad["code"] == "bad_settings" and bad["evidence"] == {"value": "Dairy five"}


def test_api_plans_a_line_on_price_endings(client, facts):
    as_of, (sku, pin), _ = facts
    res = client.post("/v1/pricing/markdown", headers=token_headers(client, "analyst"),
                      json={"sku_id": sku, "pin_code": pin, "as_of": as_of, "step_days": 3,
                            "allow_below_cost": True, "max_discount": 0.6})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["kind"] == "short_life" and body["steps"]
    assert sum(s["days"] for s in body["steps"]) == body["days_left"]
    prices = [s["price"] for s in body["steps"] if s["price"] != body["current_price"]]
    assert is_allowed(prices, "retail").all()
    assert all(a["price"] >= b["price"] for a, b in zip(body["steps"], body["steps"][1:]))
    t = body["totals"]
    assert t["recovered_margin"] == pytest.approx(t["revenue"] + t["salvage"] - t["cost"],
                                                  abs=0.01)
    assert t["recovered_margin"] >= t["keep_price_margin"] - 0.01


def test_api_store_user_is_scoped_and_errors_are_coded(client, facts):
    as_of, (sku, pin), (other_sku, other_pin) = facts
    store = token_headers(client, "store")
    ok = client.post("/v1/pricing/markdown", headers=store,
                     json={"sku_id": sku, "pin_code": pin, "as_of": as_of})
    assert ok.status_code == 200, ok.text
    out = client.post("/v1/pricing/markdown", headers=store,
                      json={"sku_id": other_sku, "pin_code": other_pin, "as_of": as_of})
    assert out.status_code == 403 and out.json()["error"]["code"] == "pin_out_of_scope"
    expired = client.post("/v1/pricing/markdown", headers=store,
                          json={"sku_id": sku, "pin_code": pin, "as_of": "2099-01-01"})
    assert expired.status_code == 422
    err = expired.json()["error"]
    assert err["code"] == "expired" and err["details"]["sku_id"] == sku
    missing = client.post("/v1/pricing/markdown", headers=store,
                          json={"sku_id": "NOPE-1", "pin_code": pin})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "no_inventory"
    bad = client.post("/v1/pricing/markdown", headers=store,
                      json={"sku_id": sku, "pin_code": pin, "step_days": 0})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    anon = client.post("/v1/pricing/markdown", json={"sku_id": sku, "pin_code": pin})
    assert anon.status_code == 401
