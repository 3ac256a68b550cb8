"""MicroPulse REST API: the engine and warehouse the app uses, for other systems.

    create_app(warehouse_path=None) -> FastAPI   (the warehouse opens on first use)
    uvicorn api.main:app --port 8000             (`app` is built on first access)

One process-wide DuckDB connection; every request gets its own cursor (DuckDB MVCC), and
endpoints are plain `def` functions that FastAPI runs in its threadpool, so reads never
wait for an upload or a forecast run that holds the write lock.

One API process per warehouse (DuckDB allows one writer process): at start-up the process
checks it is not one of several workers and takes the warehouse's API lock, or refuses to
start with the reason (`api.runtime`). The interactive docs at /docs are served from the
swagger-ui files installed with the API (swagger-ui-bundle-v2): nothing from a CDN.
"""
from __future__ import annotations

import gc
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import FastAPI, Request

from api import errors
from api.runtime import ServerProcess
from api.security import RateLimiter, Settings
from engine import telemetry, tracing

log = logging.getLogger("micropulse.api")
API_VERSION = "1.0.0"
_RID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ApiState:
    """Warehouse handle (opened lazily), per-scope handles, result cache, rate limiter."""

    def __init__(self, warehouse_path: str | Path | None, settings: Settings,
                 own_process: bool = False):
        self.warehouse_path = warehouse_path
        self.settings = settings
        self.process = ServerProcess(warehouse_path, own_process)
        self.limiter = RateLimiter()
        self._wh = None
        self._lock = threading.Lock()
        self._scoped: dict[tuple[str, ...], object] = {}
        self._cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()
        self._key_locks: dict = {}
        self._events = None

    def warehouse(self):
        """The process-wide Warehouse; raises WarehouseLockedError (-> 503) if another
        process holds the file. On a read-only disk it is opened read-only: reads are
        served and every write answers 503 read_only."""
        if self._wh is None:
            with self._lock:
                if self._wh is None:
                    from engine.warehouse.db import Warehouse

                    self._wh = Warehouse.open_readable(self.warehouse_path)
        return self._wh

    def events(self):
        """The process's sales-event committer (engine/ingest/events.py), started on first
        use: one per warehouse, so every request's events share its micro-batches."""
        if self._events is None:
            wh = self.warehouse()
            with self._lock:
                if self._events is None:
                    from engine.ingest.events import EventIngestor

                    self._events = EventIngestor(wh)
        return self._events

    def scoped(self, user):
        """The handle a user's engine calls run against: `engine.auth.scoped_warehouse`
        (a ScopedWarehouse for store users), built once per PIN scope and reused, since it
        keeps one prepared cursor per thread."""
        from engine.auth import scoped_warehouse

        wh = self.warehouse()
        if not user.is_scoped:
            return wh
        key = tuple(user.pin_codes)
        with self._lock:
            handle = self._scoped.get(key)
            if handle is None:
                if len(self._scoped) >= 256:
                    self._scoped.pop(next(iter(self._scoped)))
                handle = self._scoped[key] = scoped_warehouse(wh, user)
        return handle

    def cached(self, key: tuple, compute, max_entries: int = 64):
        """compute() once per key (keys start with the handle's data_version, so new data
        or another PIN scope never reuses a result)."""
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._cache_lock:
                if key in self._cache:
                    return self._cache[key]
            value = compute()
            with self._cache_lock:
                self._cache[key] = value
                while len(self._cache) > max_entries:
                    old, _ = self._cache.popitem(last=False)
                    self._key_locks.pop(old, None)
                self._key_locks.pop(key, None)
        return value

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
        with self._lock:
            if self._wh is not None:
                self._wh.close()
                self._wh = None
            self._scoped.clear()
        self.process.stop()


class StartupGuard:
    """Pure ASGI middleware: at lifespan start-up, the process checks of `ServerProcess`
    (one worker, the warehouse's API lock, the temporary folder). A refusal is reported as
    `lifespan.startup.failed` with its sentence, which the server logs before exiting (and
    uvicorn's supervisor then stops every worker): no traceback, no request served."""

    def __init__(self, app, process: ServerProcess):
        self.app, self.process = app, process

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        first = await receive()
        if first["type"] == "lifespan.startup":
            problem = self.process.start()
            if problem:
                await send({"type": "lifespan.startup.failed", "message": problem})
                return
        replay = [first]

        async def receive_again():
            return replay.pop() if replay else await receive()

        await self.app(scope, receive_again, send)


def add_offline_docs(app: FastAPI, openapi_url: str) -> None:
    """/docs: Swagger UI from the files of the installed swagger-ui-bundle-v2 package
    (served under /docs/static), so the docs work without internet."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        log.warning("swagger-ui-bundle-v2 is not installed: /docs is off (the OpenAPI "
                    "document is still at %s)", openapi_url)
        return
    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request):
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - docs",
            swagger_js_url=f"{root}/docs/static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/static/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/static/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})


class RequestContext:
    """Pure ASGI middleware: request id (X-Request-ID in, or a new one), echoed on the
    response, bound as the context's request id (engine.telemetry.bind_request_id:
    structlog's context variables, so engine log lines of this request carry it) and
    written with route template, method, path, status, user and time to the access log
    and the request metrics."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode(
            "latin-1")
        rid = incoming if _RID_OK.match(incoming or "") else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        tokens = telemetry.bind_request_id(rid)
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            with request_span(scope, rid) as span:
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    end_request_span(span, scope, status["code"])
        finally:
            seconds = time.perf_counter() - t0
            route = route_template(scope)
            telemetry.observe_request(route, scope.get("method", ""), status["code"], seconds)
            log.info("%s %s -> %s in %.1f ms", scope.get("method"), scope.get("path"),
                     status["code"], seconds * 1000,
                     extra={"event": "request", "route": route, "method": scope.get("method"),
                            "path": scope.get("path"), "status": status["code"],
                            "duration_ms": round(seconds * 1000, 1),
                            "user": state.get("user"), "request_id": rid})
            telemetry.unbind_request_id(tokens)


