"""Upload history (`ingest_batches`, `quarantine`): list batches, read their quarantine,
data-quality figures, rollback, when the newest sales arrived, and the row counts `/metrics`
exports."""
from __future__ import annotations

import json

import pandas as pd

from engine.ingest.errors import BatchNotFoundError, RollbackError
from engine.warehouse.db import Warehouse
from engine.warehouse.ingest_store import UNCATEGORISED, refresh_sales_daily
from engine.warehouse.sql import table_columns


def list_batches(wh: Warehouse, limit: int = 200) -> pd.DataFrame:
    """Uploads, newest first, with all six counts (rows_read = rows_loaded +
    rows_quarantined + duplicates_skipped + blank_lines + total_rows; the last two live in
    the batch report, 0 for uploads made before they were counted)."""
    return wh.query(
        "SELECT batch_id, kind, file_name, grain, rows_read, rows_loaded, rows_quarantined, "
        "duplicates_skipped, "
        "coalesce(TRY_CAST(json_extract_string(report, '$.blank_lines') AS BIGINT), 0) "
        "AS blank_lines, "
        "coalesce(TRY_CAST(json_extract_string(report, '$.total_rows') AS BIGINT), 0) "
        "AS total_rows, created_by, created_at, status, sha256 FROM ingest_batches "
        "ORDER BY created_at DESC LIMIT ?", [int(limit)])


def get_batch(wh: Warehouse, batch_id: str) -> dict:
    df = wh.query("SELECT * FROM ingest_batches WHERE batch_id = ?", [batch_id])
    if df.empty:
        raise BatchNotFoundError(f"There is no upload with batch id '{batch_id}'.")
    row = df.iloc[0].to_dict()
    for key in ("report", "mapping"):
        try:
            row[key] = json.loads(row[key]) if row.get(key) else {}
        except (TypeError, ValueError):
            row[key] = {}
    return row


def quarantine_rows(wh: Warehouse, batch_id: str | None = None,
                    reason_codes: list[str] | None = None, limit: int = 100_000) -> pd.DataFrame:
    """Quarantined rows with their batch's file name, newest batch first."""
    where, params = ["TRUE"], []
    if batch_id:
        where.append("q.batch_id = ?")
        params.append(batch_id)
    if reason_codes:
        where.append("list_contains(?, q.reason_code)")
        params.append(list(reason_codes))
    params.append(int(limit))
    return wh.query(
        "SELECT q.batch_id, b.file_name, q.line_no, q.reason_code, q.reason, q.raw "
        "FROM quarantine q LEFT JOIN ingest_batches b USING (batch_id) "
        f"WHERE {' AND '.join(where)} ORDER BY b.created_at DESC, q.batch_id, q.line_no "
        "LIMIT ?", params)


def reason_counts(wh: Warehouse, batch_id: str | None = None) -> pd.DataFrame:
    return wh.query("SELECT reason_code, count(*) AS rows FROM quarantine "
                    "WHERE ? IS NULL OR batch_id = ? GROUP BY 1 ORDER BY 2 DESC",
                    [batch_id, batch_id])


def batch_daily_series(wh: Warehouse, batch_id: str) -> pd.DataFrame:
    """The batch's sales per sku x pin x date (summed), with the SKU's category."""
    return wh.query(
        "SELECT s.sku_id, s.pin_code, s.date, sum(s.quantity) AS quantity, "
        "any_value(k.category) AS category FROM sales s LEFT JOIN skus k USING (sku_id) "
        "WHERE s.batch_id = ? GROUP BY 1, 2, 3", [batch_id])


def quality_figures(wh: Warehouse, batch_id: str, z_limit: float = 3.5,
                    max_outliers: int = 500) -> dict[str, pd.DataFrame]:
    """Data-quality figures for a sales batch, computed in DuckDB:
    series (per sku x pin: first/last date, days present, days missing within its span),
    outliers (days whose robust z-score |x - median| / (1.4826 * MAD) > z_limit),
    coverage (rows and series per PIN and per category)."""
    step = "7" if (get_batch(wh, batch_id).get("grain") == "weekly") else "1"
    daily = ("SELECT s.sku_id, s.pin_code, s.date, sum(s.quantity) AS quantity, "
             "coalesce(any_value(k.category), ?) AS category FROM sales s LEFT JOIN skus k "
             "USING (sku_id) WHERE s.batch_id = ? GROUP BY 1, 2, 3")
    p = [UNCATEGORISED, batch_id]
    series = wh.query(
        f"SELECT sku_id, pin_code, any_value(category) AS category, min(date) AS first_date, "
        f"max(date) AS last_date, count(*) AS periods_present, "
        f"CAST((max(date) - min(date)) / {step} AS BIGINT) + 1 - count(*) AS periods_missing "
        f"FROM ({daily}) GROUP BY 1, 2 ORDER BY periods_missing DESC, sku_id, pin_code", p)
    outliers = wh.query(
        f"WITH d AS ({daily}), m AS (SELECT sku_id, pin_code, median(quantity) AS med "
        f"FROM d GROUP BY 1, 2), s AS (SELECT d.sku_id, d.pin_code, "
        f"median(abs(d.quantity - m.med)) AS mad FROM d JOIN m USING (sku_id, pin_code) "
        f"GROUP BY 1, 2), a AS (SELECT d.*, m.med, s.mad FROM d JOIN m USING (sku_id, "
        f"pin_code) JOIN s USING (sku_id, pin_code)) "
        f"SELECT sku_id, pin_code, date, quantity, med AS series_median, "
        f"(quantity - med) / (1.4826 * mad) AS robust_z FROM a WHERE mad > 0 AND "
        f"abs(quantity - med) / (1.4826 * mad) > ? "
        f"ORDER BY abs(quantity - med) / (1.4826 * mad) DESC LIMIT ?",
        p + [float(z_limit), int(max_outliers)])
    by_pin = wh.query(f"SELECT pin_code, count(*) AS periods, count(DISTINCT sku_id) AS skus, "
                      f"sum(quantity) AS quantity FROM ({daily}) GROUP BY 1 ORDER BY 4 DESC", p)
    by_category = wh.query(
        f"SELECT category, count(*) AS periods, count(DISTINCT (sku_id, pin_code)) AS series, "
        f"sum(quantity) AS quantity FROM ({daily}) GROUP BY 1 ORDER BY 4 DESC", p)
    return {"series": series, "outliers": outliers, "by_pin": by_pin,
            "by_category": by_category}


