"""One JSON error shape for every 4xx/5xx:

    {"error": {"code": "...", "message": "...", "request_id": "...", "details": ...}}

Engine errors (typed, with a sentence a store manager understands) are all
`engine.errors.MicroPulseError`s: one handler answers each with the status and code it
carries and its evidence rows in `details` (at most 50; `details_total` says how many
there were when some are left out), so routes just call the engine and let its errors
through and none becomes a 500 without its code and sentence. Messages never
show where the warehouse lives: its folder is taken out of every engine message, and a
locked warehouse is a fixed sentence. A full disk is `507 disk_full` and a read-only one
`503 read_only` (the engine's WarehouseStorageError, or an OSError / DuckDB error of such a
disk anywhere in a failure's chain): never a 500, never blamed on the request. On the
PostgreSQL backend an unreachable server is `503 database_unreachable` and a lock or
conflict with another session `503 database_busy` (both with Retry-After), whether the
warehouse raised them or a driver error got through.

`RejectControlCharacters` (ASGI middleware) answers 422 for a path or query string that
holds a control character (NUL, tab, newline, ...), before any route sees it; request
bodies are checked by the models in `api.schemas`.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("micropulse.api")


class ApiError(Exception):
    """An error the API raises itself: status, machine code, sentence, optional details."""

    def __init__(self, status: int, code: str, message: str, details=None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id") or "")


def error_response(request: Request, status: int, code: str, message: str, details=None,
                   headers: dict | None = None, details_total: int | None = None
                   ) -> JSONResponse:
    rid = request_id(request)
    body = {"error": {"code": code, "message": message, "request_id": rid}}
    if details is not None:
        body["error"]["details"] = details
    if details_total is not None:
        body["error"]["details_total"] = details_total
    out = JSONResponse(body, status_code=status, headers=headers)
    if rid:
        out.headers["X-Request-ID"] = rid
    return out


_LOC_KIND = {"query": "Query parameter", "path": "Path parameter", "header": "Header",
             "body": "Field", "cookie": "Cookie", "argument": "Argument"}


def _field(loc) -> tuple[str, str]:
    loc = list(loc or [])
    kind = _LOC_KIND.get(str(loc[0]), "Field") if loc else "Field"
    rest = [str(p) for p in loc[1:]] if loc and loc[0] in _LOC_KIND else [str(p) for p in loc]
    name = ".".join(rest) if rest else "body"
    return kind, name


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def validation_message(errors: list[dict]) -> tuple[str, list[dict]]:
    """'Query parameter 'horizon': Input should be less than or equal to 90 (got 120).' and
    a details list naming every failing field."""
    details = []
    for err in errors:
        kind, name = _field(err.get("loc"))
        item = {"field": name, "location": kind.lower(), "message": err.get("msg", "invalid")}
        if "input" in err and err.get("type") != "missing":
            item["got"] = _short(err["input"])
        details.append(item)
    if not details:
        return "The request is not valid.", details
    first = details[0]
    kind, name = _field(errors[0].get("loc"))
    msg = f"{kind} '{first['field']}': {first['message']}"
    if "got" in first:
        msg += f" (got {first['got']})"
    msg += "."
    if len(details) > 1:
        msg += f" {len(details) - 1} more problem(s) in 'details'."
    return msg, details


def _engine_status(exc: Exception) -> tuple[int, str] | None:
    """HTTP status and code of an engine error (None: not one). Every engine error is a
    MicroPulseError that carries both (engine/errors.py)."""
    from engine.errors import MicroPulseError

    if isinstance(exc, MicroPulseError):
        return int(exc.http_status), exc.code
    return None


def _evidence(exc: Exception) -> tuple[object, int | None]:
    """(the error's evidence, JSON-safe and at most EVIDENCE_LIMIT rows; the number of
    rows it had when some were left out, else None)."""
    from engine.errors import EVIDENCE_LIMIT, evidence_json

    rows, total = evidence_json(getattr(exc, "evidence", None), EVIDENCE_LIMIT)
    if isinstance(rows, list) and not rows:
        rows = None
    return rows, (total if rows is not None and total is not None and total > len(rows)
                  else None)


def describe(request: Request, exc: Exception) -> tuple[int, str, str, object]:
    """(status, code, message, details) of any error, as the API answers it (see
    `describe_full`). The REST handlers and GraphQL (api/routes_graphql.py) both answer
    through this."""
    return describe_full(request, exc)[:4]


def describe_full(request: Request, exc: Exception) -> tuple[int, str, str, object, int | None]:
    """(status, code, message, details, details_total) of any error: its own ApiErrors,
    request validation, a full or read-only disk, every engine error (a MicroPulseError:
    its status, code, sentence without the warehouse's folder, and evidence capped at 50
    rows; a locked warehouse is a fixed sentence); anything else is logged with its
    traceback and answered `500 internal_error` with a fixed sentence."""
    from engine.errors import MicroPulseError
    from engine.warehouse.db import WarehouseLockedError

    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message, exc.details, None
    if isinstance(exc, RequestValidationError):
        message, details = validation_message(list(exc.errors()))
        return 422, "validation_error", message, details, None
    storage = _storage(exc)       # an OSError or DuckDB error from a full/read-only disk
    if storage is not None:
        return (*_storage_parts(request, storage), None)
    if isinstance(exc, MicroPulseError):
        status, code = _engine_status(exc)
        message = without_location(request, str(exc))
        if isinstance(exc, WarehouseLockedError):
            message = LOCKED_MESSAGE
        if status >= 500:
            log.error("engine error request_id=%s path=%s code=%s", request_id(request),
                      request.url.path, code, exc_info=exc)
        details, total = _evidence(exc)
        return status, code, message, details, total
    database = _database(exc)     # PostgreSQL unreachable or busy (a driver error)
    if database is not None:
        return describe_full(request, database)
    log.error("unhandled error request_id=%s path=%s", request_id(request), request.url.path,
              exc_info=exc)
    return 500, "internal_error", INTERNAL_MESSAGE, None, None


INTERNAL_MESSAGE = ("Something went wrong on the server. Quote the request id when you "
                    "report it.")


def install(app: FastAPI) -> None:
    from engine.errors import MicroPulseError

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(request, exc.status, exc.code, exc.message, exc.details,
                              exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(request, *describe(request, exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                 403: "forbidden", 413: "too_large", 429: "rate_limited"}
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = f"There is no endpoint {request.url.path}; see /docs for the API."
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        return error_response(request, exc.status_code,
                              codes.get(exc.status_code, f"http_{exc.status_code}"),
                              message, headers=getattr(exc, "headers", None))

    async def _any(request: Request, exc: Exception):
        """Every engine error (MicroPulseError) and anything unexpected, through
        `describe_full`: 503s carry Retry-After (not a read-only disk: retrying won't help)."""
        status, code, message, details, total = describe_full(request, exc)
        headers = {"Retry-After": "5"} if status == 503 and code != "read_only" else None
        return error_response(request, status, code, message, details, headers, total)

    app.add_exception_handler(MicroPulseError, _any)
    app.add_exception_handler(Exception, _any)


def _storage(exc: Exception):
    """The WarehouseStorageError behind `exc` (itself, or an OSError / DuckDB error of a
    full or read-only disk anywhere in its chain), else None."""
    from engine.warehouse.db import storage_error

    return storage_error(exc, what="the request could not be completed",
                         where="the server's disk")


def _database(exc: Exception):
    """The warehouse error (503 database_unreachable / database_busy) a PostgreSQL driver
    error behind `exc` stands for, else None. The warehouse's cursors raise those already;
    this catches a driver error from anywhere else (a connection pool, a direct copy)."""
    if "psycopg" not in sys.modules:      # the DuckDB backend: no driver error possible
        return None
    from engine.warehouse.postgres import database_problem

    return database_problem(exc)


def _storage_parts(request: Request, exc) -> tuple[int, str, str, object]:
    """507 disk_full / 503 read_only with the storage sentence (no folder in it) and its
    evidence; logged as a warning, since it is the server's disk, not a bug."""
    status, code = _engine_status(exc) or (507, "storage_error")
    log.warning("storage error request_id=%s path=%s: %s", request_id(request),
                request.url.path, exc)
    evidence = _evidence(exc)[0]
    if isinstance(evidence, dict) and evidence.get("file"):
        evidence = {**evidence, "file": Path(str(evidence["file"])).name}
    return status, code, without_location(request, str(exc)), evidence


LOCKED_MESSAGE = ("The warehouse is in use by another MicroPulse process (the app or a "
                  "command-line run), so the API cannot open it right now. Try again when "
                  "that process has finished; to serve the app and the API on one "
                  "warehouse, run the API inside the app (MICROPULSE_API_IN_APP=1).")


def without_location(request: Request, text: str) -> str:
    """`text` with the warehouse's folder taken out ('/srv/mp/data/warehouse.duckdb' ->
    'warehouse.duckdb'): error bodies go to anyone who can reach the API."""
    state = getattr(request.app.state, "micropulse", None)
    if state is None:
        return text
    from engine.warehouse.db import default_path

    raw = state.warehouse_path if state.warehouse_path is not None else default_path()
    for path in {Path(raw), Path(raw).expanduser().resolve()}:
        if str(path.parent) not in ("", "."):
            text = text.replace(str(path), path.name).replace(str(path.parent), "…")
    return text


class RejectControlCharacters:
    """Pure ASGI middleware: 422 for a control character in the path or in a query
    parameter's name or value (after percent-decoding), e.g. `?sku_id=A%00`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            problem = _control_in_target(scope)
            if problem is not None:
                kind, name, found = problem
                message = (f"{kind} '{name}' contains a control character ({found}); ids "
                           "and text may not hold NUL, tab, newline or other control "
                           "characters.")
                response = error_response(Request(scope), 422, "validation_error", message,
                                          [{"field": name, "location": kind.split()[0]
                                            .lower(), "message": message}])
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _control_in_target(scope) -> tuple[str, str, str] | None:
    from api.schemas import first_control_char

    found = first_control_char(scope.get("path") or "")
    if found:
        return "Path", scope.get("path", "").encode("unicode_escape").decode("ascii")[:80], \
            found
    query = (scope.get("query_string") or b"").decode("latin-1")
    if not query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True, encoding="utf-8",
                                 errors="replace"):
        for text in (name, value):
            found = first_control_char(text)
            if found:
                shown = name.encode("unicode_escape").decode("ascii")[:64]
                return "Query parameter", shown, found
    return None
