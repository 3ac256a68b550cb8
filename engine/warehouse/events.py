"""Sales events (POST /v1/sales/events): which event ids the warehouse has seen, what
became of them, and the totals of every event batch.

Each micro-batch of events is one upload batch (`ingest_batches` row, kind 'sales', file
name EVENTS_FILE): its good events are `sales` rows whose transaction_id is the event id,
its rejected events `quarantine` rows with their reason, and every event id it loaded or
rejected a `sales_events` row - all written in the batch's one transaction
(engine/warehouse/ingest_store.load_batch with `within=EventBatchWriter(...)`). So after a
crash an event is either fully there (loaded or rejected, and its id seen) or not at all,
and a retry of a seen id is a duplicate however often it comes back.
"""
from __future__ import annotations

from datetime import datetime

from engine.warehouse.db import Warehouse
from engine.warehouse.ingest_report import insert_quarantined
from engine.warehouse.ingest_sql import v

EVENTS_FILE = "sales-events.ndjson"


def seen_ids(wh: Warehouse, event_ids: list[str]) -> set[str]:
    """The ids among `event_ids` that an earlier batch loaded or rejected."""
    if not event_ids:
        return set()
    cur = wh.cursor()
    try:
        rows = cur.execute("SELECT event_id FROM sales_events WHERE event_id IN "
                           "(SELECT unnest(?::VARCHAR[]))", [list(event_ids)]).fetchall()
    finally:
        cur.close()
    return {r[0] for r in rows}


class EventBatchWriter:
    """The `within` step of an event batch (load_batch runs it in the batch's transaction):
    quarantine the events rejected before staging (`pre_rejected`: line, event id, code,
    reason, raw JSON), write every loaded or rejected event id to sales_events, read what
    became of each staged event into `outcomes` (line -> (outcome, reason code, reason)),
    and return the counts the batch adds: those events and the `duplicates` set aside
    before staging. `staged`: how many events went through the upload validation."""

    def __init__(self, pre_rejected: list[tuple[int, str | None, str, str, str]],
                 duplicates: int, staged: int):
        self.pre_rejected, self.duplicates, self.staged = pre_rejected, duplicates, staged
        self.outcomes: dict[int, tuple[str, str | None, str | None]] = {}

    def __call__(self, cur, bid: str) -> dict:
        by_code: dict[str, list] = {}
        for line, _eid, code, reason, raw in self.pre_rejected:
            by_code.setdefault(code, []).append((line, reason, raw))
        for code, rows in by_code.items():
            insert_quarantined(cur, bid, [r[0] for r in rows], code, [r[1] for r in rows],
                     [r[2] for r in rows])
        now = datetime.now()
        ids = [eid for _line, eid, *_ in self.pre_rejected if eid]
        if ids:
            cur.execute("INSERT INTO sales_events SELECT unnest(?::VARCHAR[]), ?, 'rejected', ?",
                        [ids, bid, now])
        if self.staged:
            tid = v("transaction_id")
            cur.execute("DROP TABLE IF EXISTS events_outcome")
            cur.execute(
                "CREATE TEMP TABLE events_outcome AS SELECT s.__mp_line AS line, "
                f"s.{tid} AS event_id, CASE WHEN s.__mp_reason IS NOT NULL THEN 'rejected' "
                "WHEN l.transaction_id IS NOT NULL THEN 'loaded' ELSE 'duplicate' END AS outcome "
                "FROM ingest_stage s LEFT JOIN (SELECT DISTINCT transaction_id FROM sales "
                f"WHERE batch_id = ?) l ON l.transaction_id = s.{tid}", [bid])
            cur.execute("INSERT INTO sales_events SELECT event_id, ?, outcome, ? FROM "
                        "events_outcome WHERE event_id IS NOT NULL", [bid, now])
            rows = cur.execute(
                "SELECT o.line, o.outcome, q.reason_code, q.reason FROM events_outcome o "
                "LEFT JOIN quarantine q ON o.outcome = 'rejected' AND q.batch_id = ? "
                "AND q.line_no = o.line", [bid]).fetchall()
            cur.execute("DROP TABLE events_outcome")
            self.outcomes = {int(r[0]): (r[1], r[2], r[3]) for r in rows}
        return {"rows_read": len(self.pre_rejected) + self.duplicates,
                "rows_quarantined": len(self.pre_rejected),
                "duplicates_skipped": self.duplicates}


def totals(wh: Warehouse) -> dict:
    """Every event batch's counts added up: received (= loaded + rejected + duplicates;
    rejected counts every event neither loaded nor a duplicate), loaded, rejected,
    duplicates, batches, last_batch_at."""
    row = wh.query(
        "SELECT count(*) AS batches, coalesce(sum(rows_read), 0) AS received, "
        "coalesce(sum(rows_loaded), 0) AS loaded, coalesce(sum(rows_read - rows_loaded - "
        "duplicates_skipped), 0) AS rejected, "
        "coalesce(sum(duplicates_skipped), 0) AS duplicates, max(created_at) AS last_batch_at "
        "FROM ingest_batches WHERE kind = 'sales' AND file_name = ? AND status = 'loaded'",
        [EVENTS_FILE]).iloc[0]
    return {k: (int(row[k]) if k != "last_batch_at" else row[k]) for k in row.index}
