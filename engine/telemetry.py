"""Metrics and structured logs, for running MicroPulse in production.

Logs (structlog over the standard library's `logging`): every MicroPulse logger sits under
`micropulse` (`micropulse.api`, `micropulse.engine.*`, `micropulse.warehouse`), and modules
keep calling `logging` as they always did. `configure_logging()` gives that logger one
stderr handler whose formatter is structlog's `ProcessorFormatter`: one JSON object per line
with MICROPULSE_LOG_FORMAT=json (`ts` (UTC ISO), `level`, `logger`, `event`, `message`,
`request_id`, plus the record's own fields passed with `extra=`, e.g. `route`, `status`,
`duration_ms`, `user`), else one plain line. `event` is the event's name when the record
has one (`extra={"event": "upload_loaded"}`, `event()` below), else its message. structlog's
own loggers (`structlog.get_logger("micropulse.x")`) come out through the same handler.

The request id lives in structlog's context variables (`bind_request_id`): the API binds
it for each request, so everything logged while serving it - engine events too (an upload
loaded, live accuracy scored), on the request's worker thread as well - carries the same
id. No secrets in logs: fields named like one (password, token, secret, authorization,
api_key) are written as "[redacted]", and so is anything in any field or message that looks
like a bearer token, a JWT or a MicroPulse API key.

Metrics (prometheus_client; every name starts with `micropulse_`, see METRIC_NAMES):
process counters and histograms updated where things happen (requests, forecast runs,
uploads, alerts raised), plus gauges read from the warehouse at scrape time
(`WarehouseCollector`: the latest run's size, duration and routing shares, live accuracy by
category, stored alerts by rule and status, stored upload rows by outcome, the newest
sales date), so a scrape shows what the app and the command line did too. Without
prometheus_client installed every metric call is a no-op.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import threading
from datetime import datetime

import structlog

log = logging.getLogger("micropulse.engine.events")

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message",
                                                                          "asctime"}
_SECRET_WORDS = ("password", "passwd", "token", "secret", "authorization", "api_key",
                 "apikey")
_SECRET_TEXT = re.compile(r"(?i)bearer\s+\S+|eyJ[\w-]+\.[\w-]+\.[\w-]*|mpk_[\w-]+")
REDACTED = "[redacted]"


# ---- request id -----------------------------------------------------------------------------
def bind_request_id(request_id: str):
    """Bind the request id in structlog's context variables (for this request's task and
    the threads it hands work to); returns the tokens `unbind_request_id` takes."""
    return structlog.contextvars.bind_contextvars(request_id=request_id)


def unbind_request_id(tokens) -> None:
    structlog.contextvars.reset_contextvars(**tokens)


def request_id() -> str | None:
    """The id of the API request being served, or None."""
    return structlog.contextvars.get_contextvars().get("request_id")


# ---- logs -----------------------------------------------------------------------------------
def _record_fields(_logger, _name, ed: dict) -> dict:
    """A standard-library record: `message` its text, its `extra=` fields, and `event`
    its event name (else its text)."""
    record = ed.get("_record")
    if record is None or ed.get("_from_structlog"):
        return ed
    text = ed.pop("event")
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            ed[key] = value
    ed["message"] = text
    ed.setdefault("event", text)
    return ed


def _level(_logger, name: str, ed: dict) -> dict:
    record = ed.get("_record")
    ed["level"] = record.levelname if record is not None else name.upper()
    return ed


def _redact(_logger, _name, ed: dict) -> dict:
    for key, value in list(ed.items()):
        if key.startswith("_"):
            continue
        if any(word in key.lower() for word in _SECRET_WORDS):
            ed[key] = REDACTED
        elif isinstance(value, str) and _SECRET_TEXT.search(value):
            ed[key] = _SECRET_TEXT.sub(REDACTED, value)
    return ed


_PRE_CHAIN = [structlog.contextvars.merge_contextvars, structlog.stdlib.add_logger_name,
              _level, structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
              _record_fields]
_FIRST = ("ts", "level", "logger", "event", "message", "request_id")


def _ordered(_logger, _name, ed: dict) -> dict:
    ed.setdefault("message", ed.get("event"))     # structlog's own loggers: the event
    return {**{k: ed[k] for k in _FIRST if k in ed},
            **{k: v for k, v in ed.items() if k not in _FIRST}}


def _text_line(_logger, _name, ed: dict) -> str:
    """ts level logger message, then request_id and the record's own fields as key=value."""
    rest = " ".join(f"{k}={v}" for k, v in ed.items()
                    if k not in ("ts", "level", "logger", "message", "event")
                    or (k == "event" and v != ed.get("message")))
    line = f"{ed.get('ts')} {ed.get('level')} {ed.get('logger')} {ed.get('message')}"
    return f"{line} {rest}" if rest else line


