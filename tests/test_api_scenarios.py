"""/v1/scenarios: save, list, read, change, delete, run and compute scenarios over the REST
API with the roles and PIN scopes of the app; ScenarioErrors answer with their own code."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.scenarios import Scenario, Selection
from engine.scenarios import compute as C
from engine.scenarios import saved as scenario_store
from engine.warehouse.db import Warehouse
from tests.api_frames import build_world, headers_by_role


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    from tests.forecast_page_frames import forecast_copy

    world = build_world(forecast_copy(str(small_warehouse_path)),
                        tmp_path_factory.mktemp("api_scn") / "api.duckdb", with_alerts=False)
    wh = Warehouse(world.path)
    try:   # the shared copy may hold other modules' saved scenarios: start from none
        for s in scenario_store.list_scenarios(wh):
            scenario_store.delete(wh, s.scenario_id, "test")
        # a scenario made within the store user's PIN codes (by a manager)
        scenario_store.save(wh, Scenario("Store push", Selection(),
                                         scope=world.store_pins,
                                         assumptions=C.Assumptions(demand_shock_pct=25)),
                            "manager")
    finally:
        wh.close()
    return world


@pytest.fixture(scope="module")
def app(world):
    app = create_app(world.path, Settings(jwt_secret="s" * 48, rate_per_minute=10_000))
    yield app
    app.state.micropulse.close()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def as_(client):
    return headers_by_role(client)


OIL = {"name": "Oil cut", "selection": {"categories": ["Edible Oil"]},
       "assumptions": {"price_change_pct": -10, "mandi_price_shock_pct": 10}}


def _error(res) -> dict:
    return res.json()["error"]


def test_create_checks_roles_names_and_assumptions(client, as_):
    res = client.post("/v1/scenarios", headers=as_("analyst"), json=OIL)
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["name"] == "Oil cut" and body["created_by"] == "analyst"
    assert body["selection"]["categories"] == ["Edible Oil"]
    assert body["assumptions"]["price_change_pct"] == -10
    assert body["assumptions"]["service_level"] == 0.95          # the baseline's default
    assert body["label"].startswith("Edible Oil") and body["can_change"] is True
    assert body["summary"] is None

    again = client.post("/v1/scenarios", headers=as_("manager"), json={**OIL, "name": "OIL CUT"})
    assert again.status_code == 409 and _error(again)["code"] == "name_taken"
    assert "already exists" in _error(again)["message"]

    bad = client.post("/v1/scenarios", headers=as_("analyst"),
                      json={"name": "x", "assumptions": {"service_level": 1.5}})
    assert bad.status_code == 422 and _error(bad)["code"] == "bad_assumption"
    assert _error(bad)["message"] == ("The service level must be between 50.0% and 99.9%; "
                                      "got 1.5.")
    assert _error(bad)["details"] == {"service_level": 1.5}
    typo = client.post("/v1/scenarios", headers=as_("analyst"),
                       json={"name": "x", "assumptions": {"price_chnage_pct": -5}})
    assert typo.status_code == 422 and "price_chnage_pct" in _error(typo)["message"]
    dates = client.post("/v1/scenarios", headers=as_("analyst"),
                        json={"name": "x", "selection": {"start": "2026-06-10",
                                                         "end": "2026-06-01"}})
    assert dates.status_code == 422 and _error(dates)["code"] == "bad_dates"
    store = client.post("/v1/scenarios", headers=as_("store"), json={**OIL, "name": "Mine"})
    assert store.status_code == 403
    assert "Mine" not in [s["name"] for s in client.get(
        "/v1/scenarios", headers=as_("admin")).json()["scenarios"]]


def test_list_and_get_follow_the_pin_scope(client, as_, world):
    names = [s["name"] for s in client.get("/v1/scenarios", headers=as_("analyst"))
             .json()["scenarios"]]
    assert names == ["Oil cut", "Store push"]
    store = client.get("/v1/scenarios", headers=as_("store")).json()
    assert store["total"] == 1 and store["scenarios"][0]["name"] == "Store push"
    assert store["scenarios"][0]["can_change"] is False
    oil = client.get("/v1/scenarios/oil cut", headers=as_("manager"))
    assert oil.status_code == 200 and oil.json()["can_change"] is True   # a manager
    by_id = client.get(f"/v1/scenarios/{oil.json()['scenario_id']}", headers=as_("service"))
    assert by_id.json()["name"] == "Oil cut" and by_id.json()["can_change"] is False
    hidden = client.get("/v1/scenarios/Oil cut", headers=as_("store"))
    assert hidden.status_code == 404 and _error(hidden)["code"] == "not_found"
    assert "no saved scenario called 'Oil cut'" in _error(hidden)["message"]
    assert client.get("/v1/scenarios").status_code == 401


def test_run_computes_stores_and_matches_the_engine(client, as_, app):
    res = client.post("/v1/scenarios/Oil cut/run", headers=as_("analyst"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["stored"] is True
    assert [s["step"] for s in body["steps"]] == ["demand", "pricing", "reorder", "sourcing"]
    # the same numbers as the engine called directly on the same warehouse
    wh = app.state.micropulse.warehouse()
    sc = scenario_store.get(wh, "Oil cut")
    want = C.run(wh, sc)
    for got, exp in zip(body["steps"], want.steps):
        for key in ("baseline", "scenario", "delta", "delta_inr"):
            assert got[key] == pytest.approx(exp[key]), (got["step"], key)
        assert got["reason"] == exp["reason"]
    demand = body["steps"][0]
    assert demand["scenario"] > demand["baseline"]                      # a price cut
    assert demand["extras"]["scenario_lo"] == pytest.approx(want.steps[0]["scenario_lo"])
    assert body["data_version"] == want.version and body["run_id"] == want.run_id
    assert body["pricing"]["total_skus"] == len(want.pricing["by_sku"])
    first = body["pricing"]["by_sku"][0]
    assert first["sku_id"] == want.pricing["by_sku"].iloc[0]["sku_id"]
    assert first["delta_margin"] == pytest.approx(want.pricing["by_sku"].iloc[0]["delta_margin"])
    assert body["reorder"]["available"] is True
    assert body["reorder"]["total_lines"] == len(want.reorder["lines"])
    assert {"order_qty", "baseline_order_qty", "urgency"} <= set(body["reorder"]["lines"][0])
    assert body["sourcing"]["commodities"][0]["commodity"] == \
        want.sourcing["table"].iloc[0]["commodity"]
    assert len(body["demand"]["periods"]) == want.demand["periods"].shape[0]
    # stored: the summary comes back with the scenario
    again = client.get("/v1/scenarios/Oil cut", headers=as_("analyst")).json()
    assert again["data_version"] == want.version
    assert again["summary"]["steps"][1]["scenario"] == pytest.approx(want.steps[1]["scenario"])
    listed = client.get("/v1/scenarios", headers=as_("analyst")).json()["scenarios"]
    assert listed[0]["summary"]["version"] == want.version
    # a limit cuts the long tables, not their totals
    short = client.get("/v1/scenarios/Oil cut/result?limit=1", headers=as_("analyst")).json()
    assert len(short["pricing"]["by_sku"]) == 1 and short["stored"] is False
    assert short["pricing"]["total_skus"] == body["pricing"]["total_skus"]
    assert client.post("/v1/scenarios/Oil cut/run", headers=as_("store")).status_code == 403


def test_store_user_lists_their_scenarios_but_gets_no_results(client, as_, world, app):
    """As in the app: no Scenarios page (margins, mandi costs) for a store user."""
    res = client.get("/v1/scenarios/Store push/result", headers=as_("store"))
    assert res.status_code == 403, res.text
    assert "Scenarios" in res.json()["error"]["message"]
    # store users cannot compute their own, save or change
    assert client.post("/v1/scenarios/compute", headers=as_("store"),
                       json={"assumptions": {"demand_shock_pct": 5}}).status_code == 403
    assert client.patch("/v1/scenarios/Store push", headers=as_("store"),
                        json={"name": "Mine now"}).status_code == 403
    assert client.delete("/v1/scenarios/Store push", headers=as_("store")).status_code == 403


def test_compute_an_unsaved_scenario(client, as_, app):
    before = client.get("/v1/scenarios", headers=as_("admin")).json()["total"]
    res = client.post("/v1/scenarios/compute", headers=as_("manager"),
                      json={"selection": {"categories": ["Snacks"]},
                            "assumptions": {"demand_shock_pct": 20}})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["stored"] is False and body["scenario"]["scenario_id"] is None
    assert body["scenario"]["name"] == "Unsaved scenario"
    d = body["steps"][0]
    assert d["scenario"] == pytest.approx(d["baseline"] * 1.2)
    assert d["delta_pct"] == pytest.approx(0.2)
    assert client.get("/v1/scenarios", headers=as_("admin")).json()["total"] == before
    empty = client.post("/v1/scenarios/compute", headers=as_("manager"),
                        json={"selection": {"categories": ["No such category"]}})
    assert empty.status_code == 422 and _error(empty)["code"] == "empty_selection"
    assert "widen it" in _error(empty)["message"]
    extra = client.post("/v1/scenarios/compute", headers=as_("manager"),
                        json={"selection": {}, "whatever": 1})
    assert extra.status_code == 422 and _error(extra)["code"] == "validation_error"


def test_patch_and_delete_need_the_author_a_manager_or_an_admin(client, as_):
    res = client.patch("/v1/scenarios/Oil cut", headers=as_("service"),   # another analyst
                       json={"name": "Not mine"})
    assert res.status_code == 403 and _error(res)["code"] == "forbidden"
    assert "Only its author (analyst), a manager or an admin" in _error(res)["message"]
    res = client.patch("/v1/scenarios/Oil cut", headers=as_("analyst"),
                       json={"assumptions": {"demand_shock_pct": 10}})
    assert res.status_code == 200, res.text
    a = res.json()["assumptions"]
    assert a["demand_shock_pct"] == 10 and a["price_change_pct"] == -10    # merged
    bad = client.patch("/v1/scenarios/Oil cut", headers=as_("analyst"),
                       json={"assumptions": {"lead_time_change_days": 99}})
    assert bad.status_code == 422 and _error(bad)["code"] == "bad_assumption"
    taken = client.patch("/v1/scenarios/Oil cut", headers=as_("manager"),
                         json={"name": "store PUSH"})
    assert taken.status_code == 200     # names are unique within a scope: another scope
    renamed = client.patch("/v1/scenarios/store push", headers=as_("manager"),
                           json={"name": "Oil cut renamed"})
    assert renamed.status_code == 409 and _error(renamed)["code"] == "ambiguous"
    res = client.patch("/v1/scenarios/Oil cut renamed", headers=as_("manager"), json={})
    assert res.status_code == 404
    sid = client.get("/v1/scenarios", headers=as_("admin")).json()["scenarios"]
    mine = next(s for s in sid if s["created_by"] == "analyst")
    assert mine["name"] == "store PUSH" and mine["updated_by"] == "manager"
    assert client.delete(f"/v1/scenarios/{mine['scenario_id']}",
                         headers=as_("service")).status_code == 403
    gone = client.delete(f"/v1/scenarios/{mine['scenario_id']}", headers=as_("analyst"))
    assert gone.status_code == 200 and gone.json() == {"deleted": mine["scenario_id"],
                                                       "name": "store PUSH"}
    assert client.get(f"/v1/scenarios/{mine['scenario_id']}",
                      headers=as_("admin")).status_code == 404


def test_openapi_documents_the_scenario_routes(client):
    paths = client.get("/v1/openapi.json").json()["paths"]
    assert {"/v1/scenarios", "/v1/scenarios/{scenario_id}", "/v1/scenarios/{scenario_id}/run",
            "/v1/scenarios/{scenario_id}/result", "/v1/scenarios/compute"} <= set(paths)
    assert set(paths["/v1/scenarios/{scenario_id}"]) == {"get", "patch", "delete"}
