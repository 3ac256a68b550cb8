"""Real-time sales events: NDJSON in, micro-batches committed, every event accounted for.

    ingestor = EventIngestor(wh)                       # one per process and warehouse
    result = ingestor.ingest(body, user="pos-7", scope=None)
    result.received == result.loaded + result.rejected + result.duplicates

One event per line, a JSON object: `event_id` (or `idempotency_key`), `date` or
`timestamp`, `sku_id` (or `sku`), `pin_code` (or `pin`), `quantity` (or `units`), and
optionally `price`, `promo`, `store_id`... - any name an upload's column may have
(engine/ingest/mapping.py aliases). Events are validated by the upload rules themselves:
each micro-batch becomes one sales upload batch (engine/warehouse/ingest_store.load_batch
over the events as rows, the event id as the sale's transaction_id), so a rejected event
is in `quarantine` with the same reason a file's row would get. Before staging, a line
that is not a JSON object, an event without an id, an id seen before (in the warehouse or
earlier in the batch) and, for a store user, a PIN code outside their scope are set aside
with their reasons; they are quarantined (duplicates only counted) in the same transaction.

Micro-batches: `ingest` queues its events and waits; one committer thread per ingestor
takes up to MICROPULSE_EVENTS_BATCH events (default 20,000), waiting at most
MICROPULSE_EVENTS_WAIT_MS (default 50 ms) for more, and commits them in one transaction
(loaded rows, quarantine, event ids, batch record). The caller's answer comes after the
commit, so an acknowledged event is durable, and an event whose batch did not commit
(a crash) was never seen: sending it again loads it once. After a batch loads sales, live
accuracy is rescored and the drift alert checked, debounced (MICROPULSE_EVENTS_SCORE_S,
default 5 s, after the last batch, and at most 6 x that after the first unscored batch, so a
steady stream is scored every 30 s).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field

from pydantic_core import from_json

from engine.ingest.errors import IngestError
from engine.ingest.mapping import match_columns
from engine.warehouse.db import Warehouse, new_id

log = logging.getLogger("micropulse.engine.events")
ID_KEYS = ("event_id", "idempotency_key")
_ID_SET = frozenset(ID_KEYS)
MAX_ID_CHARS = 128
SCORE_MAX_WAIT = 6          # scoring waits at most 6 x MICROPULSE_EVENTS_SCORE_S in a stream


def _env_number(name: str, default: float, low: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= low else default


class EventsError(IngestError):
    """A request of events that cannot be taken at all (too large, not text)."""

    code = "bad_events"


@dataclass(slots=True)
class Event:
    """One line of a request: its line number there, its id, its fields (canonical names)
    or the reason it was set aside before staging. (Slots: one object per event, not two,
    for the garbage collector to track.)"""

    line: int
    raw: str
    event_id: str | None = None
    fields: dict | None = None
    pin_code: str | None = None
    reject: tuple[str, str] | None = None        # (code, reason)


@dataclass
class EventsResult:
    received: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0
    blank_lines: int = 0
    batches: list[str] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)     # line, event_id, code, reason
    ignored_fields: list[str] = field(default_factory=list)

    @property
    def reconciliation(self) -> str:
        return (f"{self.received:,} received = {self.loaded:,} loaded + {self.rejected:,} "
                f"rejected + {self.duplicates:,} duplicate{'s' if self.duplicates != 1 else ''}")

    def as_dict(self) -> dict:
        return {"received": self.received, "loaded": self.loaded, "rejected": self.rejected,
                "duplicates": self.duplicates, "blank_lines": self.blank_lines,
                "reconciliation": self.reconciliation, "batches": self.batches,
                "ignored_fields": self.ignored_fields, "rejects": self.rejects}


# ---- parsing ------------------------------------------------------------------------------
_KEY_CACHE: dict[tuple[str, ...], dict[str, str]] = {}


def _field_names(keys: tuple[str, ...]) -> dict[str, str]:
    """An event's keys -> sales field names (the upload's aliases), unknown keys kept."""
    names = _KEY_CACHE.get(keys)
    if names is None:
        mapping = match_columns("sales", list(keys), {k: "" for k in ID_KEYS if k in keys})
        by_source = {src: f for f, src in mapping.columns.items()}
        names = {k: by_source.get(k, k) for k in keys}
        if len(_KEY_CACHE) < 1024:
            _KEY_CACHE[keys] = names
    return names


def _text(value) -> str | None:
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:        # the common cells first (bool is not int here)
        return str(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def parse_events(body: bytes | str, scope: tuple[str, ...] | None = None
                 ) -> tuple[list[Event], int]:
    """(events, blank lines) of an NDJSON body. A line that is not a JSON object, has no
    event id, or (with a `scope`) names a PIN outside it, carries its `reject` reason."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EventsError(f"The events are not UTF-8 text (byte {exc.start + 1} cannot be "
                              "read): send one JSON object per line, UTF-8 encoded.") from exc
    events, blank = [], 0
    allowed = None if scope is None else set(scope)
    for n, line in enumerate(body.splitlines(), start=1):
        text = line.strip()
        if not text:
            blank += 1
            continue
        ev = Event(line=n, raw=text)
        events.append(ev)
        try:
            obj = from_json(text)       # pydantic's JSON parser (Rust): ~3x json.loads
        except ValueError:
            try:                        # what the standard library takes is taken (a lone
                obj = json.loads(text)  # surrogate escape), and its message names the fault
            except ValueError as exc:
                ev.reject = ("not_json", f"Line {n} is not JSON ({exc.msg} at character "
                                         f"{exc.pos + 1}): send one JSON object per line")
                continue
        if not isinstance(obj, dict):
            ev.reject = ("not_json", f"Line {n} is JSON but not an object ({type(obj).__name__})"
                                     ": each line must be one event {\"event_id\": ...}")
            continue
        eid = None
        for k in ID_KEYS:
            value = obj.get(k)
            if value is not None and value != "":
                eid = _text(value).strip()
                break
        if not eid:
            ev.reject = ("missing_event_id", f"Line {n} has no event_id (or idempotency_key): "
                                             "every event needs its own id, so a retry is "
                                             "never counted twice")
            continue
        if len(eid) > MAX_ID_CHARS:
            ev.reject = ("missing_event_id", f"Line {n}'s event_id is {len(eid)} characters "
                                             f"long; at most {MAX_ID_CHARS} are allowed")
            continue
        ev.event_id = eid
        names = _field_names(tuple(obj))
        ev.fields = {names[k]: _text(val) for k, val in obj.items() if k not in _ID_SET}
        ev.pin_code = (ev.fields.get("pin_code") or "").strip() or None
        if allowed is not None and ev.pin_code not in allowed:
            ev.reject = ("pin_out_of_scope",
                         f"Column 'pin_code' is not one of your PIN codes: "
                         f"'{ev.pin_code or ''}' (your account may post sales for "
                         f"{', '.join(sorted(allowed)) or 'no PIN code'} only)")
    return events, blank


