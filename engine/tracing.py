"""OpenTelemetry tracing of API requests and engine calls, off unless asked for.

Set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://collector:4318) and every process that
traces - the API, the app, the command line - exports its spans over OTLP/HTTP
(opentelemetry-sdk's BatchSpanProcessor, off the request path; OTEL_SERVICE_NAME names the
service, default `micropulse`). The API opens a server span per request (api/main.py,
continuing a caller's W3C `traceparent`); engine calls decorated with `@traced` open a
child span of whatever span is current, with attributes saying what was asked and what
came out (a forecast run's series and run id, an upload's row counts, ...), and the
request id of the API request they serve (`micropulse.request_id`).

Off (no endpoint), `@traced` costs one check of a module flag per call: OpenTelemetry is
not even imported. The environment is read once, at the first traced call (or
`configure()`); tests pass their own exporter to `configure(exporter=...)`.
"""
from __future__ import annotations

import functools
import inspect
import os
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_configured = False
_tracer = None          # an SDK tracer when tracing is on, else None
_provider = None


def configure(exporter=None, service_name: str | None = None) -> bool:
    """Turn tracing on with `exporter` (a SpanExporter: tests), or with the OTLP/HTTP
    exporter when OTEL_EXPORTER_OTLP_ENDPOINT is set; else leave it off. Returns whether
    it is on. Calling it again replaces the previous set-up."""
    global _configured, _tracer, _provider
    with _lock:
        _shutdown()
        _configured = True
        if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
            return False
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor = BatchSpanProcessor(OTLPSpanExporter())
        else:
            processor = SimpleSpanProcessor(exporter)
        name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "micropulse"
        _provider = TracerProvider(resource=Resource.create({"service.name": name}))
        _provider.add_span_processor(processor)
        _tracer = _provider.get_tracer("micropulse")
        return True


def _shutdown() -> None:
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()         # exports what is still queued
    _tracer = _provider = None


def reset() -> None:
    """Tracing off again, after exporting what is queued; the environment is read again
    at the next traced call."""
    global _configured
    with _lock:
        _shutdown()
        _configured = False


def flush(timeout_ms: int = 10_000) -> bool:
    """Export the queued spans now (True when done in time; True when tracing is off)."""
    provider = _provider
    return True if provider is None else provider.force_flush(timeout_ms)


def tracer():
    """The SDK tracer when tracing is on, else None."""
    if not _configured:
        configure()
    return _tracer


def _attributes(values: dict) -> dict:
    """OpenTelemetry attribute values: str, bool, int, float or lists of one of them;
    anything else as text; None left out."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = [v if isinstance(v, (str, bool, int, float)) else str(v) for v in value]
        elif not isinstance(value, (str, bool, int, float)):
            try:
                value = float(value) if hasattr(value, "__float__") else str(value)
            except (TypeError, ValueError):
                value = str(value)
        out[key if "." in key else f"micropulse.{key}"] = value
    return out


def _with_request_id(values: dict) -> dict:
    from engine.telemetry import request_id

    rid = request_id()
    return {**values, "micropulse.request_id": rid} if rid else values


@contextmanager
def span(name: str, **attributes):
    """A span around a block (None when tracing is off): child of the current span."""
    t = tracer()
    if t is None:
        yield None
        return
    with t.start_as_current_span(name, attributes=_attributes(
            _with_request_id(attributes))) as current:
        yield current


def traced(name: str, arguments=None, result=None):
    """Decorator: a span named `name` around each call when tracing is on.
    `arguments(bound)` -> attributes from the call's arguments (a dict by parameter name,
    defaults filled in); `result(value)` -> attributes from what the call returned. An
    exception is recorded on the span (status ERROR) and raised as before."""
    def wrap(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            t = _tracer if _configured else tracer()
            if t is None:
                return fn(*args, **kwargs)
            attrs = {}
            if arguments is not None:
                bound = signature.bind_partial(*args, **kwargs)
                bound.apply_defaults()
                attrs = arguments(bound.arguments)
            with t.start_as_current_span(name, attributes=_attributes(
                    _with_request_id(attrs))) as current:
                value = fn(*args, **kwargs)
                if result is not None:
                    current.set_attributes(_attributes(result(value)))
                return value
        return call
    return wrap
