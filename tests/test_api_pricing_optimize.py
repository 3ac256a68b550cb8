"""POST /v1/pricing/optimize: the Pricing page's optimiser over the API, with its price
endings setting, the rules it keeps and the sentence an impossible rule set gets."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.pricing.endings import is_allowed
from tests.api_frames import build_world, token_headers


@pytest.fixture(scope="module")
def client(small_warehouse_path, tmp_path_factory):
    world = build_world(small_warehouse_path, tmp_path_factory.mktemp("api_opt") / "api.duckdb",
                        with_alerts=False)
    app = create_app(world.path, Settings(jwt_secret="o" * 48, rate_per_minute=10_000))
    yield TestClient(app, raise_server_exceptions=False)
    app.state.micropulse.close()


def test_optimise_defaults_to_retail_price_endings_and_keeps_the_rules(client):
    headers = token_headers(client, "analyst")
    res = client.post("/v1/pricing/optimize", headers=headers, json={"max_change": 0.08})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "Optimal" and body["price_endings"] == "retail"
    recs = body["recommendations"]
    prices = [r["recommended_price"] for r in recs]
    assert recs and is_allowed(prices, "retail").all()
    assert all(abs(r["change_pct"]) <= 0.08 + 1e-9 and r["reason"] for r in recs)
    assert body["totals"]["skus"] == len(recs)
    nine = client.post("/v1/pricing/optimize", headers=headers,
                       json={"max_change": 0.15, "price_endings": "nine"}).json()
    assert nine["price_endings"] == "nine"
    kept = [r for r in nine["recommendations"] if not is_allowed([r["recommended_price"]], "nine")[0]]
    assert len(kept) == nine["totals"]["skus_off_ending"]
    assert all(r["change_pct"] == 0 for r in kept)


def test_optimise_refuses_bad_settings_and_names_the_rule_to_relax(client):
    headers = token_headers(client, "manager")
    bad = client.post("/v1/pricing/optimize", headers=headers, json={"price_endings": "round"})
    assert bad.status_code == 422 and "price_endings" in bad.json()["error"]["message"]
    res = client.post("/v1/pricing/optimize", headers=headers,
                      json={"min_margin": 0.9, "margin_scope": "sku", "max_change": 0.05})
    assert res.status_code == 422
    assert res.json()["error"]["message"].startswith("No price list meets every rule. Relax ")


def test_store_users_cannot_optimise_prices(client):
    res = client.post("/v1/pricing/optimize", headers=token_headers(client, "store"), json={})
    assert res.status_code == 403
