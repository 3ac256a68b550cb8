"""Structured logs (structlog) and OpenTelemetry tracing of the API and the engine: one
JSON line per request with its id, the id following into engine code on worker threads, no
password or token in any line; server spans with engine spans as their children (in
memory), and a real OTLP/HTTP export to a stand-in collector."""
from __future__ import annotations

import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.main import create_app
from api.security import Settings
from engine import telemetry, tracing
from tests.api_frames import PASSWORDS, build_world, token_headers
from tests.forecast_page_frames import forecast_copy


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    src = forecast_copy(str(small_warehouse_path))
    return build_world(src, tmp_path_factory.mktemp("observe") / "api.duckdb",
                       with_alerts=False)


@pytest.fixture(scope="module")
def client(world):
    app = create_app(world.path, Settings(jwt_secret="o" * 48, rate_per_minute=10_000))
    yield TestClient(app, raise_server_exceptions=False)
    app.state.micropulse.close()


@pytest.fixture
def json_logs():
    stream = io.StringIO()
    root = logging.getLogger("micropulse")
    before = (list(root.handlers), root.propagate, root.level)
    telemetry.configure_logging(stream=stream, fmt="json")
    yield lambda: [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]
    root.handlers[:] = before[0]
    root.propagate, root.level = before[1], before[2]


