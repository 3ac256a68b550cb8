"""Real-time sales events and live updates.

- `POST /v1/sales/events`: NDJSON sales events (engine/ingest/events.py: validated by the
  upload rules, committed in micro-batches, idempotent by event id); the answer comes
  after the commit and always says `received = loaded + rejected + duplicates`.
- `GET /v1/sales/events/status`: every event batch's counts added up, and the queue.
- `WS /ws`: live updates (engine/bus.py) - forecast-run progress, new alerts, ingest and
  event results - each scoped to what the signed-in user may see. The first message must
  be `{"token": "<JWT from /v1/auth/token>"}` (or `{"api_key": "mpk_..."}`); the server
  answers `{"type": "ready", ...}` and then pushes one JSON object per update, or closes
  with code 4401 and an error object when the credentials are not valid, and when the
  token expires (an API key's connection lasts until the client closes it).
"""
from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.schemas import error_responses
from api.security import Caller, current_caller

router = APIRouter(tags=["data"])
AUTH_TIMEOUT_S = 10.0
QUEUE_MAX = 1000


class EventReject(BaseModel):
    line: int
    event_id: str | None
    code: str
    reason: str


class EventsResponse(BaseModel):
    received: int
    loaded: int
    rejected: int
    duplicates: int
    blank_lines: int
    reconciliation: str
    batches: list[str]
    ignored_fields: list[str]
    rejects: list[EventReject]


class EventsStatus(BaseModel):
    received: int
    loaded: int
    rejected: int
    duplicates: int
    batches: int
    last_batch_at: str | None
    reconciliation: str
    queued_requests: int


EVENTS_BODY = {"required": True, "content": {"application/x-ndjson": {"schema": {
    "type": "string", "description": "One JSON object per line: event_id (or "
    "idempotency_key), date or timestamp, sku_id (sku), pin_code (pin), quantity (units), "
    "optional price, promo, store_id"}}}}


async def _read_body(request: Request, limit: int) -> bytes:
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > limit:
        raise _too_large(limit)
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"The events are larger than the API's limit of "
                    f"{limit >> 20} MB per request (MICROPULSE_API_MAX_UPLOAD_MB); nothing was "
                    "loaded. Send them in several requests.", headers={"Connection": "close"})


@router.post("/v1/sales/events", response_model=EventsResponse,
             openapi_extra={"requestBody": EVENTS_BODY},
             responses=error_responses(401, 403, 413, 422, 429, 503, 507))
async def post_events(request: Request, caller: Caller = Depends(current_caller)) -> dict:
    """Load sales events (NDJSON, one event per line) with the same validation as a sales
    upload. Every event is loaded, rejected (kept in the quarantine with its reason,
    listed in `rejects` with its line) or a duplicate (its event id was seen before, in
    this request or any earlier one): `received = loaded + rejected + duplicates`. The
    answer comes after the events' micro-batch committed, so a client that gets no
    answer can safely send the same events again. A store user may post events for their
    own PIN codes only (others are rejected with that reason). New sales rescore live
    accuracy and check the drift alert shortly after (debounced)."""
    caller.require("post_events")
    state = request.app.state.micropulse
    body = await _read_body(request, state.settings.max_upload_mb << 20)
    scope = tuple(caller.user.pin_codes) if caller.user.is_scoped else None
    res = await run_in_threadpool(state.events().ingest, body, caller.user.username, scope)
    return res.as_dict()


@router.get("/v1/sales/events/status", response_model=EventsStatus,
            responses=error_responses(401, 403, 429, 503))
def events_status(request: Request, caller: Caller = Depends(current_caller)) -> dict:
    """Every sales-event batch's counts added up (`received = loaded + rejected +
    duplicates`) and the requests waiting in this process's queue. For users who see
    every PIN code (the counts span all of them)."""
    from engine.warehouse.events import totals

    caller.require("upload", "Data")
    state = request.app.state.micropulse
    t = totals(state.warehouse())
    return {**{k: t[k] for k in ("received", "loaded", "rejected", "duplicates", "batches")},
            "last_batch_at": None if t["last_batch_at"] is None else str(t["last_batch_at"]),
            "reconciliation": f"{t['received']:,} received = {t['loaded']:,} loaded + "
                              f"{t['rejected']:,} rejected + {t['duplicates']:,} duplicates",
            "queued_requests": state.events().pending}


# ---- /ws ------------------------------------------------------------------------------------
def _expiry(token: str) -> float | None:
    """The `exp` of a token already verified by user_from_token (the socket closes then)."""
    import jwt

    try:
        return float(jwt.decode(token, options={"verify_signature": False})["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None


async def _close(websocket: WebSocket, code: str, message: str) -> None:
    await websocket.send_json({"type": "error", "code": code, "message": message})
    await websocket.close(code=4401)


@router.websocket("/ws")
async def live_updates(websocket: WebSocket) -> None:
    from engine import bus
    from api.security import user_from_api_key, user_from_token

    await websocket.accept()
    state = websocket.app.state.micropulse
    try:
        first = json.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S))
    except (asyncio.TimeoutError, ValueError):
        return await _close(websocket, "not_authenticated", "Send {\"token\": \"<JWT from "
                            "/v1/auth/token>\"} as the first message, within "
                            f"{AUTH_TIMEOUT_S:.0f} s.")
    except WebSocketDisconnect:
        return
    token = first.get("token") if isinstance(first, dict) else None
    key = first.get("api_key") if isinstance(first, dict) else None
    if not (isinstance(token, str) and token) and not (isinstance(key, str) and key):
        return await _close(websocket, "not_authenticated", "The first message must be "
                            "{\"token\": \"<JWT>\"} or {\"api_key\": \"mpk_...\"}.")
    try:
        wh = state.warehouse()
        user = await run_in_threadpool(
            user_from_api_key if key else user_from_token,
            *((wh, key) if key else (wh, state.settings, token)))
    except ApiError as exc:
        return await _close(websocket, exc.code, exc.message)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_MAX)

    def put(message: dict) -> None:
        if not inbox.full():
            inbox.put_nowait(message)

    def deliver(message: dict) -> None:          # the publishing thread
        if bus.may_see(user, message):
            loop.call_soon_threadsafe(put, {k: v for k, v in message.items()
                                            if k != "audience"})

    sub = bus.subscribe(deliver)
    try:
        await websocket.send_json({"type": "ready", "user": user.username, "role": user.role,
                                   "pin_codes": list(user.pin_codes) if user.is_scoped
                                   else None})

        async def drain_client():
            while True:
                await websocket.receive_text()       # pings or anything: ignored

        reader = asyncio.create_task(drain_client())
        expires = _expiry(token) if token else None
        try:
            while not reader.done():
                getter = asyncio.create_task(inbox.get())
                left = None if expires is None else max(expires - time.time(), 0.0)
                done, _ = await asyncio.wait({getter, reader}, timeout=left,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await websocket.send_json(getter.result())
                    continue
                getter.cancel()
                if not done:        # the token ran out: the client signs in again
                    return await _close(websocket, "token_expired", "Your token has "
                                        "expired; request a new one at /v1/auth/token and "
                                        "connect again.")
        finally:
            reader.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        sub.close()
