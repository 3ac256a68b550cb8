"""Store clusters (`store_clusters`, one row per PIN code of the latest clustering; its
own data domain `clusters`). The weekly sales the clustering reads are in sales_summary.

The result belongs to the sales version it was computed on (`sales_version`, the sales
domain's version without the warehouse's path tag), so engine/intel/clusters.py can tell
when a sales write made it stale. On a PIN-scoped handle `store_clusters` is filtered
like every table with a `pin_code` (a store user reads only their PINs' rows); the
clustering itself reads and writes through the base warehouse, because clusters are
formed over every PIN code."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.sql import insert_frame, run_query


COLUMNS = ["pin_code", "cluster", "cluster_name", "description", "n_pins", "k", "silhouette",
           "features", "selection", "sales_version", "computed_at"]


def sales_version(wh) -> str:
    """The sales domain's version as stored in the file (without the path tag)."""
    version = getattr(wh, "base", wh).data_version("sales")
    return version.split(":", 1)[1] if ":" in version else version


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
        insert_frame(cur, "store_clusters", COLUMNS, frame)
