"""SQL behind the REST API (`api/`): service-account API keys and the fast per-series reads
the forecast endpoints serve from stored runs.

API keys are stored only as SHA-256 hashes of their secret part (`api_keys.key_hash`); the
plain key is shown once, when it is issued. Key writes, like sign-in writes in
`auth_store`, run in small transactions that do NOT bump the data version (a new key
changes no analytic data), each with its audit row.
"""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from engine.warehouse.db import Warehouse


def _write(wh: Warehouse):
    """A small transaction that leaves the data version alone (no page caches API keys)."""
    return wh.transaction(touches=(), what="API keys")


# ---- API keys ---------------------------------------------------------------------------------
def insert_api_key(wh: Warehouse, key_id: str, key_hash: str, username: str,
                   actor: str | None) -> None:
    with _write(wh) as cur:
        cur.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, FALSE)",
                    [key_id, key_hash, username, datetime.now()])
        wh.audit(cur, actor, "api_key.create", {"key_id": key_id, "username": username})


def get_api_key(wh: Warehouse, key_id: str) -> dict | None:
    df = wh.query("SELECT key_id, key_hash, username, created_at, revoked FROM api_keys "
                  "WHERE key_id = ?", [key_id])
    return None if df.empty else df.iloc[0].to_dict()


def revoke_api_key(wh: Warehouse, key_id: str, actor: str | None) -> bool:
    """Mark a key revoked; False when no such key exists."""
    with _write(wh) as cur:
        n = cur.execute("SELECT count(*) FROM api_keys WHERE key_id = ?", [key_id]).fetchone()[0]
        if not n:
            return False
        cur.execute("UPDATE api_keys SET revoked = TRUE WHERE key_id = ?", [key_id])
        wh.audit(cur, actor, "api_key.revoke", {"key_id": key_id})
    return True


def list_api_keys(wh: Warehouse) -> pd.DataFrame:
    """Every key without its hash, newest first."""
    return wh.query("SELECT key_id, username, created_at, revoked FROM api_keys "
                    "ORDER BY created_at DESC, key_id")


# ---- forecast reads for the API ---------------------------------------------------------------
def _pairs_join(alias: str) -> str:
    return (f"JOIN (SELECT unnest(?::VARCHAR[]) AS sku_id, unnest(?::VARCHAR[]) AS pin_code) q "
            f"ON q.sku_id = {alias}.sku_id AND q.pin_code = {alias}.pin_code")


def series_forecasts(wh: Warehouse, run_id: str, pairs: list[tuple[str, str]],
                     horizon: int) -> dict[tuple[str, str], list[tuple]]:
    """The first `horizon` stored rows of each (sku_id, pin_code) in `pairs` for a run, as
    {(sku_id, pin_code): [(date, forecast, lo, hi, model), ...]} in date order (plain
    tuples; dates as ISO strings). Goes through `wh.query`, so a ScopedWarehouse applies
    its PIN scope with its prepared per-thread cursor."""
    skus, pins = [p[0] for p in pairs], [p[1] for p in pairs]
    rows = wh.query(f"""
            SELECT sku_id, pin_code, CAST(date AS VARCHAR) AS date, forecast, lo, hi, model
            FROM (
                SELECT f.sku_id, f.pin_code, f.date, f.forecast, f.lo, f.hi, f.model,
                       row_number() OVER (PARTITION BY f.sku_id, f.pin_code
                                          ORDER BY f.date) AS k
                FROM forecasts f {_pairs_join("f")}
                WHERE f.run_id = ?)
            WHERE k <= ? ORDER BY sku_id, pin_code, date""",
                    [skus, pins, run_id, int(horizon)])
    out: dict[tuple[str, str], list[tuple]] = {}
    for sku, pin, day, fc, lo, hi, model in rows.itertuples(index=False, name=None):
        out.setdefault((sku, pin), []).append((day, fc, lo, hi, model))
    return out


def regular_prices(wh: Warehouse, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Per (sku_id, pin_code) in `pairs`: the last known regular price (else the last price
    paid) and the SKU's category (arg_max skips the days without a price)."""
    skus, pins = [p[0] for p in pairs], [p[1] for p in pairs]
    return wh.query(f"""
        SELECT s.sku_id, s.pin_code,
               arg_max(coalesce(s.regular_price, s.price), s.date) AS regular_price,
               any_value(k.category) AS category
        FROM sales_daily s {_pairs_join("s")}
        LEFT JOIN skus k ON k.sku_id = s.sku_id
        GROUP BY 1, 2""", [skus, pins])


def accuracy_backtests(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """Point-level backtest rows of a run for the model each series' forecast used: the
    'routed' rows when the run routed per series, else the rows of the model stored in
    `forecasts` for that series."""
    return wh.query("""
        WITH routed AS (SELECT count(*) > 0 AS yes FROM backtests
                        WHERE run_id = ? AND model = 'routed'),
             used AS (SELECT DISTINCT sku_id, pin_code, model FROM forecasts WHERE run_id = ?)
        SELECT b.model, b.fold, b.sku_id, b.pin_code, b.date, b.step, b.actual, b.forecast,
               b.lo, b.hi, b.lo80, b.hi80
        FROM backtests b, routed
        WHERE b.run_id = ? AND (
            (routed.yes AND b.model = 'routed') OR
            (NOT routed.yes AND EXISTS (SELECT 1 FROM used u WHERE u.sku_id = b.sku_id
                                        AND u.pin_code = b.pin_code AND u.model = b.model)))
        """, [run_id, run_id, run_id])
