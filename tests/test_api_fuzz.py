"""Property-based fuzzing of the REST API against its own OpenAPI schema (schemathesis):
no 5xx for any generated input, and every response matches the documented status codes,
content type and schema. Bounded (a few examples per operation) to run in well under a
minute on the small demo."""
from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi import checks as oa_checks

from api.main import create_app
from api.security import Settings
from engine import auth
from schemathesis import checks as core_checks
from tests.api_frames import FAST_ROUNDS, build_world, token_headers
from tests.forecast_page_frames import forecast_copy

# POST /v1/sales/events documents its NDJSON body as a string: sent as its UTF-8 bytes.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

CHECKS = [core_checks.not_a_server_error, oa_checks.status_code_conformance,
          oa_checks.content_type_conformance, oa_checks.response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(small_warehouse_path, tmp_path_factory):
    rounds, auth.BCRYPT_ROUNDS = auth.BCRYPT_ROUNDS, FAST_ROUNDS  # fast dummy hash checks
    world = build_world(forecast_copy(str(small_warehouse_path)),
                        tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb")
    app = create_app(world.path, Settings(jwt_secret="f" * 48, rate_per_minute=100_000,
                                          batch_rate_per_minute=100_000))
    app.state.fuzz_headers = token_headers(TestClient(app), "admin")
    # scenarios: read their inputs and build the baseline reorder plan once, as a warm
    # server has them (cold, that alone can pass the fuzzer's 10 s read timeout on 2 cores)
    from engine.scenarios import Scenario
    from engine.scenarios import compute as C

    C.compute(C.load_inputs(app.state.micropulse.warehouse()), Scenario("warm-up"))
    yield app
    app.state.micropulse.close()
    auth.BCRYPT_ROUNDS = rounds


OPERATIONS = ["GET /health", "GET /ready", "POST /v1/auth/token", "POST /v1/auth/api-keys",
              "DELETE /v1/auth/api-keys/{key_id}", "GET /v1/forecasts",
              "POST /v1/forecasts/batch", "GET /v1/analytics/accuracy",
              "GET /v1/recommendations/inventory", "POST /v1/pricing/simulate",
              "POST /v1/pricing/optimize", "POST /v1/pricing/markdown",
              "GET /v1/pricing/competitors", "GET /v1/pricing/competitors/review",
              "GET /v1/pricing/competitors/elasticity",
              "POST /v1/pricing/competitors/matches",
              "GET /v1/sourcing/mandis", "POST /v1/ingest/{kind}", "GET /v1/alerts",
              "POST /v1/alerts/{alert_id}/acknowledge", "GET /v1/scenarios",
              "POST /v1/scenarios", "POST /v1/scenarios/compute",
              "GET /v1/scenarios/{scenario_id}", "PATCH /v1/scenarios/{scenario_id}",
              "DELETE /v1/scenarios/{scenario_id}", "POST /v1/scenarios/{scenario_id}/run",
              "GET /v1/scenarios/{scenario_id}/result", "GET /v1/trends",
              "POST /v1/sales/events", "GET /v1/sales/events/status",
              "POST /v1/assistant/ask"]


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/v1/openapi.json", fuzz_app)


def test_fuzzing_covers_every_documented_operation(api_schema):
    labels = {r.ok().label for r in api_schema.get_all_operations()}
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_api_never_errors_and_matches_its_schema(api_schema, fuzz_app, label):
    """schemathesis' pytest plugin does not run under this pytest, so each operation's
    strategy is driven with hypothesis directly (same generation, same checks)."""
    op = api_schema.find_operation_by_label(label)
    headers = dict(fuzz_app.state.fuzz_headers)

    @given(case=op.as_strategy())
    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
