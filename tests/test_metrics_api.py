"""GET /metrics (prometheus_client) and the JSON request / engine logs, with FastAPI's
TestClient on a demo copy whose forecast run has live scores; the sample Prometheus
alert rules parse and name only metrics the API exports."""
from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine import telemetry
from engine.warehouse.db import Warehouse
from tests.api_frames import build_world, token_headers
from tests.forecast_page_frames import copy_warehouse
from tests.live_frames import first_days, run_and_forecasts, run_copy, upload

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "micropulse-rules.yml"
LOCAL = ("127.0.0.1", 50000)


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("metrics")
    src = copy_warehouse(run_copy(str(small_warehouse_path)), folder / "src.duckdb")
    wh = Warehouse(src)
    try:
        run, fc = run_and_forecasts(wh)
        days = first_days(fc, 7)
        days["quantity"] = np.where(days["category"] == "Dairy", days["forecast"] / 3,
                                    days["forecast"])       # Dairy drifts: WAPE 200%
        upload(wh, folder, days)
    finally:
        wh.close()
    return build_world(src, folder / "api.duckdb", with_alerts=False)


@pytest.fixture(scope="module")
def app(world):
    app = create_app(world.path, Settings(jwt_secret="m" * 48, rate_per_minute=10_000,
                                          unauth_rate_per_minute=3))
    yield app
    app.state.micropulse.close()


@pytest.fixture(scope="module")
def local(app):
    return TestClient(app, raise_server_exceptions=False, client=LOCAL)


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def _families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M))


def test_metrics_count_requests_by_route_template_and_status(local, world):
    headers = token_headers(local, "analyst")
    sku, pin = next(s for s in world.series if s[1] not in world.store_pins)
    for _ in range(2):
        assert local.get(f"/v1/forecasts?sku_id={sku}&pin_code={pin}&horizon=3",
                         headers=headers).status_code == 200
    assert local.get("/v1/forecasts?sku_id=NOPE&pin_code=110001",
                     headers=headers).status_code == 404
    assert local.get("/no/such/path").status_code == 404
    res = local.get("/metrics")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
    s = _samples(res.text)
    ok = frozenset({("route", "/v1/forecasts"), ("method", "GET"), ("status", "200")})
    assert s[("micropulse_http_requests_total", ok)] >= 2
    assert s[("micropulse_http_request_duration_seconds_count", ok)] >= 2
    assert s[("micropulse_http_request_duration_seconds_bucket", ok | {("le", "+Inf")})] >= 2
    assert s[("micropulse_http_requests_total", frozenset(
        {("route", "/v1/forecasts"), ("method", "GET"), ("status", "404")}))] >= 1
    assert s[("micropulse_http_requests_total", frozenset(
        {("route", "unmatched"), ("method", "GET"), ("status", "404")}))] >= 1
    routes = {dict(k[1]).get("route") for k in s if k[0] == "micropulse_http_requests_total"}
    assert not any(r and sku in r for r in routes)       # templates, never raw paths


def test_metrics_carry_the_warehouse_gauges(local, world):
    text = local.get("/metrics").text
    s = _samples(text)
    types = _families(text)
    assert types["micropulse_live_wape_percent"] == "gauge"
    dairy = frozenset({("category", "Dairy")})
    assert s[("micropulse_live_wape_percent", dairy)] == pytest.approx(200, abs=1e-6)
    assert s[("micropulse_live_bias_percent", dairy)] == pytest.approx(200, abs=1e-6)
    assert s[("micropulse_live_drift", dairy)] == 1.0
    assert s[("micropulse_live_periods_covered", frozenset({("category", "all")}))] == 7
    assert s[("micropulse_live_drift", frozenset({("category", "Staples")}))] == 0.0
    assert s[("micropulse_live_wape_percent", frozenset({("category", "Staples")}))] == 0.0
    shares = [v for (name, _), v in s.items() if name == "micropulse_routing_share"]
    assert shares and sum(shares) == pytest.approx(1.0)
    assert s[("micropulse_forecast_last_run_series", frozenset())] > 100
    assert types["micropulse_alerts"] == "gauge"          # by rule and status
    assert s[("micropulse_stored_ingest_rows", frozenset({("kind", "sales"),
                                                          ("outcome", "loaded")}))] > 0
    assert s[("micropulse_sales_age_days", frozenset())] >= 0
    # this process's own events: the upload above, and the live scoring it triggered
    assert s[("micropulse_ingest_rows_total", frozenset({("kind", "sales"),
                                                         ("outcome", "loaded")}))] >= 1
    assert s[("micropulse_live_accuracy_scorings_total", frozenset())] >= 1