@contextmanager
def request_span(scope, rid: str):
    """The request's server span when tracing is on (engine.tracing), continuing the
    caller's W3C `traceparent`; else None."""
    tracer = tracing.tracer()
    if tracer is None:
        yield None
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    carrier = {k.decode("latin-1"): v.decode("latin-1")
               for k, v in scope.get("headers") or []}
    method = scope.get("method", "")
    with tracer.start_as_current_span(
            method, context=propagate.extract(carrier), kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", ""),
                        "micropulse.request_id": rid}) as span:
        yield span


def end_request_span(span, scope, status: int) -> None:
    """Name the span after the route template ('GET /v1/forecasts'), with its status."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    route = route_template(scope)
    span.update_name(f"{scope.get('method', '')} {route}")
    span.set_attributes({"http.route": route, "http.response.status_code": status})
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def route_template(scope) -> str:
    """The matched route's template ('/v1/scenarios/{scenario_id}'), the mount's path for
    static files, or 'unmatched' (so scanners cannot blow up the metric's labels)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return path
    if scope.get("root_path") and "app_root_path" in scope:     # inside a Mount
        return scope["root_path"]
    return "unmatched"


TAGS = [
    {"name": "system", "description": "Liveness and readiness."},
    {"name": "auth", "description": "Tokens for users, API keys for service accounts."},
    {"name": "forecasts", "description": "Stored demand forecasts and their accuracy."},
    {"name": "planning", "description": "Reorder lines, price simulation, mandi sourcing."},
    {"name": "scenarios", "description": "Saved what-if scenarios, from demand to margin "
                                         "to orders to mandi buying."},
    {"name": "data", "description": "Uploads and alerts."},
    {"name": "trends", "description": "Emerging and declining items, what changed, store "
                                      "clusters."},
    {"name": "assistant", "description": "Ask MicroPulse: questions in plain words."},
]


def create_app(warehouse_path: str | Path | None = None,
               settings: Settings | None = None, own_process: bool = False) -> FastAPI:
    """The API over the warehouse at `warehouse_path` (default: $MICROPULSE_WAREHOUSE or
    data/warehouse.duckdb). Nothing is opened until the first request that needs it.
    `own_process=True` (the server process `uvicorn api.main:app`) also points `tempfile`
    at the process's own temporary folder, so every temporary file of a killed server is
    swept at the next start."""
    from api import (routes_assistant, routes_competitors, routes_data, routes_events,
                     routes_forecasts, routes_graphql, routes_metrics, routes_planning,
                     routes_scenarios, routes_system, routes_trends)
    from api.uploads import CloseUnreadBody

    state = ApiState(warehouse_path, settings or Settings.from_env(), own_process)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if own_process:
            # The start-up heap (modules, schemas, the GraphQL schema) lives as long as the
            # process: out of the cyclic GC's full collections, which otherwise scan it
            # all, pausing a request for up to ~90 ms (benchmarks/bench_graphql.py).
            gc.freeze()
        yield
        state.close()
        if own_process:
            gc.unfreeze()

    app = FastAPI(title="MicroPulse API", version=API_VERSION, lifespan=lifespan,
                  description="Hyperlocal demand forecasts, reorder lines, price simulation "
                              "and mandi sourcing for Indian retail, from the same engine "
                              "and warehouse as the MicroPulse app. Sign in at "
                              "`POST /v1/auth/token`, then send `Authorization: Bearer "
                              "<token>` (or a service account's `X-API-Key`).",
                  openapi_url="/v1/openapi.json", docs_url=None, redoc_url=None,
                  openapi_tags=TAGS)
    app.state.micropulse = state
    errors.install(app)
    for module in (routes_system, routes_forecasts, routes_planning, routes_scenarios,
                   routes_data, routes_events, routes_metrics, routes_trends,
                   routes_competitors, routes_assistant, routes_graphql):
        app.include_router(module.router)
    add_offline_docs(app, "/v1/openapi.json")
    app.add_middleware(CloseUnreadBody)
    app.add_middleware(errors.RejectControlCharacters)
    app.add_middleware(RequestContext)
    app.add_middleware(StartupGuard, process=state.process)
    return app


def configure_logging() -> None:
    """Access/error lines of `micropulse.api` (with request ids) and the engine's events
    to stderr, at MICROPULSE_API_LOG_LEVEL (default INFO): text, or JSON lines with
    MICROPULSE_LOG_FORMAT=json (engine.telemetry.configure_logging)."""
    telemetry.configure_logging()


def __getattr__(name: str):
    """`api.main.app`, built on first access (so importing this module opens nothing)."""
    if name == "app":
        configure_logging()
        app = create_app(own_process=True)
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
