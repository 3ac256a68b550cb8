"""Per-PIN inputs for the map page's metrics (sales, growth, forecast, stock, festivals).

Every function takes a `Warehouse` and the sidebar's `Filters` and applies the same
state/city/category filters and the `pin_scope` row-level-security hook as
`engine.warehouse.queries` (it reuses that module's WHERE builder, so the two can never
disagree). Every statement is parameterised. Frames hold additive columns only (sums and
counts), so `engine.geo.rollup` can add them up to district/state before ratios are taken.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.grain import sales_grain
from engine.warehouse.queries import (SALES_FROM, Filters, date_bounds, filter_where,
                                      pin_sales_vs_prior, run_query)

_FORECAST_FROM = """
    FROM forecasts s
    LEFT JOIN skus k ON k.sku_id = s.sku_id
    LEFT JOIN locations l ON l.pin_code = s.pin_code
"""
_INVENTORY_FROM = """
    FROM inventory s
    LEFT JOIN skus k ON k.sku_id = s.sku_id
    LEFT JOIN locations l ON l.pin_code = s.pin_code
"""


def sales_inputs(wh: Warehouse, f: Filters) -> tuple[pd.DataFrame, dict]:
    """Per PIN: revenue, units, prior_revenue (same days last year) and revenue_lfl (this
    period's revenue of PINs that also sold last year, for like-for-like growth).
    Meta: start, end, prior_start, prior_end, covered (data reaches back a full year)."""
    cols = ["pin_code", "revenue", "units", "prior_revenue", "revenue_lfl"]
    df, meta = pin_sales_vs_prior(wh, f)
    if df is None:
        return pd.DataFrame(columns=cols), meta
    df["prior_revenue"] = df["prior_revenue"].fillna(0.0)
    df["revenue_lfl"] = df["revenue"].where(df["prior_revenue"] > 0, 0.0)
    if not meta["covered"]:
        df["prior_revenue"] = 0.0
        df["revenue_lfl"] = 0.0
    return df[cols], meta


def forecast_inputs(wh: Warehouse, f: Filters, run: dict, days: int = 28
                    ) -> tuple[pd.DataFrame, dict]:
    """Per PIN: forecast (units over the `days` days after the run's cutoff, or as many as
    the run covers) and baseline (actual units over the same number of days up to the
    cutoff). A weekly run's rows fall every 7 days after the cutoff, so 28 days hold 4
    weekly forecasts and the 28 days up to the cutoff the 4 weekly sales rows before it.
    The date range of the sidebar does not apply: the forecast window is fixed."""
    cutoff = pd.Timestamp(run["cutoff"]).date()
    window_end = cutoff + timedelta(days=days)
    where_f, params_f = filter_where(Filters(f.states, f.cities, f.categories, pin_scope=f.pin_scope),
                               cutoff + timedelta(days=1), window_end)
    fc = run_query(wh, f"""
        SELECT s.pin_code, sum(s.forecast) AS forecast, max(s.date) AS last_date
        {_FORECAST_FROM} WHERE s.run_id = ? AND {where_f} GROUP BY 1 ORDER BY 1""",
              [run["run_id"], *params_f], "the forecast by PIN code")
    cols = ["pin_code", "forecast", "baseline"]
    if fc.empty:
        return pd.DataFrame(columns=cols), {"cutoff": cutoff, "days": 0}
    covered_days = max(1, min(days, (pd.Timestamp(fc["last_date"].max()).date() - cutoff).days))
    where_b, params_b = filter_where(Filters(f.states, f.cities, f.categories, pin_scope=f.pin_scope),
                               cutoff - timedelta(days=covered_days - 1), cutoff)
    base = run_query(wh, f"""
        SELECT s.pin_code, sum(s.quantity) AS baseline
        {SALES_FROM} WHERE {where_b} GROUP BY 1""", params_b, "recent sales for the baseline")
    df = fc.merge(base, on="pin_code", how="left").fillna({"baseline": 0.0})
    return df[cols], {"cutoff": cutoff, "days": covered_days, "run_id": run["run_id"]}


def has_inventory(wh: Warehouse) -> bool:
    return bool(run_query(wh, "SELECT count(*) AS n FROM inventory", [], "inventory").iloc[0, 0])


def stock_inputs(wh: Warehouse, f: Filters, demand_days: int = 28,
                 default_lead_days: int = 7) -> tuple[pd.DataFrame, dict]:
    """Per PIN: n_skus (stocked SKUs with recent demand) and at_risk (those that, at recent
    average demand, lose at least one whole unit of sales before an order placed today
    could arrive: lead-time demand - (on hand + on order) >= 1, the Reorder page's
    'critical' rule; `default_lead_days` when the lead time is unknown). Demand is the average daily units
    over the last `demand_days` days of sales data (for weekly data the weekly rows dated
    in those days - 4 weeks for 28 days - spread over the same days). Meta: as_of,
    demand_days, grain."""
    last = date_bounds(wh, f.pin_scope)[1]
    cols = ["pin_code", "n_skus", "at_risk"]
    grain = sales_grain(wh)
    if last is None:
        return pd.DataFrame(columns=cols), {"as_of": None, "demand_days": demand_days,
                                            "grain": grain}
    where, params = filter_where(f, None, None)
    df = run_query(wh, f"""
        WITH demand AS (
            SELECT sku_id, pin_code, sum(quantity) / ? AS daily
            FROM sales_daily WHERE date > ? AND date <= ? GROUP BY 1, 2)
        SELECT s.pin_code,
               count(*) AS n_skus,
               count(*) FILTER (WHERE d.daily * coalesce(s.lead_time_days, ?)
                                - (s.on_hand + coalesce(s.on_order, 0)) >= 1) AS at_risk
        {_INVENTORY_FROM}
        JOIN demand d ON d.sku_id = s.sku_id AND d.pin_code = s.pin_code
        WHERE d.daily > 0 AND {where}
        GROUP BY 1 ORDER BY 1""",
              [float(demand_days), last - timedelta(days=demand_days), last,
               int(default_lead_days), *params], "stock cover by PIN code")
    return df[cols], {"as_of": last, "demand_days": demand_days, "grain": grain}


def category_units(wh: Warehouse, f: Filters, start: date, end: date) -> pd.DataFrame:
    """Units per PIN x category in start..end, with the PIN's state (festival weights)."""
    where, params = filter_where(f, start, end)
    return run_query(wh, f"""
        SELECT s.pin_code, any_value(l.state) AS state,
               coalesce(k.category, 'Uncategorised') AS category, sum(s.quantity) AS units
        {SALES_FROM} WHERE {where} GROUP BY s.pin_code, 3 ORDER BY 1, 3""", params,
                "units by PIN code and category")


def has_festivals(wh: Warehouse) -> bool:
    return bool(run_query(wh, "SELECT count(*) AS n FROM festivals", [], "festivals").iloc[0, 0])


def pin_places(wh: Warehouse, pins: list[str]) -> pd.DataFrame:
    """Locality, city, district, state for the given PINs as the warehouse knows them."""
    return run_query(wh, """
        SELECT pin_code, locality, city, district, state FROM locations
        WHERE list_contains(CAST(? AS VARCHAR[]), pin_code) ORDER BY pin_code""",
        [list(pins)], "PIN code places")