# ---- committing one micro-batch -----------------------------------------------------------
@dataclass
class _Piece:
    """Part of one request's events, committed in one batch; `done` is set after it."""

    events: list[Event]
    user: str | None
    done: threading.Event = field(default_factory=threading.Event)
    outcomes: dict[int, tuple] = field(default_factory=dict)   # line -> (outcome, code, reason)
    batch_id: str | None = None
    ignored: list[str] = field(default_factory=list)
    error: Exception | None = None


_REQUIRED = ("sku_id", "pin_code", "date", "quantity")


def commit_batch(wh: Warehouse, pieces: list[_Piece]) -> dict:
    """Commit the events of `pieces` as one sales batch (one transaction) and fill each
    piece's outcomes. Returns load_batch's counts and report."""
    from engine.ingest.mapping import detect_mapping, fields
    from engine.pin_directory import known_pin_codes
    from engine.warehouse.events import EventBatchWriter, EVENTS_FILE, seen_ids
    from engine.warehouse.ingest_stage import StageSource
    from engine.warehouse.ingest_store import load_batch

    import pyarrow as pa

    order = [(p, ev) for p in pieces for ev in p.events]
    seen = seen_ids(wh, [ev.event_id for _, ev in order if ev.event_id])
    pre, dups, staged, outcomes = [], 0, [], {}
    in_batch: set[str] = set()
    for i, (piece, ev) in enumerate(order, start=1):
        if ev.event_id is not None and (ev.event_id in seen or ev.event_id in in_batch):
            dups += 1
            outcomes[i] = ("duplicate", None, None)
            continue
        if ev.event_id is not None:
            in_batch.add(ev.event_id)
        if ev.reject:
            code, reason = ev.reject
            pre.append((i, ev.event_id, code, reason, _raw_json(ev)))
            outcomes[i] = ("rejected", code, reason)
        else:
            staged.append((i, ev))
    key_sets = {tuple(ev.fields) for _, ev in staged}
    columns = list(dict.fromkeys(["event_id", *_REQUIRED, *(k for ks in key_sets for k in ks)]))
    # An Arrow table of text cells (DuckDB scans it without touching Python objects).
    frame = pa.table({**{c: pa.array([ev.event_id if c == "event_id" else ev.fields.get(c)
                                      for _, ev in staged], pa.string()) for c in columns},
                      "__mp_line": pa.array([i for i, _ in staged], pa.int64())})
    # Keys were matched to fields per event (_field_names); here each column is its own
    # field or ignored (named in the answer), and the event id is the transaction id. An
    # event's own bill number (transaction_id) is ignored: the event id takes its place.
    known = {f.name for f in fields("sales")} - {"transaction_id"}
    mapping = detect_mapping("sales", columns, {
        **{c: (c if c in known else "") for c in columns}, "event_id": "transaction_id"})
    ignored = list(mapping.ignored)
    users = sorted({p.user for p in pieces if p.user})
    batch = {"batch_id": new_id("b"), "file_name": EVENTS_FILE, "sha256": None,
             "created_by": ", ".join(users)[:200] or None,
             "mapping": json.dumps(mapping.columns)}
    stage = StageSource("frame", "", tuple(columns), frame=frame, padded=True)
    writer = EventBatchWriter(pre, dups, len(staged))
    out = load_batch(wh, stage, "sales", mapping, batch, known_pin_codes(), within=writer)
    outcomes.update(writer.outcomes)
    for piece in pieces:
        piece.batch_id, piece.ignored = out["batch_id"], ignored
    i = 0
    for piece in pieces:
        for ev in piece.events:
            i += 1
            piece.outcomes[ev.line] = outcomes.get(i, ("duplicate", None, None))
    _after_commit(wh, out, pieces)
    return out


