"""Liveness, readiness, tokens and API keys."""
from __future__ import annotations

import math
from datetime import datetime

from fastapi import APIRouter, Depends, Request

from api.errors import ApiError
from api.schemas import (ApiKeyRequest, ApiKeyResponse, Health, Ready, TokenRequest,
                         TokenResponse, error_responses)
from api.security import Caller, client_key, create_api_key, current_caller, issue_token
from api.security import revoke_api_key as _revoke
from engine import auth

router = APIRouter()


@router.get("/health", tags=["system"], response_model=Health)
def health() -> dict:
    """The process is up (opens nothing)."""
    return {"status": "ok"}


@router.get("/ready", tags=["system"], response_model=Ready,
            responses=error_responses(503, 500))
def ready(request: Request) -> dict:
    """The warehouse opens: its file name (never its location), schema version, data
    version and latest forecast run."""
    from engine.warehouse.runs import latest_forecast_run

    wh = request.app.state.micropulse.warehouse()
    run = latest_forecast_run(wh)
    return {"status": "ready", "warehouse": wh.path.name, "schema_version": wh.schema_version(),
            "data_version": wh.data_version(),   # names no path (a hash of it)
            "latest_forecast_run": None if run is None else str(run["run_id"])}


@router.post("/v1/auth/token", tags=["auth"], response_model=TokenResponse,
             responses=error_responses(401, 403, 422, 429, 503, 507))
def token(body: TokenRequest, request: Request) -> dict:
    """Sign in with a MicroPulse username and password; returns a short-lived bearer token
    (MICROPULSE_API_TOKEN_MINUTES, default 30). Failed sign-ins are throttled per
    username and calling address as in the app (a lock stops that address only)."""
    state = request.app.state.micropulse
    state.limiter.check("signin", client_key(request), state.settings.rate_per_minute,
                        "sign-in attempts")
    wh = state.warehouse()
    try:
        user = auth.authenticate(wh, body.username, body.password,
                                 client=auth.client_id(client_key(request)))
    except auth.AccountLocked as exc:
        wait = max(1, math.ceil((exc.locked_until - datetime.now()).total_seconds()))
        raise ApiError(429, "account_locked", str(exc),
                       headers={"Retry-After": str(wait)}) from None
    return issue_token(state.settings, user)


@router.post("/v1/auth/api-keys", tags=["auth"], response_model=ApiKeyResponse,
             status_code=201, responses=error_responses(401, 403, 404, 422, 429, 503, 507))
def new_api_key(body: ApiKeyRequest, caller: Caller = Depends(current_caller)) -> dict:
    """Issue an API key for an existing user (a service account); admins only. The key is
    shown once; send it as the 'X-API-Key' header. It has that user's role and PIN scope."""
    return create_api_key(caller.wh, caller.user, body.username)


@router.delete("/v1/auth/api-keys/{key_id}", tags=["auth"], status_code=204,
               responses=error_responses(401, 403, 404, 422, 429, 503, 507))
def revoke_api_key(key_id: str, caller: Caller = Depends(current_caller)) -> None:
    """Revoke an API key (admins only); it stops working immediately."""
    _revoke(caller.wh, caller.user, key_id)
