"""The inventory snapshot (`inventory`): the reorder plan's lines with their catalog
and place attributes, and the Map page's per-PIN stock cover. Read-only and parameterised;
`engine.inventory` turns these frames into a plan."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.grain import sales_grain
from engine.warehouse.sales_summary import date_bounds
from engine.warehouse.sql import Filters, filter_where, run_query


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


_INVENTORY_FROM = """
    FROM inventory s
    LEFT JOIN skus k ON k.sku_id = s.sku_id
    LEFT JOIN locations l ON l.pin_code = s.pin_code
"""


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