def _raw_json(ev: Event) -> str:
    try:
        obj = json.loads(ev.raw)
        if isinstance(obj, dict):
            return json.dumps(obj)
    except ValueError:
        pass
    return json.dumps({"line": ev.raw[:2000]})


def _after_commit(wh: Warehouse, out: dict, pieces: list[_Piece]) -> None:
    """Metrics and log line of the batch, and one bus message per request part (to its
    poster) plus one for users who see every PIN (never raises)."""
    from engine import bus
    from engine.ingest.load import IngestResult
    from engine.telemetry import upload_loaded

    try:
        upload_loaded(IngestResult(
            out["batch_id"], "sales", "sales-events.ndjson", "", out["rows_read"],
            out["rows_loaded"], out["rows_quarantined"], out["duplicates_skipped"], "loaded",
            blank_lines=out["blank_lines"], total_rows=out["total_rows"]))
        for piece in pieces:
            counts = _count(piece)
            bus.publish("events_committed", {"batch_id": out["batch_id"], **counts},
                        audience=f"user:{piece.user}" if piece.user else "unscoped")
        bus.publish("ingest", {"batch_id": out["batch_id"], "kind": "sales_events",
                               "received": out["rows_read"], "loaded": out["rows_loaded"],
                               "rejected": out["rows_read"] - out["rows_loaded"]
                               - out["duplicates_skipped"],
                               "duplicates": out["duplicates_skipped"]}, audience="unscoped")
    except Exception as exc:  # noqa: BLE001 - the batch has committed
        log.warning("event batch %s committed; its notifications failed: %s",
                    out.get("batch_id"), exc)


def _count(piece: _Piece) -> dict:
    kinds = [o[0] for o in piece.outcomes.values()]
    return {"received": len(kinds), "loaded": kinds.count("loaded"),
            "rejected": kinds.count("rejected"), "duplicates": kinds.count("duplicate")}


