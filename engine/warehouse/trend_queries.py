"""Sales read for market trends (engine/intel/trends.py): weekly revenue per item of a
level, and per SKU x PIN totals of two periods for the "what changed" decomposition.

Weeks end on the period's last day and count back 7 days at a time, so the latest week
is always complete; weekly uploads (one row per SKU x PIN x week) keep their own weeks,
because every date of weekly data is a whole number of weeks before the last one. Every
function takes the sidebar's `Filters` and reuses `queries.filter_where`, so state,
city, category and the PIN scope of a store user apply exactly as on every other page.
"""
from __future__ import annotations

from datetime import date

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.queries import SALES_FROM, Filters, filter_where, run_query

# level -> (SQL expression for the item key, SQL expression for its label)
LEVELS: dict[str, tuple[str, str]] = {
    "category": ("coalesce(k.category, '(no category)')", "coalesce(k.category, '(no category)')"),
    "brand": ("coalesce(k.brand, '(no brand)')", "coalesce(k.brand, '(no brand)')"),
    "sku": ("s.sku_id", "coalesce(k.name, s.sku_id)"),
    "pin_code": ("s.pin_code",
                 "s.pin_code || coalesce(' · ' || coalesce(l.locality, l.city), '')"),
    "city": ("coalesce(l.city, '(unknown city)')", "coalesce(l.city, '(unknown city)')"),
}
_WEEK_END = ("(CAST(? AS DATE) - CAST(7 * floor(date_diff('day', s.date, CAST(? AS DATE)) / 7) "
             "AS INTEGER))")


def weekly_by_level(wh: Warehouse, f: Filters, level: str, start: date, end: date
                    ) -> pd.DataFrame:
    """item, label, week (the week's last day), revenue, units for every item of `level`
    with sales between `start` and `end` (inclusive); weeks without sales are absent."""
    key, label = LEVELS[level]
    where, params = filter_where(f, start, end)
    df = run_query(wh, f"""
        SELECT {key} AS item, any_value({label}) AS label, {_WEEK_END} AS week,
               sum(s.revenue) AS revenue, sum(s.quantity) AS units
        {SALES_FROM} WHERE {where} GROUP BY 1, 3 ORDER BY 1, 3""",
        [end, end, *params], f"weekly sales by {level}")
    df["week"] = pd.to_datetime(df["week"])
    return df


def period_items(wh: Warehouse, f: Filters, category: str | None, periods: dict
                 ) -> pd.DataFrame:
    """Per period ('a', 'b': {name: (start, end)}) and SKU x PIN code with units sold:
    period, sku_id, name, pin_code, city, units, revenue and regular_revenue (units at
    the shelf price before promotion: the day's regular price, else its price)."""
    parts, params = [], []
    cat_sql = "TRUE" if category is None else "k.category = ?"
    for name, (start, end) in periods.items():
        where, p = filter_where(f, start, end)
        parts.append(f"""
            SELECT '{name}' AS period, s.sku_id, any_value(coalesce(k.name, s.sku_id)) AS name,
                   s.pin_code, any_value(coalesce(l.city, '(unknown city)')) AS city,
                   sum(s.quantity) AS units, sum(s.revenue) AS revenue,
                   sum(s.quantity * coalesce(s.regular_price, s.price,
                                             s.revenue / nullif(s.quantity, 0))) AS regular_revenue
            {SALES_FROM} WHERE {where} AND s.quantity > 0 AND {cat_sql}
            GROUP BY s.sku_id, s.pin_code""")
        params += p + ([] if category is None else [category])
    return run_query(wh, " UNION ALL ".join(parts) + " ORDER BY 1, 2, 4", params,
                     "sales of the two periods")

