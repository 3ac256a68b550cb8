"""REST API endpoints with FastAPI's TestClient: every route, every role, PIN scope, bad
input, and reads that do not wait for a writer."""
from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.forecast.metrics import score
from tests.api_frames import build_world, headers_by_role
from tests.forecast_page_frames import forecast_copy

V1_ROUTES = [("get", "/v1/forecasts?sku_id=A&pin_code=110001"),
             ("post", "/v1/forecasts/batch"), ("get", "/v1/analytics/accuracy"),
             ("get", "/v1/recommendations/inventory"), ("post", "/v1/pricing/simulate"),
             ("get", "/v1/sourcing/mandis?commodity=Onion&pin_code=560001"),
             ("post", "/v1/ingest/sales"), ("post", "/v1/ingest/plan"), ("get", "/v1/alerts"),
             ("post", "/v1/alerts/al_x/acknowledge"), ("post", "/v1/auth/api-keys"),
             ("delete", "/v1/auth/api-keys/abc")]


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    src = forecast_copy(str(small_warehouse_path))
    return build_world(src, tmp_path_factory.mktemp("api") / "api.duckdb")


@pytest.fixture(scope="module")
def app(world):
    app = create_app(world.path, Settings(jwt_secret="t" * 48, rate_per_minute=10_000,
                                          batch_rate_per_minute=10_000))
    yield app
    app.state.micropulse.close()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def as_(client):
    return headers_by_role(client)


def _error(res) -> dict:
    body = res.json()
    assert set(body) == {"error"}, body
    assert body["error"]["request_id"] == res.headers["X-Request-ID"]
    return body["error"]


# ---- system ------------------------------------------------------------------------------------
def test_health_answers_without_opening_the_warehouse(tmp_path):
    path = tmp_path / "never.duckdb"
    res = TestClient(create_app(path, Settings(jwt_secret="x" * 48))).get("/health")
    assert res.status_code == 200 and res.json() == {"status": "ok"}
    assert not path.exists()


def test_ready_reports_schema_data_version_and_latest_run(client, world):
    body = client.get("/ready").json()
    assert body["status"] == "ready" and body["schema_version"] >= 1
    assert body["warehouse"] == world.path.name               # its name, never its location
    assert str(world.path.parent) not in str(body) and body["data_version"]
    assert body["latest_forecast_run"].startswith("fc_")


@pytest.mark.duckdb_only("the DuckDB file's lock (PostgreSQL: tests/test_postgres_errors.py)")
def test_ready_is_503_with_a_clear_message_when_the_warehouse_is_locked(tmp_path):
    path = tmp_path / "other.duckdb"
    import subprocess
    import sys
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb,sys,time; "
                               f"c=duckdb.connect({str(path)!r}); print('ok', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        res = TestClient(create_app(path, Settings(jwt_secret="x" * 48)),
                         raise_server_exceptions=False).get("/ready")
        assert res.status_code == 503
        err = _error(res)
        assert err["code"] == "warehouse_locked" and "in use by another" in err["message"]
    finally:
        holder.kill()
        holder.wait()