def test_metrics_are_for_this_machine_or_a_token(app, monkeypatch):
    remote = TestClient(app, raise_server_exceptions=False, client=("203.0.113.9", 4000))
    res = remote.get("/metrics")
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "forbidden"
    assert "MICROPULSE_METRICS_TOKEN" in res.json()["error"]["message"]
    monkeypatch.setenv("MICROPULSE_METRICS_TOKEN", "s3cret-scrape")
    assert remote.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"}
                      ).status_code == 200
    wrong = TestClient(app, raise_server_exceptions=False, client=("203.0.113.10", 4000))
    res = wrong.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert res.status_code == 401 and res.json()["error"]["code"] == "not_authenticated"
    local = TestClient(app, raise_server_exceptions=False, client=LOCAL)
    assert local.get("/metrics").status_code == 401        # a token, once set, is required
    for _ in range(3):
        wrong.get("/metrics")
    assert wrong.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"}
                     ).status_code == 429                  # the unauthenticated limit holds


def test_json_logs_one_line_per_request_with_its_id_and_engine_events(local, world,
                                                                     monkeypatch):
    monkeypatch.setenv("MICROPULSE_LOG_FORMAT", "json")
    stream = io.StringIO()
    root = logging.getLogger("micropulse")
    before = (list(root.handlers), root.propagate, root.level)
    telemetry.configure_logging(stream=stream)
    try:
        headers = {**token_headers(local, "admin"), "X-Request-ID": "req-upload-1"}
        csv = b"sku_id,pin_code,date,quantity\nZZ-1,560001,2020-01-06,3\n"
        res = local.post("/v1/ingest/sales", headers=headers,
                         files={"file": ("late.csv", csv, "text/csv")})
        assert res.status_code == 201, res.text
        local.get("/health", headers={"X-Request-ID": "req-health-2"})
    finally:
        root.handlers[:] = before[0]
        root.propagate, root.level = before[1], before[2]
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]
    requests = [x for x in lines if x.get("event") == "request"]
    upload = next(x for x in requests if x["request_id"] == "req-upload-1")
    assert upload["route"] == "/v1/ingest/{kind}" and upload["status"] == 201
    assert upload["user"] == "admin" and upload["method"] == "POST"
    assert isinstance(upload["duration_ms"], float) and upload["logger"] == "micropulse.api"
    health = next(x for x in requests if x["request_id"] == "req-health-2")
    assert health["route"] == "/health" and health["user"] is None
    loaded = next(x for x in lines if x.get("event") == "upload_loaded")
    assert loaded["request_id"] == "req-upload-1"      # the id follows into the engine
    assert loaded["rows_loaded"] == 1 and loaded["kind"] == "sales"
    text = stream.getvalue()
    assert "admin-pass" not in text and "Bearer" not in text


def test_json_formatter_redacts_secret_fields_and_secret_looking_text():
    record = logging.LogRecord("micropulse.x", logging.INFO, __file__, 1, "hello %s", (
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",), None)
    record.password = "hunter2"
    record.api_key = "mpk_abc"
    record.note = "key mpk_0a1b2c_s3cr3t-part sent"
    record.rows = 3
    out = json.loads(telemetry.formatter("json").format(record))
    assert out["password"] == "[redacted]" and out["api_key"] == "[redacted]"
    assert out["note"] == "key [redacted] sent"
    assert out["message"] == out["event"] == "hello [redacted]"
    assert out["rows"] == 3 and out["level"] == "INFO" and out["logger"] == "micropulse.x"
    assert list(out)[:4] == ["ts", "level", "logger", "event"]


def test_sample_alert_rules_parse_and_use_only_exported_metrics(local):
    rules = yaml.safe_load(RULES.read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"MicroPulseHighErrorRate", "MicroPulseSlowRequests", "MicroPulseLiveWapeHigh",
            "MicroPulseSalesStale"} <= names
    exported = set(_families(local.get("/metrics").text))
    assert set(telemetry.METRIC_NAMES) <= exported         # the documented list is real
    for expr in exprs:
        for used in re.findall(r"\bmicropulse_[a-z0-9_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", used)
            family = base if telemetry.METRIC_NAMES.get(base) == "histogram" else used
            assert family in telemetry.METRIC_NAMES and family in exported, used


def test_the_app_process_can_serve_its_metrics_on_loopback(world):
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    wh = Warehouse(world.path)
    server = None
    try:
        server, _thread = telemetry.serve_metrics(wh, port)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10
                                      ).read().decode()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        wh.close()
    types = _families(text)
    assert types["micropulse_live_wape_percent"] == "gauge"
    assert types["micropulse_http_requests_total"] == "counter"