# ---- the ingestor: queue, committer thread, debounced scoring ------------------------------
class EventIngestor:
    """Micro-batching committer for one warehouse (see the module doc)."""

    def __init__(self, wh: Warehouse, max_batch: int | None = None,
                 max_wait_ms: float | None = None, score_after_s: float | None = None):
        self.wh = wh
        self.max_batch = int(max_batch or _env_number("MICROPULSE_EVENTS_BATCH", 20000, 1))
        self.max_wait = (max_wait_ms if max_wait_ms is not None
                         else _env_number("MICROPULSE_EVENTS_WAIT_MS", 50, 0)) / 1000.0
        self.score_after = (score_after_s if score_after_s is not None
                            else _env_number("MICROPULSE_EVENTS_SCORE_S", 5, 0))
        self._queue: queue.Queue[_Piece | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._since: str | None = None          # earliest sales date loaded, not yet scored
        self._pending_since = 0.0               # when the first unscored batch committed
        self._timer: threading.Timer | None = None
        self._scoring = threading.Lock()        # held while a scoring run reads the warehouse
        self._closed = False
        self.batches = 0

    @property
    def pending(self) -> int:
        """Request parts waiting for their micro-batch."""
        return self._queue.qsize()

    def ingest(self, body: bytes | str, user: str | None = None,
               scope: tuple[str, ...] | None = None, timeout: float = 300.0) -> EventsResult:
        """Parse, queue and wait for the commit of every event of one request."""
        events, blank = parse_events(body, scope)
        pieces = [_Piece(events[i:i + self.max_batch], user)
                  for i in range(0, len(events), self.max_batch)]
        self._start()
        for piece in pieces:
            self._queue.put(piece)
        for piece in pieces:
            if not piece.done.wait(timeout):
                raise EventsError("The events were queued but not committed within "
                                  f"{timeout:.0f} s; send them again (ids already loaded "
                                  "count as duplicates, never twice).")
            if piece.error is not None:
                raise piece.error
        return self._result(events, pieces, blank)

    def _result(self, events: list[Event], pieces: list[_Piece], blank: int) -> EventsResult:
        res = EventsResult(received=len(events), blank_lines=blank)
        for piece in pieces:
            if piece.batch_id and piece.batch_id not in res.batches:
                res.batches.append(piece.batch_id)
            res.ignored_fields = sorted(set(res.ignored_fields) | set(piece.ignored))
            for ev in piece.events:
                outcome, code, reason = piece.outcomes[ev.line]
                if outcome == "loaded":
                    res.loaded += 1
                elif outcome == "duplicate":
                    res.duplicates += 1
                else:
                    res.rejected += 1
                    res.rejects.append({"line": ev.line, "event_id": ev.event_id,
                                        "code": code or "rejected", "reason": reason or ""})
        return res

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="mp-events",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            pieces, n = [first], len(first.events)
            deadline = time.monotonic() + self.max_wait
            while n < self.max_batch:
                left = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                if n + len(nxt.events) > self.max_batch:
                    self._commit(pieces)
                    pieces, n = [], 0
                pieces.append(nxt)
                n += len(nxt.events)
            if pieces:
                self._commit(pieces)

    def _commit(self, pieces: list[_Piece]) -> None:
        try:
            out = commit_batch(self.wh, pieces)
            self.batches += 1
            if out["rows_loaded"]:
                self._schedule_scoring(out["report"].get("date_min"))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting request
            for piece in pieces:
                piece.error = exc
        finally:
            for piece in pieces:
                piece.done.set()

    # debounced live scoring + drift alerts
    def _schedule_scoring(self, first: str | None) -> None:
        """Score `score_after` seconds after the last batch, but no later than
        SCORE_MAX_WAIT x that after the first unscored one (a steady stream of events
        would otherwise put it off for ever)."""
        if not first:
            return
        first = str(first)[:10]
        now = time.monotonic()
        with self._lock:
            if self._since is None:
                self._pending_since = now
            self._since = first if self._since is None else min(self._since, first)
            if self._timer is not None:
                self._timer.cancel()
            latest = self._pending_since + SCORE_MAX_WAIT * self.score_after
            self._timer = threading.Timer(max(min(self.score_after, latest - now), 0.0),
                                          self.score_now)
            self._timer.daemon = True
            self._timer.start()

    def score_now(self) -> dict | None:
        """Rescore live accuracy for the sales loaded since the last scoring and check the
        drift alert rule (what the debounce timer runs; tests call it to settle)."""
        with self._lock:
            since, self._since = self._since, None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if since is None:
            return None
        from engine.forecast.live import after_sales

        with self._scoring:
            if self._closed:    # closing: the next read of live accuracy refreshes it
                return None
            return after_sales(self.wh, since)

    def close(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        # a timer that already fired may be scoring now: wait for it, so the warehouse is
        # never closed under a running query
        with self._scoring:
            pass