def formatter(fmt: str = "json") -> logging.Formatter:
    """structlog's ProcessorFormatter for MicroPulse records: JSON lines or plain text."""
    render = (structlog.processors.JSONRenderer(default=str) if fmt == "json"
              else _text_line)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _redact,
                    structlog.processors.format_exc_info, _ordered, render])


def log_format() -> str:
    """'json' when MICROPULSE_LOG_FORMAT=json, else 'text'."""
    return "json" if os.environ.get("MICROPULSE_LOG_FORMAT", "").strip().lower() == "json" \
        else "text"


def configure_logging(stream=None, fmt: str | None = None, level: str | None = None) -> None:
    """One handler on the `micropulse` logger (JSON or text, see the module docstring), at
    MICROPULSE_LOG_LEVEL (or MICROPULSE_API_LOG_LEVEL; default INFO), and structlog's own
    loggers routed to it. Calling it again replaces the handler it added, so the format
    can be switched."""
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_PRE_CHAIN[:-1],
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=True)
    root = logging.getLogger("micropulse")
    for handler in list(root.handlers):
        if getattr(handler, "_micropulse", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._micropulse = True     # type: ignore[attr-defined]
    handler.setFormatter(formatter(fmt or log_format()))
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("MICROPULSE_LOG_LEVEL")
                   or os.environ.get("MICROPULSE_API_LOG_LEVEL") or "INFO").upper())
    root.propagate = False


def event(name: str, message: str, **fields) -> None:
    """Log an engine event (`event` = name) with its fields."""
    log.info(message, extra={"event": name, **fields})


# ---- metrics --------------------------------------------------------------------------------
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600)

# Every metric name /metrics exports (as exposed: counters with _total, histograms with
# _bucket/_sum/_count); the alert-rules test checks the sample rules use only these.
METRIC_NAMES = {
    "micropulse_http_requests_total": "counter",
    "micropulse_http_request_duration_seconds": "histogram",
    "micropulse_forecast_runs_total": "counter",
    "micropulse_forecast_run_duration_seconds": "histogram",
    "micropulse_forecast_run_series": "histogram",
    "micropulse_ingest_rows_total": "counter",
    "micropulse_alerts_raised_total": "counter",
    "micropulse_live_accuracy_scorings_total": "counter",
    # read from the warehouse at scrape time
    "micropulse_forecast_last_run_series": "gauge",
    "micropulse_forecast_last_run_duration_seconds": "gauge",
    "micropulse_forecast_last_run_timestamp_seconds": "gauge",
    "micropulse_routing_share": "gauge",
    "micropulse_live_wape_percent": "gauge",
    "micropulse_live_bias_percent": "gauge",
    "micropulse_live_coverage80_percent": "gauge",
    "micropulse_live_coverage95_percent": "gauge",
    "micropulse_live_backtest_wape_percent": "gauge",
    "micropulse_live_drift": "gauge",
    "micropulse_live_periods_covered": "gauge",
    "micropulse_alerts": "gauge",
    "micropulse_stored_ingest_rows": "gauge",
    "micropulse_sales_newest_date_timestamp_seconds": "gauge",
    "micropulse_sales_age_days": "gauge",
}

_lock = threading.Lock()
_metrics: dict | None = None


def _prom():
    try:
        import prometheus_client
    except ImportError:      # metrics are optional; logs are not
        return None
    return prometheus_client


def metrics() -> dict | None:
    """The process's metric objects (created once, on the default registry), or None
    without prometheus_client."""
    global _metrics
    if _metrics is not None:
        return _metrics
    prom = _prom()
    if prom is None:
        return None
    with _lock:
        if _metrics is None:
            m = {
                "requests": prom.Counter("micropulse_http_requests",
                                         "API requests by route template, method and status",
                                         ["route", "method", "status"]),
                "latency": prom.Histogram("micropulse_http_request_duration_seconds",
                                          "API request latency by route template, method "
                                          "and status", ["route", "method", "status"],
                                          buckets=LATENCY_BUCKETS),
                "runs": prom.Counter("micropulse_forecast_runs",
                                     "Forecast and backtest runs stored by this process",
                                     ["kind", "grain"]),
                "run_seconds": prom.Histogram("micropulse_forecast_run_duration_seconds",
                                              "Wall time of forecast runs stored by this "
                                              "process", ["kind", "grain"],
                                              buckets=RUN_BUCKETS),
                "run_series": prom.Histogram("micropulse_forecast_run_series",
                                             "Series per forecast run stored by this process",
                                             ["kind"], buckets=(10, 100, 1_000, 10_000,
                                                                100_000, 1_000_000)),
                "ingest_rows": prom.Counter("micropulse_ingest_rows",
                                            "Upload rows by kind and outcome (loaded, "
                                            "quarantined, duplicate, blank, total_row), "
                                            "this process", ["kind", "outcome"]),
                "alerts": prom.Counter("micropulse_alerts_raised",
                                       "New alerts raised by rule, this process", ["rule"]),
                "live": prom.Counter("micropulse_live_accuracy_scorings",
                                     "Forecast runs scored against arrived actuals, this "
                                     "process"),
            }
            _metrics = m
    return _metrics


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    m = metrics()
    if m is not None:
        labels = (route, method, str(status))
        m["requests"].labels(*labels).inc()
        m["latency"].labels(*labels).observe(seconds)


