"""Competitor prices over the API: the price index per level with filters, the review list
and a remembered decision, a competitor upload with its matching counts, the optimiser's
competitor rules, and roles (store users get no Pricing data)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from tests.api_frames import build_world, token_headers


@pytest.fixture(scope="module")
def client(small_warehouse_path, tmp_path_factory):
    world = build_world(small_warehouse_path, tmp_path_factory.mktemp("api_comp") / "api.duckdb",
                        with_alerts=False)
    app = create_app(world.path, Settings(jwt_secret="c" * 48, rate_per_minute=10_000))
    yield TestClient(app, raise_server_exceptions=False)
    app.state.micropulse.close()


def test_price_index_per_level_with_filters(client):
    headers = token_headers(client, "analyst")
    res = client.get("/v1/pricing/competitors", headers=headers)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["level"] == "sku" and body["returned"] == len(body["rows"]) > 0
    assert body["matching"]["rows"] > 0 and body["matching"]["auto"] > 0
    row = body["rows"][0]
    assert row["index"] == pytest.approx(100 * row["our_price"] / row["competitor_price"],
                                         rel=1e-3)
    city = client.get("/v1/pricing/competitors", headers=headers,
                      params={"level": "city", "city": "delhi", "latest_only": True}).json()
    assert [r["city"] for r in city["rows"]] == ["Delhi"]
    bad = client.get("/v1/pricing/competitors", headers=headers, params={"level": "pin"})
    assert bad.status_code == 422


def test_review_list_and_a_remembered_decision(client):
    headers = token_headers(client, "manager")
    items = client.get("/v1/pricing/competitors/review", headers=headers).json()["items"]
    assert items and all(0.5 <= i["confidence"] < 0.8 for i in items)
    first = items[0]
    res = client.post("/v1/pricing/competitors/matches", headers=headers,
                      json={"item": first["item_name"], "sku_id": first["suggested_sku"]})
    assert res.status_code == 200 and res.json()["status"] == "confirmed"
    left = client.get("/v1/pricing/competitors/review", headers=headers).json()["items"]
    assert first["item"] not in {i["item"] for i in left}
    bad = client.post("/v1/pricing/competitors/matches", headers=headers,
                      json={"item": first["item_name"], "sku_id": "XX-404"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_sku"


def test_competitor_upload_reports_matching(client):
    headers = token_headers(client, "analyst")
    csv = (b"Retailer,Product Name,City,Date,Selling Price\n"
           b"JioMart,Nutella Hazelnut Spread 350 g,Delhi,2026-11-20,349\n"
           b"JioMart,Nutella Hazelnut Spread 350 g,Atlantis,2026-11-20,349\n")
    res = client.post("/v1/ingest/competitor", headers=headers,
                      files={"file": ("rivals.csv", csv, "text/csv")})
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["rows_loaded"], body["rows_quarantined"]) == (1, 1)
    assert body["matching"]["items"] == 1 and body["matching"]["none"] == 1


def test_optimiser_competitor_rule_over_the_api(client):
    headers = token_headers(client, "analyst")
    res = client.post("/v1/pricing/optimize", headers=headers,
                      json={"max_change": 0.25, "above_cheapest": 0.1})
    assert res.status_code == 200, res.text
    strict = client.post("/v1/pricing/optimize", headers=headers,
                         json={"max_change": 0.05, "match_within": 0})
    assert strict.status_code == 422
    assert "cheapest competitor" in strict.json()["error"]["message"]


def test_competitive_cross_elasticity_with_its_specification(client):
    headers = token_headers(client, "analyst")
    res = client.get("/v1/pricing/competitors/elasticity", headers=headers)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["skus"] == len(body["rows"]) > 0 and body["sufficient"] > 0
    est = [r for r in body["rows"] if r["cross_elasticity"] is not None]
    assert est and all("SE clustered by week" in r["spec"] for r in est)
    for r in est:
        assert r["se"] >= r["spec_se"] >= 0
        assert r["lo"] == pytest.approx(r["cross_elasticity"] - 1.959964 * r["se"], abs=1e-4)


def test_store_users_get_no_competitor_pricing(client):
    headers = token_headers(client, "store")
    for path in ("/v1/pricing/competitors", "/v1/pricing/competitors/review",
                 "/v1/pricing/competitors/elasticity"):
        assert client.get(path, headers=headers).status_code == 403
    res = client.post("/v1/pricing/competitors/matches", headers=headers,
                      json={"item": "x", "sku_id": None})
    assert res.status_code == 403


def test_competitor_routes_need_a_signed_in_caller(client):
    assert client.get("/v1/pricing/competitors").status_code == 401
    assert client.get("/v1/pricing/competitors/review").status_code == 401
    assert client.get("/v1/pricing/competitors/elasticity").status_code == 401
    assert client.post("/v1/pricing/competitors/matches",
                       json={"item": "x", "sku_id": None}).status_code == 401