@pytest.fixture
def spans(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    memory = InMemorySpanExporter()
    assert tracing.configure(exporter=memory)
    yield memory
    tracing.reset()


# ---- logs ---------------------------------------------------------------------------------
def test_sign_in_and_queries_log_one_line_per_request_with_no_password_or_token(
        client, world, json_logs, monkeypatch):
    from engine.warehouse import forecasts

    real = forecasts.series_forecasts
    engine_log = logging.getLogger("micropulse.engine.test")

    def logged(*args, **kwargs):        # engine code, on the request's worker thread
        engine_log.info("series read", extra={"event": "series_read", "pairs": len(args[2])})
        return real(*args, **kwargs)

    monkeypatch.setattr(forecasts, "series_forecasts", logged)
    wrong = client.post("/v1/auth/token", json={"username": "analyst",
                                                "password": "Wrong-pass-999"})
    assert wrong.status_code == 401
    signin = client.post("/v1/auth/token", json={"username": "analyst",
                                                 "password": PASSWORDS["analyst"]})
    token = signin.json()["access_token"]
    sku, pin = world.series[0]
    res = client.post("/graphql", headers={"Authorization": f"Bearer {token}",
                                           "X-Request-ID": "gql-req-7"},
                      json={"query": f'{{ forecast(sku_id: "{sku}", pin_code: "{pin}", '
                                     'horizon: 2) { model } }'})
    assert res.status_code == 200 and "errors" not in res.json()
    rest = client.get(f"/v1/forecasts?sku_id={sku}&pin_code={pin}&horizon=3",
                      headers={"Authorization": f"Bearer {token}"})
    lines = json_logs()
    text = json.dumps(lines)
    for secret in (PASSWORDS["analyst"], "Wrong-pass-999", token, token.split(".")[2]):
        assert secret not in text
    requests = [x for x in lines if x["event"] == "request"]
    ids = {r.headers["X-Request-ID"] for r in (wrong, signin, res, rest)}
    assert {x["request_id"] for x in requests} == ids          # one line each, with its id
    gql = next(x for x in requests if x["request_id"] == "gql-req-7")
    assert gql["route"] == "/graphql" and gql["status"] == 200 and gql["user"] == "analyst"
    assert set(gql) >= {"ts", "level", "logger", "event", "message", "request_id"}
    inner = [x for x in lines if x["event"] == "series_read"]
    assert [x["request_id"] for x in inner] == ["gql-req-7", rest.headers["X-Request-ID"]]


# ---- tracing ------------------------------------------------------------------------------
def test_tracing_is_off_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    tracing.reset()
    try:
        calls = []

        @tracing.traced("test.off", lambda a: calls.append("arguments read") or {})
        def double(x):
            return 2 * x

        assert double(4) == 8 and calls == []       # not even the arguments are looked at
        assert tracing.tracer() is None
        with tracing.span("test.block") as current:
            assert current is None
    finally:
        tracing.reset()


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def test_requests_and_engine_calls_are_spans_with_parents_and_the_request_id(
        client, world, spans):
    h = token_headers(client, "manager")
    pin = world.other_pin
    res = client.get(f"/v1/sourcing/mandis?commodity=Onion&pin_code={pin}&quantity=7",
                     headers={**h, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert res.status_code == 200, res.text
    rid = res.headers["X-Request-ID"]
    done = {s.name: s for s in spans.get_finished_spans()}
    server, engine = done["GET /v1/sourcing/mandis"], done["sourcing.rank_mandis"]
    assert engine.parent.span_id == server.context.span_id          # engine call inside
    assert server.context.trace_id == int(TRACE_ID, 16)             # the caller's trace
    assert server.parent.span_id == int(PARENT_ID, 16)
    assert server.attributes["http.route"] == "/v1/sourcing/mandis"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["micropulse.request_id"] == rid
    assert engine.attributes["micropulse.request_id"] == rid
    assert engine.attributes["micropulse.commodity"] == "Onion"
    assert engine.attributes["micropulse.quantity_qtl"] == 7.0
    assert engine.attributes["micropulse.mandis"] > 0
    assert server.resource.attributes["service.name"] == "micropulse"

    spans.clear()
    csv = b"sku_id,pin_code,date,quantity\nZZ-9,560001,2020-01-06,3\nZZ-9,5600,2020-01-06,1\n"
    res = client.post("/v1/ingest/sales", headers=token_headers(client, "admin"),
                      files={"file": ("late.csv", csv, "text/csv")})
    assert res.status_code == 201, res.text
    done = {s.name: s for s in spans.get_finished_spans()}
    ingest = done["ingest.file"]
    assert ingest.parent.span_id == done["POST /v1/ingest/{kind}"].context.span_id
    assert ingest.attributes["micropulse.kind"] == "sales"
    assert (ingest.attributes["micropulse.rows_loaded"],
            ingest.attributes["micropulse.rows_quarantined"]) == (1, 1)


def test_graphql_fields_and_failing_engine_calls_are_spans(client, world, spans):
    from opentelemetry.trace import StatusCode

    h = token_headers(client, "manager")
    res = client.post("/graphql", headers=h, json={"query": (
        "{ pricing_simulation(changes: [{pct: -0.05, category: \"Dairy\"}]) { baseline } "
        "mandis(commodity: \"No such crop\", pin_code: \"%s\") { pin_code } }"
        % world.other_pin)})
    assert res.status_code == 200
    assert res.json()["errors"][0]["extensions"]["code"] == "sourcing_error"
    done = {s.name: s for s in spans.get_finished_spans()}
    server = done["POST /graphql"]
    for name in ("pricing.simulate", "sourcing.rank_mandis"):
        assert done[name].parent.span_id == server.context.span_id
        assert done[name].attributes["micropulse.request_id"] == res.headers["X-Request-ID"]
    failed = done["sourcing.rank_mandis"]
    assert failed.status.status_code == StatusCode.ERROR
    assert any(e.name == "exception" for e in failed.events)


class _Collector(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_spans_are_exported_over_otlp_http_to_the_configured_endpoint(monkeypatch):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest)

    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "micropulse-test")
    tracing.reset()
    try:
        @tracing.traced("test.engine_call", lambda a: {"pin_code": a["pin"]},
                        lambda out: {"rows": out})
        def engine_call(pin):
            return 3

        with tracing.span("test.outer", step="one"):
            assert engine_call("560001") == 3
        assert tracing.flush()
    finally:
        tracing.reset()
        server.shutdown()
        server.server_close()
    assert _Collector.received, "nothing reached the collector"
    path, content_type, body = _Collector.received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    resource = request.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "micropulse-test"
    got = {s.name: s for scope in resource.scope_spans for s in scope.spans}
    assert set(got) == {"test.outer", "test.engine_call"}
    assert got["test.engine_call"].parent_span_id == got["test.outer"].span_id
    attrs = {a.key: a.value for a in got["test.engine_call"].attributes}
    assert attrs["micropulse.pin_code"].string_value == "560001"
    assert attrs["micropulse.rows"].int_value == 3
