"""Uploads (received by `api.uploads`: authenticated first, streamed to disk with the size
limit enforced as the body arrives, saved with the file's real extension; then the
engine's ingest) and alerts."""
from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.routes_forecasts import when
from api.routes_planning import day_or_none, text_or_none
from api.schemas import (PIN_PATTERN, AcknowledgeResponse, AlertsResponse, IngestResponse,
                         error_responses, first_control_char)
from api.security import Caller, current_caller
from api.uploads import UPLOAD_BODY, receive_upload, upload_folder

router = APIRouter(tags=["data"])
UPLOAD_FIELDS = {"sheet": 100, "mapping": 4000}     # form fields besides 'file', max chars


def _overrides(mapping: str | None) -> dict | None:
    if not mapping:
        return None
    try:
        value = json.loads(mapping)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (str, type(None))) for k, v in value.items()):
        raise ApiError(422, "validation_error", "Field 'mapping' must be a JSON object from "
                       "the file's column to a MicroPulse field, e.g. {\"qty\": \"quantity\"}.",
                       {"field": "mapping"})
    for text in (*value, *(v for v in value.values() if v is not None)):
        bad = first_control_char(text)
        if bad:
            raise ApiError(422, "validation_error", f"Field 'mapping' names a column or field "
                           f"with a control character ({bad}).", {"field": "mapping"})
    return value


@router.post("/v1/ingest/{kind}", response_model=IngestResponse, status_code=201,
             openapi_extra={"requestBody": UPLOAD_BODY},
             responses={200: {"model": IngestResponse,
                              "description": "The same file was loaded before: nothing "
                                             "loaded twice"},
                        **error_responses(400, 401, 403, 413, 422, 429, 503, 507)})
async def ingest(kind: Literal["sales", "catalog", "inventory", "mandi", "plan", "competitor"],
                 request: Request, background: BackgroundTasks,
                 caller: Caller = Depends(current_caller)):
    """Upload a file with the same validation, counts and quarantine as the app's Data
    page: `rows_read == rows_loaded + rows_quarantined + duplicates_skipped + blank_lines
    + total_rows` (also as the sentence `reconciliation`); every
    rejected row is in `quarantine` with its reason. `columns` accounts for every column
    of the file (the field it feeds, or ignored, with a suggested field when an ignored
    column looks like one; map it with `mapping`). Re-uploading a file loads nothing
    twice (status `duplicate_file`, HTTP 200). `plan` files (planned prices and
    promotions) are stored as the next `plan_version`; `warnings` names rows kept with a
    doubt (a price and a discount that disagree). `competitor` files (competitors' shelf
    prices) report in `matching` how their items were matched to our SKUs. After a load the alert rules are
    re-checked in the background (the response does not wait for them).

    The caller is authenticated and the role checked before the body is read; the file
    is streamed to disk and refused with 413 the moment it passes
    MICROPULSE_API_MAX_UPLOAD_MB."""
    from engine.alerts import refresh_after
    from engine.ingest.load import ingest_file

    caller.require("upload", "Data")
    state = request.app.state.micropulse
    upload = await receive_upload(request, upload_folder(state.process.temp),
                                  state.settings.max_upload_mb << 20, UPLOAD_FIELDS)
    try:
        overrides = _overrides(upload.fields.get("mapping"))
        res = await run_in_threadpool(
            ingest_file, caller.wh, kind, upload.path, file_name=upload.file_name,
            sheet=upload.fields.get("sheet") or None, overrides=overrides,
            user=caller.user.username)
    finally:
        upload.cleanup()
    if res.rows_loaded:
        background.add_task(refresh_after, caller.wh, "upload", caller.user.username)
    body = {"batch_id": res.batch_id, "kind": res.kind, "file_name": res.file_name,
            "status": res.status, "rows_read": res.rows_read, "rows_loaded": res.rows_loaded,
            "rows_quarantined": res.rows_quarantined,
            "duplicates_skipped": res.duplicates_skipped, "blank_lines": res.blank_lines,
            "total_rows": res.total_rows, "reconciliation": res.reconciliation,
            "grain": res.grain,
            "mapping": res.mapping, "columns": res.columns,
            "ignored_columns": res.ignored_columns,
            "issues": json.loads(json.dumps(res.issues, default=str)),
            "plan_version": res.report.get("plan_version"),
            "matching": res.report.get("matching"),
            "warnings": [w["sentence"] for w in res.report.get("warnings", [])]}
    return JSONResponse(IngestResponse(**body).model_dump(mode="json"),
                        status_code=200 if res.status == "duplicate_file" else 201)


@router.get("/v1/alerts", response_model=AlertsResponse,
            responses=error_responses(401, 403, 422, 429, 503))
def alerts(status: Literal["new", "acknowledged", "resolved"] | None = None,
           severity: Literal["critical", "high", "medium", "low"] | None = None,
           rule: Annotated[str | None, Query(max_length=64)] = None,
           pin_code: Annotated[str | None, Query(pattern=PIN_PATTERN)] = None,
           limit: Annotated[int, Query(ge=1, le=5000)] = 500,
           caller: Caller = Depends(current_caller)) -> dict:
    """Stored alerts, most rupees at stake first (ties: severity, then newest). A PIN
    filter keeps that PIN's alerts plus alerts not tied to any PIN (mandi prices, data
    freshness). Store users see their PINs only; links never name a PIN outside the
    caller's scope or a page their role cannot open."""
    from engine.alerts import list_alerts

    caller.require("view", "Alerts")
    caller.check_pin(pin_code)
    scope = (pin_code,) if pin_code else (
        tuple(caller.user.pin_codes) if caller.user.is_scoped else None)
    df = list_alerts(caller.wh, status=status, severity=severity, rule=rule, pin_scope=scope,
                     viewer=caller.user)
    out = []
    for r in df.head(limit).to_dict("records"):
        out.append({"alert_id": str(r["alert_id"]), "rule": str(r["rule"]),
                    "severity": str(r["severity"]), "entity": str(r["entity"]),
                    "day": day_or_none(r["day"]), "reason": str(r["reason"]),
                    "status": str(r["status"]), "pin_code": text_or_none(r.get("pin_code")),
                    "link": text_or_none(r.get("link")),
                    "created_at": when(r["created_at"]),
                    "acknowledged_by": text_or_none(r.get("acknowledged_by")),
                    "acknowledged_at": when(r.get("acknowledged_at"))})
    return {"total": int(len(df)), "alerts": out}


@router.post("/v1/alerts/{alert_id}/acknowledge", response_model=AcknowledgeResponse,
             responses=error_responses(401, 403, 404, 409, 422, 429, 503, 507))
def acknowledge_alert(alert_id: Annotated[str, PathParam(min_length=1, max_length=64)],
                      caller: Caller = Depends(current_caller)) -> dict:
    """Acknowledge a new alert (audited with your username). 409 if it is not new."""
    from engine.alerts import acknowledge
    from engine.warehouse.alerts import read_alerts

    caller.require("acknowledge_alerts", "Alerts")
    if read_alerts(caller.wh, [alert_id]).empty:
        raise ApiError(404, "alert_not_found", f"There is no alert '{alert_id[:64]}' "
                       "(or it is outside your scope).")
    acknowledge(caller.wh, alert_id, caller.user.username)
    return {"alert_id": alert_id, "status": "acknowledged",
            "acknowledged_by": caller.user.username}
