"""The catalog (`skus`) and what is known about its prices: one row per SKU with the
columns a caller names, the catalog with current prices, and the demo's planted elasticity.
One question, one query each: "which SKUs are there?" is answered here for the forecast's
signals, the reorder plan's elasticities and the pricing panel alike."""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.sql import read_columns


SKU_COLUMNS = ("sku_id", "name", "category", "subcategory", "brand", "mrp", "unit_cost",
               "shelf_life_days", "unit_volume_l", "supplier")


def read_skus(wh: Warehouse, columns=SKU_COLUMNS) -> pd.DataFrame:
    """One row per SKU, by sku_id, with `columns` (of SKU_COLUMNS)."""
    return read_columns(wh, "skus", SKU_COLUMNS, tuple(columns))


def sku_catalog(wh: Warehouse) -> pd.DataFrame:
    """skus with the current regular price (median across PINs on each SKU's last sale day)
    and the last selling price: sku_id, name, category, subcategory, brand, mrp, unit_cost,
    price, last_sale_date."""
    return wh.query(
        """
        WITH last_day AS (
            SELECT sku_id, max(date) AS last_sale_date FROM sales_daily GROUP BY sku_id
        ), cur AS (
            SELECT s.sku_id, median(coalesce(s.regular_price, s.price)) AS price,
                   any_value(l.last_sale_date) AS last_sale_date
            FROM sales_daily s JOIN last_day l
              ON s.sku_id = l.sku_id AND s.date > l.last_sale_date - INTERVAL 7 DAY
            GROUP BY s.sku_id
        )
        SELECT k.sku_id, k.name, k.category, k.subcategory, k.brand, k.mrp, k.unit_cost,
               c.price, CAST(c.last_sale_date AS TIMESTAMP) AS last_sale_date
        FROM skus k JOIN cur c ON k.sku_id = c.sku_id
        ORDER BY k.sku_id
        """)


def demo_truth_elasticity(wh: Warehouse) -> pd.DataFrame:
    """The demo's planted elasticity per SKU (empty outside the demo)."""
    return wh.query("SELECT sku_id, category, elasticity FROM demo_truth ORDER BY sku_id")
