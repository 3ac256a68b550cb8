"""GraphQL at /graphql (api/routes_graphql.py) with FastAPI's TestClient: the schema's
contract, the same answers as REST, auth, a store user's PIN scope through every field and
nested field, depth / token / alias limits, rate limits and REST's error codes."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes_graphql import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, schema
from api.security import RateLimiter, Settings
from tests.api_frames import build_world, headers_by_role, token_headers
from tests.forecast_page_frames import forecast_copy

ROOT_FIELDS = {"series", "forecast", "forecast_batch", "accuracy", "live_accuracy", "alerts",
               "inventory", "pricing_simulation", "mandis", "scenarios", "scenario",
               "scenario_result"}


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    src = forecast_copy(str(small_warehouse_path))
    return build_world(src, tmp_path_factory.mktemp("graphql") / "api.duckdb")


@pytest.fixture(scope="module")
def app(world):
    app = create_app(world.path, Settings(jwt_secret="g" * 48, rate_per_minute=10_000,
                                          batch_rate_per_minute=10_000))
    yield app
    app.state.micropulse.close()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def as_(client):
    return headers_by_role(client)


def gql(client, headers, query: str, variables: dict | None = None) -> dict:
    res = client.post("/graphql", json={"query": query, "variables": variables or {}},
                      headers=headers)
    assert res.status_code == 200, res.text
    body = res.json()
    for err in body.get("errors") or []:
        assert err["extensions"]["request_id"] == res.headers["X-Request-ID"]
        assert "Traceback" not in err["message"]
    return body


def codes(body: dict) -> dict[str, str]:
    """{top-level field: error code}"""
    return {e["path"][0] if e.get("path") else "": e["extensions"]["code"]
            for e in body.get("errors") or []}


# ---- contract -----------------------------------------------------------------------------
def test_schema_has_the_rest_reads_with_rest_names_and_nullable_roots():
    sdl = schema.as_str()
    query = schema.get_type_by_name("Query")
    assert {f.name for f in query.fields} == ROOT_FIELDS
    for field in query.fields:        # one failing field never blanks the others
        assert "Optional" in str(field.type) or "None" in str(field.type), field.name
    assert "forecast(sku_id: String!, pin_code: String!, horizon: Int! = 28): SeriesForecast" \
        in sdl
    assert "lower bound of the 95% prediction interval" in sdl     # REST's descriptions
    for name in ("skuId", "pinCode", "subscription", "mutation", "type Mutation"):
        assert name not in sdl


def test_the_served_schema_is_the_committed_contract():
    committed = (Path(__file__).resolve().parents[1] / "api" / "schema.graphql").read_text()
    assert schema.as_str() + "\n" == committed, (
        "the GraphQL schema changed: review it, then regenerate api/schema.graphql with "
        "`python -c \"from api.routes_graphql import schema; "
        "open('api/schema.graphql', 'w').write(schema.as_str() + '\\n')\"`")


def test_no_token_is_refused_with_rests_401_before_any_query_runs(client):
    res = client.post("/graphql", json={"query": "{ scenarios { total } }"})
    assert res.status_code == 401
    body = res.json()
    assert body["error"]["code"] == "not_authenticated"
    assert body["error"]["request_id"] == res.headers["X-Request-ID"]
    bad = client.post("/graphql", json={"query": "{ scenarios { total } }"},
                      headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"


def test_graphiql_is_not_served(client, as_):
    res = client.get("/graphql", headers={**as_("analyst"), "Accept": "text/html"})
    assert res.status_code != 200 or "unpkg" not in res.text


# ---- same answers as REST -----------------------------------------------------------------
POINT = "date forecast lo hi"
SERIES = f"sku_id pin_code run_id model horizon last_updated forecast {{ {POINT} }} " \
         f"columns {{ {POINT} }} accuracy {{ model wape coverage95 }}"


def test_forecast_and_batch_match_rest(client, as_, world):
    h = as_("analyst")
    sku, pin = world.series[0]
    rest = client.get(f"/v1/forecasts?sku_id={sku}&pin_code={pin}&horizon=5", headers=h).json()
    got = gql(client, h, f'{{ forecast(sku_id: "{sku}", pin_code: "{pin}", horizon: 5) '
                         f'{{ {SERIES} }} }}')["data"]["forecast"]
    assert got["forecast"] == [{k: p[k] for k in ("date", "forecast", "lo", "hi")}
                               for p in rest["forecast"]]
    assert got["columns"] == {k: [p[k] for p in rest["forecast"]]
                              for k in ("date", "forecast", "lo", "hi")}
    assert (got["model"], got["run_id"], got["horizon"]) == (rest["model"], rest["run_id"], 5)
    assert got["accuracy"]["wape"] == rest["accuracy"]["wape"]

    items = [{"sku_id": s, "pin_code": p, "horizon": 3} for s, p in world.series[:4]]
    items.append({"sku_id": "NOPE-1", "pin_code": pin, "horizon": 3})
    rest = client.post("/v1/forecasts/batch", json={"items": items}, headers=h).json()
    got = gql(client, h, "query($items: [SeriesRequest!]!) { forecast_batch(items: $items) "
                         "{ run_id results { sku_id pin_code forecast { forecast } } "
                         "errors { index code message } } }",
              {"items": items})["data"]["forecast_batch"]
    assert [(r["sku_id"], r["pin_code"]) for r in got["results"]] == \
        [(r["sku_id"], r["pin_code"]) for r in rest["results"]]
    assert got["results"][0]["forecast"] == [{"forecast": p["forecast"]}
                                             for p in rest["results"][0]["forecast"]]
    assert got["errors"] == [{k: e[k] for k in ("index", "code", "message")}
                             for e in rest["errors"]]


def test_series_list_with_nested_forecasts_in_one_batch(client, as_, world):
    body = gql(client, as_("analyst"),
               '{ series(limit: 3) { run_id total returned series { sku_id pin_code volume '
               'forecast(horizon: 2) { sku_id pin_code forecast { forecast } } } } }')
    data = body["data"]["series"]
    assert data["returned"] == 3 and data["total"] == len(world.series)
    for s in data["series"]:
        assert (s["forecast"]["sku_id"], s["forecast"]["pin_code"]) == (s["sku_id"],
                                                                        s["pin_code"])
        assert len(s["forecast"]["forecast"]) == 2
    volumes = [s["volume"] for s in data["series"]]
    assert volumes == sorted(volumes, reverse=True)


def test_planning_alerts_and_accuracy_match_rest(client, as_, world):
    h = as_("manager")
    pin = world.other_pin
    rest = client.get(f"/v1/recommendations/inventory?pin_code={pin}&limit=5",
                      headers=h).json()
    got = gql(client, h, f'{{ inventory(pin_code: "{pin}", limit: 5) {{ total_lines '
                         'lines { sku_id pin_code urgency order_qty reason } } }'
              )["data"]["inventory"]
    assert got["total_lines"] == rest["total_lines"]
    assert got["lines"] == [{k: ln[k] for k in ("sku_id", "pin_code", "urgency", "order_qty",
                                                "reason")} for ln in rest["lines"]]
    rest = client.get("/v1/alerts?limit=5", headers=h).json()
    got = gql(client, h, "{ alerts(limit: 5) { total alerts { alert_id reason } } }"
              )["data"]["alerts"]
    assert got["total"] == rest["total"]
    assert [a["alert_id"] for a in got["alerts"]] == [a["alert_id"] for a in rest["alerts"]]
    rest = client.get("/v1/analytics/accuracy?group_by=state", headers=h).json()
    got = gql(client, h, '{ accuracy(group_by: "state") { run_id group_by rows { group '
                         'model wape } } }')["data"]["accuracy"]
    assert got["run_id"] == rest["run_id"] and got["group_by"] == "state"
    assert got["rows"] == [{k: r[k] for k in ("group", "model", "wape")} for r in rest["rows"]]
    change = {"pct": -0.1, "category": "Dairy"}
    rest = client.post("/v1/pricing/simulate", json={"changes": [change]}, headers=h).json()
    got = gql(client, h, "query($c: [PriceChangeInput!]!) { pricing_simulation(changes: $c) "
                         "{ baseline changes totals by_sku { sku_id units } } }",
              {"c": [change]})["data"]["pricing_simulation"]
    assert got["totals"] == rest["totals"] and got["changes"] == rest["changes"]
    live = gql(client, h, "{ live_accuracy { drift_ratio runs { run_id wape "
                          "by_category { group wape drift } } } }")
    assert "errors" not in live and live["data"]["live_accuracy"]["drift_ratio"] > 0


# ---- a store user's PIN scope, through every field ---------------------------------------
def test_store_user_reaches_no_other_pin_through_any_field(client, as_, world):
    mine, other = world.store_pins[0], world.other_pin
    admin = as_("admin")
    made = client.post("/v1/scenarios", headers=admin, json={
        "name": "Other PIN only", "selection": {"pins": [other]},
        "assumptions": {"price_change_pct": -5}})
    assert made.status_code == 201, made.text
    scenario_id = made.json()["scenario_id"]
    sku = next(s for s, p in world.series if p == other)
    h = as_("store")
    asked = {  # field -> (query, the error code expected, or None: data within scope)
        "series": ('{ series(limit: 5000) { series { pin_code city '
                   'forecast(horizon: 3) { pin_code } } } }', None),
        "series_other": (f'{{ series(pin_code: "{other}") {{ total }} }}', "pin_out_of_scope"),
        "forecast": (f'{{ forecast(sku_id: "{sku}", pin_code: "{other}") {{ pin_code }} }}',
                     "pin_out_of_scope"),
        "forecast_batch": (f'{{ forecast_batch(items: [{{sku_id: "{sku}", pin_code: '
                           f'"{other}"}}]) {{ run_id }} }}', "pin_out_of_scope"),
        "accuracy": ('{ accuracy(group_by: "state") { rows { group n } } }', None),
        "live_accuracy": ("{ live_accuracy { runs { run_id n_series by_state { group } } } }",
                          None),
        "alerts": ("{ alerts { total alerts { pin_code entity reason link } } }", None),
        "alerts_other": (f'{{ alerts(pin_code: "{other}") {{ total }} }}', "pin_out_of_scope"),
        "inventory": ("{ inventory(limit: 5000) { lines { pin_code reason } } }", None),
        "inventory_other": (f'{{ inventory(pin_code: "{other}") {{ total_lines }} }}',
                            "pin_out_of_scope"),
        "pricing_simulation": ('{ pricing_simulation(changes: [{pct: -0.1}]) '
                               '{ baseline } }', "forbidden"),
        "mandis": (f'{{ mandis(commodity: "Onion", pin_code: "{mine}") {{ pin_code }} }}',
                   "forbidden"),      # the Sourcing page is not a store user's
        "scenarios": ("{ scenarios { total scenarios { name selection } } }", None),
        "scenario": (f'{{ scenario(scenario_id: "{scenario_id}") {{ name }} }}', "not_found"),
        "scenario_result": (f'{{ scenario_result(scenario_id: "{scenario_id}") '
                            '{ data_version } }', "forbidden"),
    }
    assert {k.split("_other")[0] for k in asked} == ROOT_FIELDS    # every field is tried
    for name, (query, code) in asked.items():
        body = gql(client, h, query)
        assert other not in json.dumps(body["data"]), (name, body)  # errors echo the ask
        field = name.split("_other")[0]
        if code is None:
            assert "errors" not in body, (name, body)
        else:
            assert codes(body) == {field: code}, (name, body)
            assert body["data"] == {field: None}
    got = gql(client, h, asked["series"][0])["data"]["series"]["series"]
    assert got and {s["pin_code"] for s in got} <= set(world.store_pins)
    assert {s["forecast"]["pin_code"] for s in got} <= set(world.store_pins)
    lines = gql(client, h, asked["inventory"][0])["data"]["inventory"]["lines"]
    assert lines and {ln["pin_code"] for ln in lines} == {mine}
    assert gql(client, h, asked["scenarios"][0])["data"]["scenarios"]["total"] == 0
    state = client.app.state.micropulse.warehouse().scalar(
        "SELECT state FROM locations WHERE pin_code = ?", [mine])
    rows = gql(client, h, asked["accuracy"][0])["data"]["accuracy"]["rows"]
    assert rows and {r["group"] for r in rows} == {state}


# ---- limits and errors --------------------------------------------------------------------
def test_too_deep_too_long_and_too_many_aliases_are_refused(client, as_):
    h = as_("analyst")
    deep = "{ " + " { ".join(f"f{i}" for i in range(MAX_DEPTH + 2)) + " }" * (MAX_DEPTH + 2)
    body = gql(client, h, deep)
    err = next(e for e in body["errors"] if e["extensions"]["code"] == "query_too_deep")
    assert err["message"].startswith(f"The query nests fields more than {MAX_DEPTH} levels")
    many = ",".join('{sku_id: "A", pin_code: "110001"}' for _ in range(MAX_TOKENS // 8))
    body = gql(client, h, f"{{ forecast_batch(items: [{many}]) {{ run_id }} }}")
    assert codes(body) == {"": "query_too_complex"} and body["data"] is None
    assert "send long lists as variables" in body["errors"][0]["message"]
    aliases = " ".join(f"a{i}: scenarios {{ total }}" for i in range(MAX_ALIASES + 1))
    body = gql(client, h, f"{{ {aliases} }}")
    assert codes(body) == {"": "too_many_aliases"} and body["data"] is None


def test_errors_carry_rests_codes_and_messages(client, as_, world):
    h = as_("analyst")
    res = client.get("/v1/forecasts?sku_id=A&pin_code=012345", headers=h).json()["error"]
    body = gql(client, h, '{ forecast(sku_id: "A", pin_code: "012345") { model } }')
    err = body["errors"][0]
    assert err["extensions"]["code"] == res["code"] == "validation_error"
    assert err["extensions"]["status"] == 422 and err["path"] == ["forecast"]
    assert err["message"] == res["message"].replace("Query parameter", "Argument")
    sku, pin = world.series[0]
    res = client.get(f"/v1/forecasts?sku_id=NOPE-9&pin_code={pin}", headers=h).json()["error"]
    err = gql(client, h, f'{{ forecast(sku_id: "NOPE-9", pin_code: "{pin}") {{ model }} '
                         f'f2: forecast(sku_id: "{sku}", pin_code: "{pin}") {{ model }} }}')
    assert err["errors"][0]["message"] == res["message"]
    assert err["errors"][0]["extensions"]["code"] == "forecast_not_found"
    assert err["data"]["forecast"] is None and err["data"]["f2"]["model"]  # others still answer
    body = gql(client, h, '{ alerts(rule: "a\\u0000b") { total } }')
    assert codes(body) == {"alerts": "validation_error"}
    assert "control character" in body["errors"][0]["message"]
    body = gql(client, h, "{ series(limit: 1) { series { forecast(horizon: 91) { model } } } }")
    err = body["errors"][0]
    assert err["path"] == ["series", "series", 0, "forecast"]
    assert err["extensions"]["code"] == "validation_error"
    assert err["message"] == ("Argument 'horizon': Input should be less than or equal to 90 "
                              "(got 91).")
    body = gql(client, h, "{ nope }")
    assert codes(body) == {"": "invalid_query"}
    assert "Cannot query field 'nope'" in body["errors"][0]["message"]


def test_requests_graphql_cannot_take_answer_rests_error_body(client, as_):
    h = as_("analyst")
    cases = [
        (client.post("/graphql", content=b"{nope", headers={
            **h, "Content-Type": "application/json"}), 400, "Unable to parse request body"),
        (client.post("/graphql", json={}, headers=h), 400, "No GraphQL query found"),
        (client.get("/graphql?query={scenarios{total}}", headers=h), 400,
         "not allowed when using GET"),
        (client.post("/graphql", json={"query": "{ scenarios { total } }", "variables": [1]},
                     headers=h), 400, "must be an object"),
    ]
    for res, status, words in cases:
        assert res.status_code == status, res.text
        error = res.json()["error"]
        assert error["code"] == "invalid_request" and words in error["message"]
        assert error["request_id"] == res.headers["X-Request-ID"]
    body = gql(client, h, "query($n: Int!) { alerts(limit: $n) { total } }", {"n": "x"})
    assert codes(body) == {"": "validation_error"}
    assert body["errors"][0]["message"].startswith("Variable '$n' has invalid value")
    body = gql(client, h, "mutation { x }")
    assert codes(body) == {"": "invalid_query"}


def test_a_server_fault_is_a_fixed_sentence_without_traceback(client, as_, world,
                                                            monkeypatch):
    from engine.warehouse import forecasts

    def broken(*_a, **_k):
        raise RuntimeError("boom at /srv/secret/warehouse.duckdb")

    monkeypatch.setattr(forecasts, "series_forecasts", broken)
    sku, pin = world.series[1]
    body = gql(client, as_("analyst"),
               f'{{ forecast(sku_id: "{sku}", pin_code: "{pin}", horizon: 7) {{ model }} }}')
    err = body["errors"][0]
    assert err["extensions"]["code"] == "internal_error" and err["extensions"]["status"] == 500
    assert "boom" not in json.dumps(body) and "secret" not in json.dumps(body)
    assert "Quote the request id" in err["message"]


def test_every_top_level_field_counts_as_one_request_and_batches_as_batches(
        app, client, as_, world, monkeypatch):
    h = as_("service")
    state = app.state.micropulse
    monkeypatch.setattr(state, "limiter", RateLimiter())
    monkeypatch.setattr(state, "settings", dataclasses.replace(
        state.settings, rate_per_minute=3, batch_rate_per_minute=1))
    sku, pin = world.series[0]
    item = f'items: [{{sku_id: "{sku}", pin_code: "{pin}", horizon: 1}}]'
    body = gql(client, h, f"{{ b1: forecast_batch({item}) {{ run_id }} "
                          f"b2: forecast_batch({item}) {{ run_id }} }}")
    assert body["data"]["b1"]["run_id"] and body["data"]["b2"] is None
    assert codes(body) == {"b2": "rate_limited"}
    body = gql(client, h, "{ s1: scenarios { total } s2: scenarios { total } }")
    assert codes(body) == {"s2": "rate_limited"}     # 1 + 1 + 1 = the 3 allowed, then one
    assert "the limit is 3 per minute" in body["errors"][0]["message"]
    res = client.post("/graphql", json={"query": "{ scenarios { total } }"}, headers=h)
    assert res.status_code == 429 and res.json()["error"]["code"] == "rate_limited"


# ---- live accuracy on planted actuals -----------------------------------------------------
@pytest.fixture(scope="module")
def live_client(small_warehouse_path, tmp_path_factory):
    import numpy as np

    from engine.warehouse.db import Warehouse
    from tests.forecast_page_frames import copy_warehouse
    from tests.live_frames import first_days, run_and_forecasts, run_copy, upload

    folder = tmp_path_factory.mktemp("graphql_live")
    src = copy_warehouse(run_copy(str(small_warehouse_path)), folder / "src.duckdb")
    wh = Warehouse(src)
    try:
        _, fc = run_and_forecasts(wh)
        days = first_days(fc, 7)
        days["quantity"] = np.where(days["category"] == "Dairy", days["forecast"] / 3,
                                    days["forecast"])       # Dairy drifts: WAPE 200%
        upload(wh, folder, days)
    finally:
        wh.close()
    world = build_world(src, folder / "api.duckdb", with_alerts=False)
    app = create_app(world.path, Settings(jwt_secret="l" * 48, rate_per_minute=10_000))
    yield TestClient(app, raise_server_exceptions=False)
    app.state.micropulse.close()


def test_live_accuracy_finds_the_planted_drift_as_the_cli_does(live_client):
    from engine.forecast import live

    body = gql(live_client, token_headers(live_client, "analyst"),
               "{ live_accuracy { drift_ratio runs { run_id periods_covered wape drift "
               "drift_groups sentence by_category { group wape bias_pct drift } "
               "by_step { group } } } }")
    assert "errors" not in body, body
    runs = body["data"]["live_accuracy"]["runs"]
    assert len(runs) == 1 and runs[0]["periods_covered"] == 7
    groups = {g["group"]: g for g in runs[0]["by_category"]}
    assert groups["Dairy"]["wape"] == pytest.approx(200) and groups["Dairy"]["drift"]
    assert groups["Staples"]["wape"] == pytest.approx(0) and not groups["Staples"]["drift"]
    assert "category Dairy" in runs[0]["drift_groups"]
    assert [g["group"] for g in runs[0]["by_step"]] == [str(i) for i in range(1, 8)]
    state = live_client.app.state.micropulse
    cli = live.summaries(live.scores(state.warehouse()))[0]      # what the CLI prints
    assert (runs[0]["run_id"], runs[0]["sentence"]) == (cli["run_id"], cli["sentence"])
    missing = gql(live_client, token_headers(live_client, "analyst"),
                  '{ live_accuracy(run_id: "fc_nope") { runs { run_id } } }')
    assert codes(missing) == {"live_accuracy": "run_not_found"}


def test_a_store_users_live_accuracy_counts_only_their_pin(live_client):
    """The planted actuals as a store user sees them: their PIN's series only (the
    stored chain-wide scores are not theirs), the same planted errors."""
    body = gql(live_client, token_headers(live_client, "store"),
               "{ live_accuracy { runs { run_id n_series periods_covered by_state { group } "
               "by_category { group wape drift } } } }")
    assert "errors" not in body, body
    run = body["data"]["live_accuracy"]["runs"][0]
    wh = live_client.app.state.micropulse.warehouse()
    pin = wh.scalar("SELECT min(pin_code) FROM forecasts")     # build_world's store PIN
    series = wh.scalar("SELECT count(DISTINCT sku_id) FROM forecasts WHERE run_id = ? "
                       "AND pin_code = ?", [run["run_id"], pin])
    everyone = wh.scalar("SELECT count(DISTINCT (sku_id, pin_code)) FROM forecasts")
    state = wh.scalar("SELECT state FROM locations WHERE pin_code = ?", [pin])
    assert 0 < run["n_series"] == series < everyone and run["periods_covered"] == 7
    assert [g["group"] for g in run["by_state"]] == [state]
    groups = {g["group"]: g for g in run["by_category"]}
    assert groups["Dairy"]["wape"] == pytest.approx(200) and groups["Dairy"]["drift"]
    assert groups["Staples"]["wape"] == pytest.approx(0)
