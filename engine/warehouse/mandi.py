"""Mandi (APMC wholesale market) prices and markets (`mandi_prices`, `mandis`): the
sourcing engine's reads and the alert rules' price window."""
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


def read_mandi_window(wh: Warehouse, start, end) -> pd.DataFrame:
    """Modal prices start..end: market, state, commodity, date, modal_price (one row per
    market x commodity x day: the median over varieties and grades)."""
    return wh.query("""
        SELECT market, any_value(state) AS state, commodity, CAST(date AS TIMESTAMP) AS date,
               median(modal_price) AS modal_price
        FROM mandi_prices
        WHERE date BETWEEN ? AND ? AND modal_price IS NOT NULL AND modal_price > 0
        GROUP BY market, commodity, date
        ORDER BY market, commodity, date""", [start, end])


def last_mandi_date(wh: Warehouse, as_of=None):
    if as_of is None:
        return wh.scalar("SELECT max(date) FROM mandi_prices")
    return wh.scalar("SELECT max(date) FROM mandi_prices WHERE date <= ?", [as_of])
