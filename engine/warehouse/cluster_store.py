"""Store clusters: the sales the clustering reads, and the stored result (`store_clusters`,
one row per PIN code of the latest clustering; its own data domain `clusters`).

The result belongs to the sales version it was computed on (`sales_version`, the sales
domain's version without the warehouse's path tag), so engine/intel/clusters.py can tell
when a sales write made it stale. On a PIN-scoped handle `store_clusters` is filtered
like every table with a `pin_code` (a store user reads only their PINs' rows); the
clustering itself reads and writes through the base warehouse, because clusters are
formed over every PIN code.
"""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.queries import run_query

COLUMNS = ["pin_code", "cluster", "cluster_name", "description", "n_pins", "k", "silhouette",
           "features", "selection", "sales_version", "computed_at"]


def sales_version(wh) -> str:
    """The sales domain's version as stored in the file (without the path tag)."""
    version = getattr(wh, "base", wh).data_version("sales")
    return version.split(":", 1)[1] if ":" in version else version


def weekly_pin_sku(wh: Warehouse) -> pd.DataFrame:
    """Per PIN code, SKU and week (weeks end on the last sales date): pin_code, sku_id,
    category, week, units, revenue, fest_days (days of the week inside the window of a
    festival with a demand effect that is celebrated in the PIN's state)."""
    df = run_query(wh, """
        WITH last AS (SELECT max(date) AS d FROM sales_daily),
        fest AS (
            SELECT DISTINCT l.pin_code, CAST(unnest(range(
                f.date - INTERVAL (f.pre_days) DAY, f.date + INTERVAL (f.post_days + 1) DAY,
                INTERVAL 1 DAY)) AS DATE) AS day
            FROM festivals f JOIN locations l ON f.states = 'ALL'
                 OR list_contains(string_split(f.states, ','), l.state)
            WHERE f.name IN (SELECT name FROM festival_effects)),
        wk AS (
            SELECT s.pin_code, s.sku_id, s.date, s.quantity, s.revenue,
                   (last.d - CAST(7 * floor(date_diff('day', s.date, last.d) / 7)
                                  AS INTEGER)) AS week
            FROM sales_daily s, last),
        fw AS (
            SELECT pin_code, (last.d - CAST(7 * floor(date_diff('day', day, last.d) / 7)
                                            AS INTEGER)) AS week, count(*) AS fest_days
            FROM fest, last WHERE day <= last.d GROUP BY 1, 2)
        SELECT w.pin_code, w.sku_id, coalesce(k.category, '(no category)') AS category,
               w.week, sum(w.quantity) AS units, sum(w.revenue) AS revenue,
               coalesce(any_value(fw.fest_days), 0) AS fest_days
        FROM wk w LEFT JOIN skus k ON k.sku_id = w.sku_id
        LEFT JOIN fw ON fw.pin_code = w.pin_code AND fw.week = w.week
        GROUP BY w.pin_code, w.sku_id, k.category, w.week
        ORDER BY 1, 2, 4""", [], "weekly sales per PIN code and SKU")
    df["week"] = pd.to_datetime(df["week"])
    return df


def read(wh) -> pd.DataFrame:
    """The stored clustering rows this handle may see (COLUMNS), by cluster and PIN."""
    return run_query(wh, f"SELECT {', '.join(COLUMNS)} FROM store_clusters "
                         "ORDER BY cluster, pin_code", [], "the store clusters")


def stored_version(wh) -> str | None:
    """The sales version of the stored clustering (None when there is none)."""
    return getattr(wh, "base", wh).scalar("SELECT any_value(sales_version) FROM store_clusters")


def replace(wh: Warehouse, rows: pd.DataFrame) -> None:
    """Replace the stored clustering with `rows` (COLUMNS but computed_at) in one
    transaction that touches only the clusters domain."""
    frame = rows.assign(computed_at=datetime.now())[COLUMNS]
    with wh.transaction(touches=("clusters",), wait=False) as cur:
        cur.execute("DELETE FROM store_clusters")
        cur.register("new_clusters", frame)
        cur.execute(f"INSERT INTO store_clusters SELECT {', '.join(COLUMNS)} FROM new_clusters")
        cur.unregister("new_clusters")
