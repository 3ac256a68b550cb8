"""SQL readers for pricing: sales history, catalog with current prices, weather, the
latest stored forecast. Every statement is parameterised; nothing here does maths."""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse


def _in_clause(column: str, values: list | None) -> tuple[str, list]:
    if not values:
        return "", []
    marks = ", ".join("?" for _ in values)
    return f" AND {column} IN ({marks})", list(values)


# Optional sales_daily columns the estimator uses as controls when a warehouse has them.
OPTIONAL_SALES_COLUMNS = ("unit_cost", "feature", "display", "tpr")


def sales_columns(wh: Warehouse) -> set[str]:
    """Column names of sales_daily in this warehouse (older ones lack the optional ones)."""
    names = wh.query("SELECT column_name FROM information_schema.columns "
                     "WHERE table_name = ?", ["sales_daily"])
    return set(names["column_name"])


def sales_history(wh: Warehouse, sku_ids: list[str] | None = None,
                  last_days: int | None = None) -> pd.DataFrame:
    """sales_daily rows: sku_id, pin_code, date, quantity, revenue, price, regular_price,
    promo, and whichever of unit_cost, feature, display, tpr the table has; only the
    `last_days` days up to the last sales date when given."""
    extra, params = _in_clause("sku_id", sku_ids)
    if last_days is not None:
        extra += (" AND date > (SELECT max(date) FROM sales_daily) - "
                  f"INTERVAL {int(last_days)} DAY")
    present = sales_columns(wh)
    optional = "".join(f", {c}" for c in OPTIONAL_SALES_COLUMNS if c in present)
    return wh.query(
        "SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, quantity, revenue, "
        f"price, regular_price, promo{optional} FROM sales_daily WHERE quantity >= 0" + extra
        + " ORDER BY sku_id, pin_code, date", params)


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


def line_prices(wh: Warehouse, sku_ids: list[str] | None = None) -> pd.DataFrame:
    """Today's shelf price per SKU x PIN: the regular price (else the price) on the line's
    last sale day. Columns sku_id, pin_code, line_price."""
    extra, params = _in_clause("sku_id", sku_ids)
    return wh.query(
        "SELECT sku_id, pin_code, arg_max(coalesce(regular_price, price), date) AS line_price "
        "FROM sales_daily WHERE coalesce(regular_price, price) > 0" + extra
        + " GROUP BY sku_id, pin_code ORDER BY sku_id, pin_code", params)


def city_weather(wh: Warehouse) -> pd.DataFrame:
    """city, date, temp_c, rainfall_mm for the cities of the stored locations."""
    return wh.query(
        "SELECT w.city, CAST(w.date AS TIMESTAMP) AS date, w.temp_c, w.rainfall_mm "
        "FROM weather w WHERE w.city IN (SELECT DISTINCT city FROM locations) "
        "ORDER BY w.city, w.date")


def forecast_rows(wh: Warehouse, run_id: str, sku_ids: list[str] | None = None
                  ) -> pd.DataFrame:
    """One row per sku_id x pin_code x date of a run (duplicates averaged): forecast, lo,
    hi, model."""
    extra, params = _in_clause("sku_id", sku_ids)
    return wh.query(
        "SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, avg(forecast) AS forecast, "
        "avg(lo) AS lo, avg(hi) AS hi, min(model) AS model FROM forecasts WHERE run_id = ?"
        + extra + " GROUP BY sku_id, pin_code, date ORDER BY sku_id, pin_code, date",
        [run_id, *params])


def demo_truth_elasticity(wh: Warehouse) -> pd.DataFrame:
    """The demo's planted elasticity per SKU (empty outside the demo)."""
    return wh.query("SELECT sku_id, category, elasticity FROM demo_truth ORDER BY sku_id")
