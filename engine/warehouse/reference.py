"""Reference data: the catalog (`skus`) and the places (`locations`).

One question, one query each: "which SKUs are there?" and "which places are there?" are
answered here for the forecast's signals, the reorder plan's elasticities and the pricing
panel alike; each caller names the columns it reads."""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse

SKU_COLUMNS = ("sku_id", "name", "category", "subcategory", "brand", "mrp", "unit_cost",
               "shelf_life_days", "unit_volume_l", "supplier")
LOCATION_COLUMNS = ("pin_code", "store_id", "locality", "city", "district", "state",
                    "region", "lat", "lon", "urban_rural")


def _rows(wh: Warehouse, table: str, known: tuple[str, ...], columns) -> pd.DataFrame:
    unknown = [c for c in columns if c not in known]
    if unknown or not columns:
        raise ValueError(f"{table} has no column(s) {unknown or '(none asked)'}; "
                         f"it has {', '.join(known)}.")
    return wh.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {known[0]}")


def read_skus(wh: Warehouse, columns=SKU_COLUMNS) -> pd.DataFrame:
    """One row per SKU, by sku_id, with `columns` (of SKU_COLUMNS)."""
    return _rows(wh, "skus", SKU_COLUMNS, tuple(columns))


def read_locations(wh: Warehouse, columns=LOCATION_COLUMNS) -> pd.DataFrame:
    """One row per PIN code, by pin_code, with `columns` (of LOCATION_COLUMNS)."""
    return _rows(wh, "locations", LOCATION_COLUMNS, tuple(columns))