def forecast_run_stored(run: dict) -> None:
    """After a run is stored (engine/warehouse/forecasts.write_run; engine/forecast/pipeline.py
    calls this)."""
    timings = run.get("timings") or {}
    seconds = timings.get("total") if isinstance(timings, dict) else None
    kind, grain = str(run.get("kind")), str(run.get("grain") or "D")
    m = metrics()
    if m is not None:
        m["runs"].labels(kind, grain).inc()
        if seconds is not None:
            m["run_seconds"].labels(kind, grain).observe(float(seconds))
        if run.get("n_series") is not None:
            m["run_series"].labels(kind).observe(float(run["n_series"]))
    event(f"{kind}_run_finished", f"{kind} run {run.get('run_id')} stored",
          run_id=run.get("run_id"), kind=kind, grain=grain, n_series=run.get("n_series"),
          horizon=run.get("horizon"), seconds=seconds)


def upload_loaded(result) -> None:
    """After an upload (engine/ingest/load.ingest_file), loaded or a duplicate file."""
    counts = {"loaded": result.rows_loaded, "quarantined": result.rows_quarantined,
              "duplicate": result.duplicates_skipped, "blank": result.blank_lines,
              "total_row": result.total_rows}
    m = metrics()
    if m is not None:
        for outcome, n in counts.items():
            if n:
                m["ingest_rows"].labels(result.kind, outcome).inc(n)
    event("upload_loaded", f"{result.kind} upload {result.batch_id}: {result.status}",
          batch_id=result.batch_id, kind=result.kind, status=result.status,
          rows_read=result.rows_read, **{f"rows_{k}": v for k, v in counts.items()})


def alerts_raised(inserted: dict) -> None:
    m = metrics()
    if m is not None:
        for rule, n in inserted.items():
            if n:
                m["alerts"].labels(rule).inc(n)
    if any(inserted.values()):
        event("alerts_raised", f"{sum(inserted.values())} new alert(s)",
              new_alerts={k: v for k, v in inserted.items() if v})


def live_scored(runs: int, through) -> None:
    m = metrics()
    if m is not None:
        m["live"].inc(runs)
    event("live_accuracy_scored", f"{runs} forecast run(s) scored against actuals",
          runs=runs, through=str(through))