def rollback_batch(wh: Warehouse, batch_id: str, user: str | None = None) -> dict:
    """Delete everything a batch loaded and restore what it replaced, in one transaction.
    Returns counts of what was removed/restored."""
    batch = get_batch(wh, batch_id)
    if batch["status"] != "loaded":
        raise RollbackError(f"Upload '{batch_id}' ({batch.get('file_name')}) is "
                            f"'{batch['status']}', so there is nothing to roll back.")
    kind = batch["kind"]
    out = {"batch_id": batch_id, "kind": kind}
    with wh.transaction() as cur:       # rare; may touch the catalog too: bump every domain
        cur.execute("DROP TABLE IF EXISTS ingest_keys")
        if kind == "sales":
            cur.execute("CREATE TEMP TABLE ingest_keys AS SELECT DISTINCT sku_id, pin_code, "
                        "date FROM sales WHERE batch_id = ?", [batch_id])
            out["rows_deleted"] = cur.execute("DELETE FROM sales WHERE batch_id = ?",
                                              [batch_id]).fetchone()[0]
            refresh_sales_daily(cur)
            cur.execute("DROP TABLE ingest_keys")
        elif kind == "mandi":
            out["rows_deleted"] = cur.execute("DELETE FROM mandi_prices WHERE batch_id = ?",
                                              [batch_id]).fetchone()[0]
        elif kind == "plan":         # its version disappears; its number is never reused
            out["rows_deleted"] = cur.execute("DELETE FROM plan_rows WHERE batch_id = ?",
                                              [batch_id]).fetchone()[0]
        elif kind == "competitor":    # remembered match decisions stay (they are the user's)
            out["rows_deleted"] = cur.execute("DELETE FROM competitor_prices WHERE batch_id = ?",
                                              [batch_id]).fetchone()[0]
        elif kind == "inventory":
            out["rows_deleted"] = cur.execute("DELETE FROM inventory WHERE batch_id = ?",
                                              [batch_id]).fetchone()[0]
            stored = ", ".join(table_columns(cur, "inventory"))
            out["rows_restored"] = cur.execute(
                f"INSERT INTO inventory ({stored}) SELECT {stored} FROM "
                "ingest_prior_inventory p WHERE replaced_by = ? AND existed AND NOT EXISTS "
                "(SELECT 1 FROM inventory i WHERE i.sku_id = p.sku_id AND "
                "i.pin_code = p.pin_code)", [batch_id]).fetchone()[0]
        elif kind == "catalog":
            out["rows_deleted"] = cur.execute(
                "DELETE FROM skus WHERE sku_id IN (SELECT sku_id FROM ingest_prior_skus "
                "WHERE replaced_by = ?)", [batch_id]).fetchone()[0]
            stored = ", ".join(table_columns(cur, "skus"))
            out["rows_restored"] = cur.execute(
                f"INSERT INTO skus ({stored}) SELECT {stored} FROM "
                "ingest_prior_skus WHERE replaced_by = ? AND existed", [batch_id]).fetchone()[0]
        # SKUs this batch created that nothing refers to any more go; SKUs still used by
        # other data (and any a catalog rollback removed) stay/return as 'Uncategorised'.
        cur.execute("DELETE FROM skus WHERE sku_id IN (SELECT sku_id FROM ingest_created_skus "
                    "WHERE batch_id = ?) AND sku_id NOT IN (SELECT sku_id FROM sales) AND "
                    "sku_id NOT IN (SELECT sku_id FROM inventory)", [batch_id])
        cur.execute("INSERT INTO skus (sku_id, category) SELECT DISTINCT sku_id, ? FROM "
                    "(SELECT sku_id FROM sales UNION SELECT sku_id FROM inventory) u "
                    "WHERE sku_id NOT IN (SELECT sku_id FROM skus)", [UNCATEGORISED])
        cur.execute("UPDATE ingest_batches SET status = 'rolled_back' WHERE batch_id = ?",
                    [batch_id])
        wh.audit(cur, user, "ingest_rollback", json.dumps(out, default=str))
    return out


def newest_sales_arrival(wh: Warehouse, latest):
    """When the newest sales (dated `latest` or later) were uploaded: the creation time of
    the first loaded sales upload whose dates reach `latest`, or None (sales that did not
    come through an upload, e.g. the demo seed)."""
    return wh.scalar("""
        SELECT min(created_at) FROM ingest_batches
        WHERE kind = 'sales' AND status = 'loaded'
          AND TRY_CAST(json_extract_string(report, '$.date_max') AS DATE) >= ?""", [latest])


def ingest_rows(wh: Warehouse) -> pd.DataFrame:
    """Rows of every stored upload by kind: read, loaded, quarantined, duplicate."""
    return wh.query("SELECT kind, sum(rows_read) AS read, sum(rows_loaded) AS loaded, "
                    "sum(rows_quarantined) AS quarantined, "
                    "sum(duplicates_skipped) AS duplicate FROM ingest_batches GROUP BY kind "
                    "ORDER BY kind")
