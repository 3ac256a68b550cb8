"""`GET /metrics`: Prometheus metrics of this process and of the warehouse it serves
(engine/telemetry.py).

Access: with MICROPULSE_METRICS_TOKEN set, only a request carrying
`Authorization: Bearer <that token>` (as Prometheus' `authorization` / `bearer_token`
scrape settings send it); without it, only requests from this machine (loopback
addresses). A wrong or missing token is 401 and counts as a failed authentication of the
address (the API's unauthenticated-request limit applies); a remote address without a
token configured is 403. Left out of the OpenAPI document: it is for the operator's
monitoring, not for API clients.
"""
from __future__ import annotations

import hmac
import ipaddress
import os

from fastapi import APIRouter, Request, Response

from api.errors import ApiError
from api.security import raise_if_waiting, client_key

router = APIRouter()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_access(request: Request) -> None:
    """The /metrics access rule (module docstring); raises ApiError when refused."""
    state = request.app.state.micropulse
    address, limit = client_key(request), state.settings.unauth_rate_per_minute
    token = os.environ.get("MICROPULSE_METRICS_TOKEN", "")
    if token:
        raise_if_waiting(state.limiter.wait("unauth", address, limit), limit,
                          "Too many requests without valid credentials from your address")
        sent = request.headers.get("authorization", "")
        scheme, _, given = sent.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            state.limiter.hit("unauth", address, limit)
            raise ApiError(401, "not_authenticated",
                           "Metrics need 'Authorization: Bearer <MICROPULSE_METRICS_TOKEN>'.",
                           headers={"WWW-Authenticate": "Bearer"})
        return
    if not _loopback(address):
        raise ApiError(403, "forbidden",
                       "Metrics are served to this machine only. To scrape them from "
                       "elsewhere, set MICROPULSE_METRICS_TOKEN on the API and send it as "
                       "'Authorization: Bearer <token>'.")


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format: request counts and latencies, forecast runs, uploads,
    alerts, and the warehouse's gauges (latest run, routing shares, live accuracy by
    category, stored alerts, upload rows, newest sales date)."""
    from engine import telemetry

    check_access(request)
    body, content_type = telemetry.render(request.app.state.micropulse.warehouse())
    return Response(content=body, media_type=content_type)