class WarehouseCollector:
    """Gauges read from the warehouse at scrape time, cached per data version (a scrape
    between writes reads nothing)."""

    def __init__(self, wh):
        self.wh = wh
        self._cache: tuple[str, list] | None = None

    def collect(self):
        version = self.wh.data_version()
        if self._cache is None or self._cache[0] != version:
            self._cache = (version, self._families())
        families = list(self._cache[1])
        families.extend(self._age_families())    # age moves with the clock
        return families

    def describe(self):
        return []

    def _families(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        from engine.warehouse.accuracy import newest_live_scores
        from engine.warehouse.alerts import alert_counts
        from engine.warehouse.forecasts import routing_shares
        from engine.warehouse.ingest_batches import ingest_rows
        from engine.warehouse.runs import latest_forecast_run
        from engine.warehouse.sales import last_sales_date

        wh, out = self.wh, []
        run = latest_forecast_run(wh)
        series = GaugeMetricFamily("micropulse_forecast_last_run_series",
                                   "Series in the latest stored forecast run")
        seconds = GaugeMetricFamily("micropulse_forecast_last_run_duration_seconds",
                                    "Wall time of the latest stored forecast run")
        stamp = GaugeMetricFamily("micropulse_forecast_last_run_timestamp_seconds",
                                  "When the latest stored forecast run was made (Unix time)")
        share = GaugeMetricFamily("micropulse_routing_share",
                                  "Share of the latest run's series routed to each model or "
                                  "mix", labels=["model"])
        if run is not None:
            series.add_metric([], float(run["n_series"] or 0))
            total = run["timings"].get("total")
            if isinstance(total, (int, float)):
                seconds.add_metric([], float(total))
            stamp.add_metric([], _epoch(run["created_at"]))
            for r in routing_shares(wh, run["run_id"]).itertuples(index=False):
                share.add_metric([str(r.model)], float(r.share))
        out += [series, seconds, stamp, share]

        live = newest_live_scores(wh)
        names = {"wape": ("micropulse_live_wape_percent", "Live WAPE % of the newest scored "
                                                          "forecast run"),
                 "bias_pct": ("micropulse_live_bias_percent", "Live bias % (> 0 = over-"
                                                              "forecast)"),
                 "coverage80": ("micropulse_live_coverage80_percent",
                                "Share of actuals inside the 80% interval"),
                 "coverage95": ("micropulse_live_coverage95_percent",
                                "Share of actuals inside the 95% interval"),
                 "backtest_wape": ("micropulse_live_backtest_wape_percent",
                                   "The run's own backtest WAPE % on the same group"),
                 "periods_covered": ("micropulse_live_periods_covered",
                                     "Horizon periods of the run that have actuals")}
        fams = {k: GaugeMetricFamily(n, h, labels=["category"]) for k, (n, h) in names.items()}
        drift = GaugeMetricFamily("micropulse_live_drift", "1 when live WAPE is well above "
                                  "the backtest's (MICROPULSE_DRIFT_RATIO / _MIN_POINTS)",
                                  labels=["category"])
        if len(live):
            from engine.forecast.live import DriftRule

            rule = DriftRule.from_env()
            for r in live.itertuples(index=False):
                label = "all" if r.dimension == "all" else str(r.grp)
                for key, fam in fams.items():
                    value = getattr(r, key)
                    if value is not None and value == value:
                        fam.add_metric([label], float(value))
                drift.add_metric([label], 1.0 if rule.drifting(r.wape, r.backtest_wape) else 0.0)
        out += [*fams.values(), drift]

        alerts = GaugeMetricFamily("micropulse_alerts", "Stored alerts by rule and status",
                                   labels=["rule", "status"])
        for r in alert_counts(wh).itertuples(index=False):
            alerts.add_metric([str(r.rule), str(r.status)], float(r.n))
        rows = GaugeMetricFamily("micropulse_stored_ingest_rows",
                                 "Rows of every stored upload by kind and outcome",
                                 labels=["kind", "outcome"])
        for r in ingest_rows(wh).itertuples(index=False):
            for outcome in ("read", "loaded", "quarantined", "duplicate"):
                value = getattr(r, outcome)
                rows.add_metric([str(r.kind), outcome], float(0 if value != value or
                                                              value is None else value))
        out += [alerts, rows]
        newest = last_sales_date(wh)
        self._newest = newest
        return out

    def _age_families(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        newest = getattr(self, "_newest", None)
        stamp = GaugeMetricFamily("micropulse_sales_newest_date_timestamp_seconds",
                                  "The newest sales date in the warehouse (Unix time)")
        age = GaugeMetricFamily("micropulse_sales_age_days",
                                "Days from the newest sales date to today")
        if newest is not None:
            stamp.add_metric([], _epoch(newest))
            age.add_metric([], float((datetime.now().date() - newest.date()).days))
        return [stamp, age]


def _epoch(value) -> float:
    import pandas as pd

    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(datetime.now().astimezone().tzinfo)
    return float(ts.timestamp())


def render(wh=None) -> tuple[bytes, str]:
    """(body, content type) of a scrape: this process's metrics, plus the warehouse's
    gauges when `wh` is given."""
    prom = _prom()
    if prom is None:
        return b"# prometheus_client is not installed\n", "text/plain; charset=utf-8"
    metrics()
    body = prom.generate_latest(prom.REGISTRY)
    if wh is not None:
        registry = prom.CollectorRegistry(auto_describe=False)
        registry.register(_collector_for(wh))
        body += prom.generate_latest(registry)
    return body, prom.CONTENT_TYPE_LATEST


_collectors: dict[int, WarehouseCollector] = {}


def _collector_for(wh) -> WarehouseCollector:
    with _lock:
        found = _collectors.get(id(wh))
        if found is None or found.wh is not wh:
            found = _collectors[id(wh)] = WarehouseCollector(wh)
            while len(_collectors) > 8:
                _collectors.pop(next(iter(_collectors)))
        return found


def serve_metrics(wh, port: int, addr: str = "127.0.0.1"):
    """Serve this process's /metrics (with the warehouse's gauges) on addr:port, for the
    app when MICROPULSE_METRICS_PORT is set. Loopback only by default."""
    prom = _prom()
    if prom is None:
        return None
    metrics()

    class _Both:
        def collect(self):
            yield from prom.REGISTRY.collect()
            yield from _collector_for(wh).collect()

    registry = prom.CollectorRegistry(auto_describe=False)
    registry.register(_Both())
    return prom.start_http_server(port, addr=addr, registry=registry)

