"""Reading the uploaded price and promotion plans (`plan_rows`), one function per question.

Every loaded plan upload is a version (1, 2, ...); all versions stay stored. Overlaps are
resolved by whoever uses the plan (the forecast engine): the newest version wins for a
SKU x PIN x day, and within a version the most specific row (SKU over category; PIN over
city over state over every place). On a store user's scoped handle (scoped.py) only rows
for their PIN codes, their cities or states, or every place are visible.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from engine.warehouse.db import Warehouse

PLAN_COLUMNS = ("batch_id", "plan_version", "row_no", "sku_id", "category", "pin_code", "city",
                "state", "date_from", "date_to", "price", "discount_pct", "promo_type", "note")


def latest_plan_version(wh: Warehouse) -> int | None:
    """The newest stored plan version, or None when no plan is loaded."""
    v = wh.scalar("SELECT max(plan_version) FROM plan_rows")
    return None if v is None else int(v)


def plan_rows(wh: Warehouse, version: int | None = None) -> pd.DataFrame:
    """Every stored plan row of versions up to `version` (None: all versions), sorted by
    plan_version, row_no. Columns PLAN_COLUMNS; date_from / date_to are datetime64[ns],
    plan_version / row_no int64, price / discount_pct float64 (NaN when not given), the
    rest text (None when not given)."""
    df = wh.query(f"SELECT {', '.join(PLAN_COLUMNS)} FROM plan_rows "
                  "WHERE CAST(? AS BIGINT) IS NULL OR plan_version <= CAST(? AS BIGINT) "
                  "ORDER BY plan_version, row_no",
                  [version, version])
    return df.astype({"plan_version": "int64", "row_no": "int64", "price": "float64",
                      "discount_pct": "float64", "date_from": "datetime64[ns]",
                      "date_to": "datetime64[ns]"})


def plan_versions(wh: Warehouse) -> pd.DataFrame:
    """One row per stored plan version, newest first: plan_version, batch_id, file_name,
    created_at, created_by, rows, date_from (earliest day), date_to (latest day), skus
    (SKUs the version covers: named, or in a named category)."""
    df = wh.query(
        "WITH p AS (SELECT plan_version, any_value(batch_id) AS batch_id, count(*) AS rows, "
        "min(date_from) AS date_from, max(date_to) AS date_to FROM plan_rows GROUP BY 1), "
        "covered AS (SELECT DISTINCT r.plan_version, coalesce(r.sku_id, k.sku_id) AS sku_id "
        "FROM plan_rows r LEFT JOIN skus k ON r.sku_id IS NULL AND k.category = r.category) "
        "SELECT p.plan_version, p.batch_id, b.file_name, b.created_at, b.created_by, p.rows, "
        "p.date_from, p.date_to, (SELECT count(sku_id) FROM covered c "
        "WHERE c.plan_version = p.plan_version) AS skus "
        "FROM p LEFT JOIN ingest_batches b USING (batch_id) ORDER BY p.plan_version DESC")
    return df.astype({"plan_version": "int64", "rows": "int64", "skus": "int64",
                      "created_at": "datetime64[ns]", "date_from": "datetime64[ns]",
                      "date_to": "datetime64[ns]"})