def test_openapi_is_served_under_v1_and_docs_exist(client):
    spec = client.get("/v1/openapi.json").json()
    assert "/v1/forecasts/batch" in spec["paths"] and "/v1/ingest/{kind}" in spec["paths"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("method,url", V1_ROUTES)
def test_every_v1_route_is_401_without_a_token(client, method, url):
    res = getattr(client, method)(url)
    assert res.status_code == 401
    assert _error(res)["code"] == "not_authenticated"


def test_request_id_is_echoed_and_used_in_errors(client):
    res = client.get("/v1/alerts", headers={"X-Request-ID": "pos-sync-42"})
    assert res.headers["X-Request-ID"] == "pos-sync-42"
    assert _error(res)["request_id"] == "pos-sync-42"


# ---- forecasts ----------------------------------------------------------------------------------
def test_forecast_serves_the_latest_run_with_interval_model_and_backtest_accuracy(client, as_,
                                                                                  world):
    sku, pin = world.series[0]
    res = client.get("/v1/forecasts", params={"sku_id": sku, "pin_code": pin, "horizon": 7},
                     headers=as_("analyst"))
    assert res.status_code == 200, res.text
    body = res.json()
    stored = _stored_forecast(client, body["run_id"], sku, pin)
    assert body["horizon"] == 7 and len(body["forecast"]) == 7
    assert [p["date"] for p in body["forecast"]] == stored["date"][:7]
    assert [p["forecast"] for p in body["forecast"]] == pytest.approx(stored["forecast"][:7])
    assert all(p["lo"] <= p["forecast"] <= p["hi"] for p in body["forecast"])
    assert body["model"] == stored["model"] and body["interval_level"] == 0.95
    acc = body["accuracy"]
    expected = score(_backtest_rows(client, body["run_id"], sku, pin), by=["model"]).iloc[0]
    assert acc["model"] == "routed" and acc["n"] == int(expected["n"])
    assert acc["wape"] == pytest.approx(float(expected["wape"]))


def _stored_forecast(client, run_id, sku, pin) -> dict:
    wh = client.app.state.micropulse.warehouse()
    df = wh.query("SELECT CAST(date AS VARCHAR) AS date, forecast, model FROM forecasts "
                  "WHERE run_id = ? AND sku_id = ? AND pin_code = ? ORDER BY date",
                  [run_id, sku, pin])
    return {"date": df["date"].tolist(), "forecast": df["forecast"].tolist(),
            "model": df["model"].iloc[0]}


def _backtest_rows(client, run_id, sku, pin) -> pd.DataFrame:
    wh = client.app.state.micropulse.warehouse()
    return wh.query("SELECT * FROM backtests WHERE run_id = ? AND sku_id = ? AND pin_code = ? "
                    "AND model = 'routed'", [run_id, sku, pin])


def test_forecast_longer_than_the_stored_run_says_so(client, as_, world):
    sku, pin = world.series[0]
    body = client.get("/v1/forecasts", params={"sku_id": sku, "pin_code": pin, "horizon": 90},
                      headers=as_("analyst")).json()
    assert body["horizon_requested"] == 90 and body["horizon"] == 14
    assert "forecasts 14 days" in body["note"]


def test_forecast_for_a_series_without_history_is_404(client, as_, world):
    res = client.get("/v1/forecasts", params={"sku_id": "NO-SUCH-SKU",
                                              "pin_code": world.series[0][1]},
                     headers=as_("analyst"))
    assert res.status_code == 404
    assert "no forecast for SKU NO-SUCH-SKU" in _error(res)["message"]


@pytest.mark.parametrize("params,field,phrase", [
    ({"horizon": 91}, "horizon", "less than or equal to 90"),
    ({"horizon": 0}, "horizon", "greater than or equal to 1"),
    ({"pin_code": "56001"}, "pin_code", "String should match pattern"),
    ({"sku_id": None}, "sku_id", "Field required"),
])
def test_bad_forecast_input_is_422_naming_the_field(client, as_, world, params, field, phrase):
    query = {"sku_id": world.series[0][0], "pin_code": world.series[0][1], **params}
    res = client.get("/v1/forecasts", params={k: v for k, v in query.items() if v is not None},
                     headers=as_("analyst"))
    assert res.status_code == 422
    err = _error(res)
    assert err["code"] == "validation_error"
    assert err["message"].startswith(f"Query parameter '{field}'") and phrase in err["message"]


def test_batch_answers_in_request_order_and_lists_missing_series(client, as_, world):
    items = [{"sku_id": s, "pin_code": p, "horizon": 3} for s, p in world.series[:5]]
    items.insert(2, {"sku_id": "NO-SUCH-SKU", "pin_code": world.series[0][1], "horizon": 3})
    res = client.post("/v1/forecasts/batch", json={"items": items}, headers=as_("manager"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert [(r["sku_id"], r["pin_code"]) for r in body["results"]] == world.series[:5]
    assert all(len(r["forecast"]) == 3 for r in body["results"])
    assert [(e["index"], e["code"]) for e in body["errors"]] == [(2, "not_found")]


def test_batch_with_an_inline_plan_scales_only_the_planned_days(client, as_, world):
    # a snack / cold drink / ice cream: categories with a clearly negative price response
    sku, pin = next(s for s in world.series if s[0].startswith(("SN-", "CB-", "IC-")))
    other = next(s for s in world.series if s[0] != sku)
    items = [{"sku_id": sku, "pin_code": pin, "horizon": 5},
             {"sku_id": other[0], "pin_code": other[1], "horizon": 5}]
    plain = client.post("/v1/forecasts/batch", json={"items": items}, headers=as_("analyst"))
    start = plain.json()["results"][0]["forecast"][1]["date"]
    end = plain.json()["results"][0]["forecast"][2]["date"]
    plan = [{"sku_id": sku, "pin_code": pin, "date_from": start, "date_to": end,
             "discount_pct": 20, "promo_type": "price_cut"}]
    res = client.post("/v1/forecasts/batch", json={"items": items, "plan": plan},
                      headers=as_("analyst"))
    assert res.status_code == 200, res.text
    first, second = res.json()["results"]
    before = plain.json()["results"][0]["forecast"]
    assert [p["planned"] for p in first["forecast"]] == [False, True, True, False, False]
    for new, old in zip(first["forecast"], before):
        assert new["forecast_no_plan"] == pytest.approx(old["forecast"])
        if new["planned"]:
            assert new["forecast"] > old["forecast"]       # 20% off: more units
        else:
            assert new["forecast"] == pytest.approx(old["forecast"])
    assert not any(p["planned"] for p in second["forecast"])
    assert "Inline plan" in first["note"]
    # a price with the discount names that week's list price: 20% off it, whatever price
    listed = client.post("/v1/forecasts/batch", headers=as_("analyst"), json={
        "items": items, "plan": [{**plan[0], "price": 1.0}]})
    assert listed.status_code == 200, listed.text
    assert [p["forecast"] for p in listed.json()["results"][0]["forecast"]] == \
        pytest.approx([p["forecast"] for p in first["forecast"]])


def test_batch_plan_rows_take_several_promotion_kinds(client, as_, world):
    """An inline plan row may combine kinds ('Display + Feature'); an unknown one is a 422
    naming the value."""
    sku, pin = world.series[0]
    items = [{"sku_id": sku, "pin_code": pin, "horizon": 3}]
    plain = client.post("/v1/forecasts/batch", json={"items": items}, headers=as_("analyst"))
    day = plain.json()["results"][0]["forecast"][1]["date"]
    ok = client.post("/v1/forecasts/batch", headers=as_("analyst"), json={
        "items": items, "plan": [{"sku_id": sku, "pin_code": pin, "date": day,
                                  "promo_type": "Display + Feature"}]})
    assert ok.status_code == 200, ok.text
    assert [p["planned"] for p in ok.json()["results"][0]["forecast"]] == [False, True, False]
    bad = client.post("/v1/forecasts/batch", headers=as_("analyst"), json={
        "items": items, "plan": [{"sku_id": sku, "pin_code": pin, "date": day,
                                  "promo_type": "display + mega sale"}]})
    assert bad.status_code == 422
    assert "'display + mega sale' is not a promotion type" in _error(bad)["message"]


def test_batch_plan_row_without_a_product_is_422(client, as_, world):
    sku, pin = world.series[0]
    res = client.post("/v1/forecasts/batch", headers=as_("analyst"),
                      json={"items": [{"sku_id": sku, "pin_code": pin}],
                            "plan": [{"date": "2026-01-01", "discount_pct": 10}]})
    assert res.status_code == 422
    assert "sku_id or category" in _error(res)["message"]


def test_batch_of_more_than_1000_items_is_422(client, as_, world):
    sku, pin = world.series[0]
    res = client.post("/v1/forecasts/batch", headers=as_("analyst"),
                      json={"items": [{"sku_id": sku, "pin_code": pin}] * 1001})
    assert res.status_code == 422
    assert "Field 'items'" in _error(res)["message"] and "at most 1000" in _error(res)["message"]


def test_batch_item_with_bad_horizon_names_its_position(client, as_, world):
    sku, pin = world.series[0]
    res = client.post("/v1/forecasts/batch", headers=as_("analyst"),
                      json={"items": [{"sku_id": sku, "pin_code": pin},
                                      {"sku_id": sku, "pin_code": pin, "horizon": 120}]})
    assert res.status_code == 422
    assert _error(res)["message"].startswith("Field 'items.1.horizon'")


# ---- PIN scope and roles ----------------------------------------------------------------------
def test_store_user_reads_their_pin_and_gets_403_outside_it(client, as_, world):
    mine = next(s for s in world.series if s[1] in world.store_pins)
    other = next(s for s in world.series if s[1] == world.other_pin)
    ok = client.get("/v1/forecasts", params={"sku_id": mine[0], "pin_code": mine[1]},
                    headers=as_("store"))
    assert ok.status_code == 200
    res = client.get("/v1/forecasts", params={"sku_id": other[0], "pin_code": other[1]},
                     headers=as_("store"))
    assert res.status_code == 403
    err = _error(res)
    assert err["code"] == "pin_out_of_scope"
    assert f"PIN code {other[1]} is outside your scope" in err["message"]


def test_store_user_batch_with_a_foreign_pin_is_403(client, as_, world):
    other = next(s for s in world.series if s[1] == world.other_pin)
    res = client.post("/v1/forecasts/batch", headers=as_("store"),
                      json={"items": [{"sku_id": other[0], "pin_code": other[1]}]})
    assert res.status_code == 403 and _error(res)["code"] == "pin_out_of_scope"


def test_store_user_sees_only_their_pins_reorder_lines_and_alerts(client, as_, world):
    lines = client.get("/v1/recommendations/inventory", headers=as_("store")).json()["lines"]
    assert lines and {line["pin_code"] for line in lines} <= set(world.store_pins)
    alerts = client.get("/v1/alerts", headers=as_("store")).json()["alerts"]
    assert {a["pin_code"] for a in alerts} <= set(world.store_pins) | {None}
    everyone = client.get("/v1/alerts", headers=as_("manager")).json()["alerts"]
    assert {a["pin_code"] for a in everyone} - set(world.store_pins) - {None}
    res = client.get("/v1/recommendations/inventory", params={"pin_code": world.other_pin},
                     headers=as_("store"))
    assert res.status_code == 403


@pytest.mark.parametrize("method,url,kwargs", [
    ("post", "/v1/pricing/simulate", {"json": {"changes": [{"pct": -0.1}]}}),
    ("get", "/v1/sourcing/mandis", {"params": {"commodity": "Onion", "pin_code": "560001"}}),
    ("post", "/v1/ingest/sales", {"files": {"file": ("s.csv", b"sku_id\nA\n")}}),
    ("post", "/v1/ingest/plan", {"files": {"file": ("p.csv", b"sku_id,date,promo\nA,2027-01-01,"
                                                     b"display\n")}}),
    ("post", "/v1/alerts/al_x/acknowledge", {}),
    ("post", "/v1/auth/api-keys", {"json": {"username": "service"}}),
])
def test_store_user_is_403_where_the_app_denies_the_page_or_action(client, as_, method, url,
                                                                   kwargs):
    res = getattr(client, method)(url, headers=as_("store"), **kwargs)
    assert res.status_code == 403
    assert "Store user" in _error(res)["message"]


def test_reorder_lines_filter_by_pin_and_urgency_with_reasons(client, as_, world):
    body = client.get("/v1/recommendations/inventory", headers=as_("manager"),
                      params={"pin_code": world.other_pin, "urgency": "critical"}).json()
    assert body["total_lines"] == len(body["lines"]) > 0
    assert all(line["pin_code"] == world.other_pin and line["urgency"] == "critical"
               and line["reason"] for line in body["lines"])
    assert all(line["order_qty"] > 0 for line in body["lines"])


def test_accuracy_by_state_covers_the_demo_states_and_respects_dates(client, as_):
    body = client.get("/v1/analytics/accuracy", params={"group_by": "state"},
                      headers=as_("analyst")).json()
    states = {r["group"] for r in body["rows"]}
    assert states == {"Delhi", "Maharashtra", "West Bengal", "Tamil Nadu"}
    assert {"routed", "seasonal_naive"} <= {r["model"] for r in body["rows"]}
    late = client.get("/v1/analytics/accuracy", headers=as_("analyst"),
                      params={"group_by": "category", "start_date": "2100-01-01"}).json()
    assert late["rows"] == []
    res = client.get("/v1/analytics/accuracy", headers=as_("analyst"),
                     params={"start_date": "2025-02-01", "end_date": "2025-01-01"})
    assert res.status_code == 422 and "before start_date" in _error(res)["message"]
    res = client.get("/v1/analytics/accuracy", params={"group_by": "city"},
                     headers=as_("analyst"))
    assert res.status_code == 422 and "'group_by'" in _error(res)["message"]


def test_store_users_accuracy_is_scored_on_their_pins_only(client, as_, world):
    def rows(role: str) -> dict:
        body = client.get("/v1/analytics/accuracy", params={"group_by": "state"},
                          headers=as_(role))
        assert body.status_code == 200, body.text
        return {(r["group"], r["model"]): r["n"] for r in body.json()["rows"]}

    mine, everyone = rows("store"), rows("analyst")
    state = world_state(client, world.store_pins[0])
    assert mine and {g for g, _ in mine} == {state}
    assert all(0 < n < everyone[key] for key, n in mine.items())   # fewer series' points


def world_state(client, pin: str) -> str:
    wh = client.app.state.micropulse.warehouse()
    return wh.scalar("SELECT state FROM locations WHERE pin_code = ?", [pin])


def test_price_cut_on_a_category_raises_units_by_the_planted_negative_elasticity(client, as_):
    res = client.post("/v1/pricing/simulate", headers=as_("analyst"),
                      json={"changes": [{"pct": -0.1, "category": "Dairy"}]})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["totals"]["skus_changed"] > 0 and body["by_sku"]
    assert all(s["units"] > s["baseline_units"] for s in body["by_sku"])
    assert body["changes"] == ["-10% on Dairy"] and "forecast run" in body["baseline"]
    bad = client.post("/v1/pricing/simulate", headers=as_("analyst"),
                      json={"changes": [{"pct": -1.5}]})
    assert bad.status_code == 422 and "'changes.0.pct'" in _error(bad)["message"]


def test_mandis_are_ranked_with_reasons_and_unknown_commodity_is_422(client, as_):
    body = client.get("/v1/sourcing/mandis", headers=as_("manager"),
                      params={"commodity": "onion", "pin_code": "560001", "quantity": 25}).json()
    ranks = [m["rank"] for m in body["mandis"]]
    assert ranks == sorted(ranks) and ranks[0] == 1 and body["commodity"] == "Onion"
    assert all(m["reason"] for m in body["mandis"])
    res = client.get("/v1/sourcing/mandis", headers=as_("manager"),
                     params={"commodity": "Saffron", "pin_code": "560001"})
    assert res.status_code == 422 and "Unknown commodity 'Saffron'" in _error(res)["message"]


# ---- uploads and alerts ------------------------------------------------------------------------
def test_upload_counts_every_row_quarantines_bad_pins_and_loads_nothing_twice(client, as_,
                                                                              world):
    sku = world.series[0][0]
    csv = ("sku_id,pin_code,date,qty,price\n"
           f"{sku},{world.other_pin},2020-01-05,3,40\n"
           f"{sku},56001,2020-01-05,2,40\n"
           f"{sku},{world.other_pin},2020-01-06,4,40\n").encode()
    res = client.post("/v1/ingest/sales", headers=as_("analyst"),
                      files={"file": ("pos_export.csv", csv, "text/csv")})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["rows_read"] == body["rows_loaded"] + body["rows_quarantined"] + \
        body["duplicates_skipped"] == 3
    assert body["rows_quarantined"] == 1 and body["file_name"] == "pos_export.csv"
    again = client.post("/v1/ingest/sales", headers=as_("analyst"),
                        files={"file": ("copy.csv", csv, "text/csv")})
    assert again.status_code == 200 and again.json()["status"] == "duplicate_file"
    assert again.json()["rows_loaded"] == 0


def test_upload_response_accounts_for_every_column_of_the_file(client, as_, world):
    sku = world.series[0][0]
    csv = ("sku_id,pin_code,date,qty,price,base_price,display_share,Remarks,Display Flag\n"
           f"{sku},{world.other_pin},2020-02-05,3,40,45,0.25,ok,1\n").encode()
    res = client.post("/v1/ingest/sales", headers=as_("analyst"),
                      files={"file": ("extra_columns.csv", csv, "text/csv")})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["ignored_columns"] == ["Remarks", "Display Flag"]
    cols = {c["column"]: c for c in body["columns"]}
    assert list(cols) == ["sku_id", "pin_code", "date", "qty", "price", "base_price",
                          "display_share", "Remarks", "Display Flag"]
    assert (cols["base_price"]["field"], cols["display_share"]["field"]) == \
        ("regular_price", "display")
    assert cols["Display Flag"]["status"] == "ignored" and \
        cols["Display Flag"]["suggested_field"] is None      # display is fed already
    assert cols["qty"] == {"column": "qty", "status": "mapped", "field": "quantity",
                           "match": "exact", "confidence": 1.0, "suggested_field": None}


def test_upload_without_required_columns_is_422_with_the_engine_message(client, as_):
    res = client.post("/v1/ingest/sales", headers=as_("analyst"),
                      files={"file": ("x.csv", b"colour,size\nred,4\n", "text/csv")})
    assert res.status_code == 422
    err = _error(res)
    assert err["code"] == "missing_columns" and "has no column for" in err["message"]


def test_plan_upload_is_201_with_counts_and_version_and_loads_nothing_twice(client, as_,
                                                                          world):
    from engine.warehouse.plans import plan_rows

    sku = world.series[0][0]
    csv = ("sku_id,pin_code,date_from,date_to,discount_pct,promo_type,Colour\n"
           f"{sku},{world.other_pin},2027-01-01,2027-01-07,10,TPR,red\n"
           f"{sku},{world.other_pin},2027-01-07,2027-01-01,10,TPR,red\n"
           f"NO-SUCH-SKU,,2027-01-01,2027-01-07,,leaflet,red\n").encode()
    res = client.post("/v1/ingest/plan", headers=as_("manager"),
                      files={"file": ("promo_calendar.csv", csv, "text/csv")})
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["kind"], body["rows_read"], body["rows_loaded"], body["rows_quarantined"],
            body["duplicates_skipped"]) == ("plan", 3, 1, 2, 0)
    assert body["plan_version"] >= 1 and body["ignored_columns"] == ["Colour"]
    assert {i["code"] for i in body["issues"]} == {"dates_reversed", "unknown_sku"}
    assert body["warnings"] == []
    again = client.post("/v1/ingest/plan", headers=as_("manager"),
                        files={"file": ("copy.csv", csv, "text/csv")})
    assert again.status_code == 200 and again.json()["status"] == "duplicate_file"
    assert again.json()["rows_loaded"] == 0 and again.json()["plan_version"] is None
    rows = plan_rows(client.app.state.micropulse.warehouse(), body["plan_version"])
    assert rows[rows["plan_version"] == body["plan_version"]]["promo_type"].tolist() == \
        ["price_cut"]


@pytest.mark.parametrize("data,code,phrase", [
    (b"date,price\n2027-01-01,10\n", "missing_columns",
     "no column for 'sku_id' or 'category'"),
    (b"\x00\x01junk" * 50, "unreadable_file", "binary"),
])
def test_bad_plan_file_is_422_with_a_clear_message(client, as_, data, code, phrase):
    res = client.post("/v1/ingest/plan", headers=as_("analyst"),
                      files={"file": ("plan.csv", data, "text/csv")})
    assert res.status_code == 422
    err = _error(res)
    assert err["code"] == code and phrase in err["message"]


def test_acknowledge_an_alert_once_then_409_and_unknown_is_404(client, as_):
    alerts = client.get("/v1/alerts", params={"status": "new"},
                        headers=as_("manager")).json()["alerts"]
    alert_id = alerts[0]["alert_id"]
    ok = client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=as_("manager"))
    assert ok.status_code == 200 and ok.json()["acknowledged_by"] == "manager"
    listed = client.get("/v1/alerts", params={"status": "acknowledged"},
                        headers=as_("manager")).json()["alerts"]
    assert alert_id in {a["alert_id"] for a in listed}
    again = client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=as_("manager"))
    assert again.status_code == 409 and "already acknowledged" in _error(again)["message"]
    missing = client.post("/v1/alerts/al_nope/acknowledge", headers=as_("manager"))
    assert missing.status_code == 404


