"""Warehouse readers for reorder planning (thin: SQL in, DataFrames out, no maths).

Everything here is read-only and parameterised; `engine.inventory` turns these frames into
a plan.
"""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse


def read_inventory_lines(wh: Warehouse) -> pd.DataFrame:
    """One row per sku_id x pin_code in the inventory snapshot, with catalog and location
    attributes the plan needs (category, cost, shelf life, volume, supplier, city, lat/lon)."""
    return wh.query("""
        SELECT i.sku_id, i.pin_code, i.on_hand, COALESCE(i.on_order, 0) AS on_order,
               i.lead_time_days, i.moq, i.case_pack, i.snapshot_date,
               s.name, s.category, s.mrp, s.unit_cost, s.shelf_life_days, s.unit_volume_l,
               s.supplier,
               l.city, l.state, l.region, l.lat, l.lon
        FROM inventory i
        LEFT JOIN skus s USING (sku_id)
        LEFT JOIN locations l USING (pin_code)
        ORDER BY i.sku_id, i.pin_code""")


def read_forecasts(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """Forecast rows of one run: sku_id, pin_code, date, forecast, lo, hi, lo80, hi80, model."""
    return wh.query("""
        SELECT sku_id, pin_code, date, forecast, lo, hi, lo80, hi80, model
        FROM forecasts WHERE run_id = ?
        ORDER BY sku_id, pin_code, date""", [run_id])


def read_backtest_residuals(wh: Warehouse, run_id: str, model: str | None = None
                            ) -> pd.DataFrame:
    """Point-level backtest rows of one run (optionally one model): sku_id, pin_code, model,
    fold, step, date, actual, forecast (safety stock is built from actual - forecast)."""
    sql = """
        SELECT sku_id, pin_code, model, fold, step, date, actual, forecast
        FROM backtests
        WHERE run_id = ? AND actual IS NOT NULL AND forecast IS NOT NULL"""
    params: list = [run_id]
    if model is not None:
        sql += " AND model = ?"
        params.append(model)
    return wh.query(sql, params)


def backtest_models(wh: Warehouse, run_id: str) -> list[str]:
    """Model names with backtest rows in one run."""
    return wh.query("SELECT DISTINCT model FROM backtests WHERE run_id = ? ORDER BY 1",
                    [run_id])["model"].tolist()


def read_sales_window(wh: Warehouse, start, end) -> pd.DataFrame:
    """sales_daily rows dated start..end inclusive (zero days are absent):
    sku_id, pin_code, date, quantity."""
    return wh.query("""
        SELECT sku_id, pin_code, date, quantity
        FROM sales_daily WHERE date BETWEEN ? AND ?
        ORDER BY sku_id, pin_code, date""", [start, end])


def read_festival_tables(wh: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(calendar, effects) as stored in the warehouse's festivals / festival_effects."""
    calendar = wh.query("""
        SELECT name, date, festival_type, states, pre_days, post_days, source
        FROM festivals ORDER BY date, name""")
    effects = wh.query("SELECT name, category, multiplier FROM festival_effects "
                       "ORDER BY name, category")
    return calendar, effects


def read_price_panel(wh: Warehouse, start, end) -> pd.DataFrame:
    """sales_daily with prices for elasticity estimation (start..end inclusive)."""
    return wh.query("""
        SELECT sku_id, pin_code, date, quantity, price, regular_price
        FROM sales_daily WHERE date BETWEEN ? AND ?""", [start, end])


