"""Warehouse reads for mandi sourcing: prices, mandis, store locations (parameterised SQL)."""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse

PRICE_COLUMNS = ("market, state, district, commodity, variety, grade, date, min_price, "
                 "max_price, modal_price, arrivals_tonnes")


def mandi_commodities(wh: Warehouse) -> pd.DataFrame:
    """Commodities with prices: commodity, n_rows, n_markets, first_date, last_date."""
    return wh.query(
        "SELECT commodity, count(*) AS n_rows, count(DISTINCT market) AS n_markets, "
        "min(date) AS first_date, max(date) AS last_date FROM mandi_prices "
        "GROUP BY commodity ORDER BY lower(commodity)")


def mandi_prices(wh: Warehouse, commodities: list[str] | None = None,
                 since=None) -> pd.DataFrame:
    """mandi_prices rows for the exact stored commodity names given (all when None)."""
    where, params = [], []
    if commodities is not None:
        if not commodities:
            return wh.query(f"SELECT {PRICE_COLUMNS} FROM mandi_prices WHERE false")
        where.append("commodity IN (" + ", ".join("?" for _ in commodities) + ")")
        params.extend(commodities)
    if since is not None:
        where.append("date >= ?")
        params.append(pd.Timestamp(since).date())
    sql = f"SELECT {PRICE_COLUMNS} FROM mandi_prices"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return wh.query(sql + " ORDER BY market, commodity, date", params)


def mandis(wh: Warehouse) -> pd.DataFrame:
    return wh.query("SELECT market, district, state, lat, lon, quality_index, reliability_index "
                    "FROM mandis ORDER BY market")


def store_locations(wh: Warehouse) -> pd.DataFrame:
    """Store PINs (rows with a store_id) first, then other known locations."""
    return wh.query("SELECT pin_code, store_id, city, district, state, lat, lon FROM locations "
                    "ORDER BY store_id IS NULL, store_id, pin_code")