def test_reads_do_not_wait_for_an_open_write_transaction(client, as_, world):
    sku, pin = world.series[1]
    wh = client.app.state.micropulse.warehouse()
    began, release, result = threading.Event(), threading.Event(), {}

    def writer():
        with wh.transaction() as cur:
            cur.execute("UPDATE forecasts SET forecast = forecast + 1000 WHERE sku_id = ? "
                        "AND pin_code = ?", [sku, pin])
            began.set()
            release.wait(60)
            raise RuntimeError("roll back")  # leave the warehouse as it was

    def reader():
        result["res"] = client.get("/v1/forecasts", params={"sku_id": sku, "pin_code": pin},
                                   headers=as_("analyst"))

    w = threading.Thread(target=lambda: pytest.raises(RuntimeError, writer))
    w.start()
    assert began.wait(30)
    r = threading.Thread(target=reader)
    r.start()
    r.join(30)
    finished_while_writing = not r.is_alive() and not release.is_set()
    release.set()
    w.join(30)
    assert finished_while_writing
    assert result["res"].status_code == 200
    assert max(p["forecast"] for p in result["res"].json()["forecast"]) < 1000


def test_importing_api_main_and_building_app_opens_no_warehouse(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "lazy.duckdb"
    code = ("import os, api.main as m; from fastapi import FastAPI; "
            "assert isinstance(m.app, FastAPI); print(os.path.exists(os.environ['W']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=120,
                         env={**__import__("os").environ, "MICROPULSE_WAREHOUSE": str(path),
                              "W": str(path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_upload_response_reconciles_with_blank_lines_and_a_totals_footer(client, as_, world):
    sku = world.series[0][0]
    csv = ("sku_id,pin_code,date,qty,price\n"
           f"{sku},{world.other_pin},2020-03-05,3,40\n"
           "\n"
           ",,,,\n"
           f"{sku},{world.other_pin},2020-03-06,4,40\n"
           "Grand Total,,,7,\n").encode()
    res = client.post("/v1/ingest/sales", headers=as_("analyst"),
                      files={"file": ("with_footer.csv", csv, "text/csv")})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["rows_loaded"] == 2 and body["total_rows"] == 1 and body["blank_lines"] >= 1
    assert body["rows_read"] == (body["rows_loaded"] + body["rows_quarantined"]
                                 + body["duplicates_skipped"] + body["blank_lines"]
                                 + body["total_rows"])
    assert body["reconciliation"].startswith(f"{body['rows_read']} read")
