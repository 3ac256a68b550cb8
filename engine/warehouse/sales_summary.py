"""Sales (`sales_daily`) summed for the pages: the Overview's KPIs, trend, PIN codes,
category mix and top SKUs, the sidebar's choices, the Trends page's weekly reads and the Map
page's per-PIN sales, and the clustering's weekly sales per PIN and SKU.

Every function that takes the sidebar's `Filters` goes through `sql.filter_where`, so state,
city, category and the PIN scope of a store user apply exactly as on every other page. Every
statement is parameterised.

Periods are inclusive. "Same period last year" shifts both ends back one calendar year
(29-Feb maps to 28-Feb), or for weekly data 52 weeks, so each week meets the same week
last year; growth is only reported when the warehouse holds sales covering the whole of
that earlier period, otherwise it is None rather than a misleading figure. Trend weeks end
on the period's last day and count back 7 days at a time, so the latest week is always
complete; weekly uploads keep their own weeks. Map frames hold additive columns only (sums
and counts), so `engine.geo.rollup` can add them up to district/state before ratios are
taken.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.grain import WEEKLY, sales_grain
from engine.warehouse.locations import read_locations
from engine.warehouse.sql import SALES_FROM, Filters, filter_where, run_query, scope_sql


FREQS = {"D": "day", "W": "week", "M": "month"}


def year_earlier(d: date) -> date:
    """The same calendar day one year earlier (29-Feb -> 28-Feb)."""
    try:
        return d.replace(year=d.year - 1)
    except ValueError:
        return d.replace(year=d.year - 1, day=28)


def _to_date(value) -> date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def date_bounds(wh: Warehouse, pin_scope: tuple[str, ...] | None = None
                ) -> tuple[date | None, date | None]:
    """First and last sales date the scope can see (None, None when there are none)."""
    scope, params = scope_sql(pin_scope, "pin_code")
    row = run_query(wh, f"SELECT min(date) AS lo, max(date) AS hi FROM sales_daily WHERE {scope}",
               params, "the sales date range").iloc[0]
    return _to_date(row["lo"]), _to_date(row["hi"])


def has_sales(wh: Warehouse, pin_scope: tuple[str, ...] | None = None) -> bool:
    scope, params = scope_sql(pin_scope, "pin_code")
    df = run_query(wh, f"SELECT 1 AS x FROM sales_daily WHERE {scope} LIMIT 1", params, "sales")
    return len(df) > 0


def resolve_period(wh: Warehouse, f: Filters) -> tuple[date | None, date | None]:
    """The filter's period with open ends closed at the data's first / last date."""
    lo, hi = date_bounds(wh, f.pin_scope)
    return (f.start or lo), (f.end or hi)


SAME_WEEKS_BACK = timedelta(days=364)      # 52 weeks: the same weekday a year earlier


def prior_period(wh: Warehouse, f: Filters, start: date, end: date, grain: str | None = None
                  ) -> tuple[date, date, bool]:
    """Same period a year earlier, and whether the data covers all of it. Weekly data
    (`grain` 'W', detected when not given) compares the same weeks: 52 weeks earlier, so
    each week's row meets the row of the same week last year; a calendar year earlier
    falls on another weekday and its date window can hold a different set of weeks."""
    lo, _ = date_bounds(wh, f.pin_scope)
    if (grain or sales_grain(wh)) == WEEKLY:
        p_start, p_end = start - SAME_WEEKS_BACK, end - SAME_WEEKS_BACK
        return p_start, p_end, lo is not None and lo < p_start + timedelta(days=7)
    p_start, p_end = year_earlier(start), year_earlier(end)
    return p_start, p_end, lo is not None and lo <= p_start


def _year_on_sql(grain: str) -> str:
    """SQL interval that moves a date of the prior period onto this period's calendar."""
    return "INTERVAL 364 DAY" if grain == WEEKLY else "INTERVAL 1 YEAR"


def _growth(current: float, prior: float, covered: bool) -> float | None:
    if not covered or prior is None or prior <= 0:
        return None
    return float(current) / float(prior) - 1.0


def filter_options(wh: Warehouse, pin_scope: tuple[str, ...] | None = None) -> dict:
    """Choices for the sidebar, limited to what `pin_scope` may see.

    Returns {"states": [...], "cities_by_state": {state: [cities]}, "categories": [...],
    "min_date": date|None, "max_date": date|None}.
    """
    scope, params = scope_sql(pin_scope, "pin_code")
    places = run_query(wh, f"""
        SELECT DISTINCT l.state, l.city FROM locations l
        WHERE l.pin_code IN (SELECT DISTINCT pin_code FROM sales_daily WHERE {scope})
          AND l.state IS NOT NULL AND l.city IS NOT NULL
        ORDER BY 1, 2""", params, "states and cities")
    cats = run_query(wh, f"""
        SELECT DISTINCT k.category FROM skus k
        WHERE k.sku_id IN (SELECT DISTINCT sku_id FROM sales_daily WHERE {scope})
          AND k.category IS NOT NULL
        ORDER BY 1""", params, "categories")
    lo, hi = date_bounds(wh, pin_scope)
    cities_by_state: dict[str, list[str]] = {}
    for state, city in places.itertuples(index=False):
        cities_by_state.setdefault(state, []).append(city)
    return {
        "states": sorted(cities_by_state),
        "cities_by_state": cities_by_state,
        "categories": cats["category"].tolist(),
        "min_date": lo,
        "max_date": hi,
    }


def _totals(wh: Warehouse, f: Filters, start: date | None, end: date | None) -> pd.Series:
    where, params = filter_where(f, start, end)
    # per series first: the distinct counts then read one row per SKU x PIN, not per day
    # (a row store sorts every day's row for each count(DISTINCT))
    return run_query(wh, f"""
        SELECT coalesce(sum(revenue), 0) AS revenue,
               coalesce(sum(units), 0) AS units,
               count(DISTINCT CASE WHEN sold THEN sku_id END) AS active_skus,
               count(DISTINCT CASE WHEN sold THEN pin_code END) AS active_pins
        FROM (SELECT s.sku_id, s.pin_code, sum(s.revenue) AS revenue,
                     sum(s.quantity) AS units, bool_or(s.quantity > 0) AS sold
              {SALES_FROM} WHERE {where} GROUP BY s.sku_id, s.pin_code) AS series""",
                     params, "sales totals").iloc[0]


def kpis(wh: Warehouse, f: Filters) -> dict:
    """Headline figures for the filtered period and the same period last year."""
    start, end = resolve_period(wh, f)
    if start is None or end is None or start > end:
        return {"revenue": 0.0, "units": 0.0, "revenue_growth": None, "units_growth": None,
                "active_skus": 0, "active_pins": 0, "avg_daily_revenue": 0.0,
                "start": start, "end": end, "prior_start": None, "prior_end": None,
                "prior_covered": False, "prior_revenue": 0.0, "prior_units": 0.0}
    cur = _totals(wh, f, start, end)
    p_start, p_end, covered = prior_period(wh, f, start, end)
    prior = _totals(wh, f, p_start, p_end)
    days = (end - start).days + 1
    return {
        "revenue": float(cur["revenue"]),
        "units": float(cur["units"]),
        "revenue_growth": _growth(cur["revenue"], prior["revenue"], covered),
        "units_growth": _growth(cur["units"], prior["units"], covered),
        "active_skus": int(cur["active_skus"]),
        "active_pins": int(cur["active_pins"]),
        "avg_daily_revenue": float(cur["revenue"]) / days,
        "start": start, "end": end,
        "prior_start": p_start, "prior_end": p_end, "prior_covered": covered,
        "prior_revenue": float(prior["revenue"]), "prior_units": float(prior["units"]),
    }


def _bucket_sql(freq: str, col: str) -> str:
    """Bucket start for a date, clipped to the period start. Weeks are counted back from
    the period end, so the latest week is always complete; months are calendar months.
    Parameters, in order: period end (weeks only), period start."""
    if freq == "D":
        return f"greatest({col}, CAST(? AS DATE))"
    if freq == "W":
        return (f"greatest(CAST(? AS DATE) - CAST(7 * floor(date_diff('day', {col}, "
                "CAST(? AS DATE)) / 7) + 6 AS INTEGER), CAST(? AS DATE))")
    return f"greatest(date_trunc('month', {col})::DATE, CAST(? AS DATE))"


def _bucket_params(freq: str, start: date, end: date) -> list:
    return [end, end, start] if freq == "W" else [start]


def _bucket_days(freq: str, bucket: date, end: date) -> int:
    """How many days of the period fall in the bucket that starts on `bucket`."""
    if freq == "D":
        return 1
    if freq == "W":
        return (end - bucket).days % 7 + 1
    month_end = (pd.Timestamp(bucket) + pd.offsets.MonthEnd(0)).date()
    return (min(month_end, end) - bucket).days + 1


def _all_buckets(freq: str, start: date, end: date) -> list[date]:
    if freq == "D":
        return [d.date() for d in pd.date_range(start, end, freq="D")]
    if freq == "W":
        n_weeks = (end - start).days // 7 + 1
        return sorted(max(end - timedelta(days=7 * k + 6), start) for k in range(n_weeks))
    months = [d.date() for d in pd.date_range(start, end, freq="MS")]
    return [start] + [m for m in months if m > start]


def sales_trend(wh: Warehouse, f: Filters, freq: str = "W") -> pd.DataFrame:
    """Revenue and units per day/week/month, with the same calendar days a year earlier
    (for weekly data the same weeks, 52 weeks earlier) summed into the same buckets
    (`revenue_ly`, `units_ly`; NaN where the data does not reach back that far). `date` is
    the bucket's first day inside the period and `days` how many days of the period it
    holds (weeks end on the period's last day, so only the earliest week can be a part
    week). Buckets without sales are zero."""
    if freq not in FREQS:
        raise ValueError(f"freq must be one of {sorted(FREQS)}, not {freq!r}")
    cols = ["date", "days", "revenue", "units", "revenue_ly", "units_ly"]
    start, end = resolve_period(wh, f)
    if start is None or end is None or start > end:
        return pd.DataFrame(columns=cols)
    grain = sales_grain(wh)
    p_start, p_end, covered = prior_period(wh, f, start, end, grain)
    where_c, params_c = filter_where(f, start, end)
    where_p, params_p = filter_where(f, p_start, p_end)
    bucket_params = _bucket_params(freq, start, end)
    df = run_query(wh, f"""
        WITH cur AS (
            SELECT {_bucket_sql(freq, "s.date")} AS bucket,
                   sum(s.revenue) AS revenue, sum(s.quantity) AS units
            {SALES_FROM} WHERE {where_c} GROUP BY 1),
        prior AS (
            SELECT {_bucket_sql(freq, f"(s.date + {_year_on_sql(grain)})::DATE")} AS bucket,
                   sum(s.revenue) AS revenue, sum(s.quantity) AS units
            {SALES_FROM} WHERE {where_p} GROUP BY 1)
        SELECT coalesce(cur.bucket, prior.bucket) AS date,
               coalesce(cur.revenue, 0) AS revenue, coalesce(cur.units, 0) AS units,
               coalesce(prior.revenue, 0) AS revenue_ly, coalesce(prior.units, 0) AS units_ly
        FROM cur FULL OUTER JOIN prior ON cur.bucket = prior.bucket
        WHERE coalesce(cur.bucket, prior.bucket) <= CAST(? AS DATE)
        ORDER BY 1""", [*bucket_params, *params_c, *bucket_params, *params_p, end],
        "the sales trend")
    # Buckets without any sale this year or last are zero, not missing points.
    df["date"] = pd.to_datetime(df["date"])
    df = (df.set_index("date")
            .reindex(pd.to_datetime(_all_buckets(freq, start, end)), fill_value=0.0)
            .rename_axis("date").reset_index())
    df["days"] = [_bucket_days(freq, d.date(), end) for d in df["date"]]
    if not covered:
        df[["revenue_ly", "units_ly"]] = float("nan")
    return df[cols]


def pin_sales_vs_prior(wh: Warehouse, f: Filters) -> tuple[pd.DataFrame | None, dict]:
    """Per PIN code with sales in the period: revenue, units and prior_revenue (the same
    days last year, for weekly data the same weeks; NaN when the PIN sold nothing then).
    Meta: start, end, prior_start, prior_end, covered (the data reaches back over the
    whole prior period), grain ('D' or 'W'). The frame is None when the filters leave no
    period. Shared by the overview and the map."""
    start, end = resolve_period(wh, f)
    if start is None or end is None or start > end:
        return None, {"start": start, "end": end, "covered": False}
    grain = sales_grain(wh)
    p_start, p_end, covered = prior_period(wh, f, start, end, grain)
    where_c, params_c = filter_where(f, start, end)
    where_p, params_p = filter_where(f, p_start, p_end)
    df = run_query(wh, f"""
        WITH cur AS (SELECT s.pin_code, sum(s.revenue) AS revenue, sum(s.quantity) AS units
                     {SALES_FROM} WHERE {where_c} GROUP BY 1),
             prior AS (SELECT s.pin_code, sum(s.revenue) AS revenue
                       {SALES_FROM} WHERE {where_p} GROUP BY 1)
        SELECT cur.pin_code, cur.revenue, cur.units, prior.revenue AS prior_revenue
        FROM cur LEFT JOIN prior ON prior.pin_code = cur.pin_code
        ORDER BY cur.pin_code""", [*params_c, *params_p], "sales by PIN code")
    return df, {"start": start, "end": end, "prior_start": p_start, "prior_end": p_end,
                "covered": covered, "grain": grain}


def sales_by_pin(wh: Warehouse, f: Filters) -> pd.DataFrame:
    """One row per PIN code with sales in the period: place, coordinates, revenue, units
    and revenue growth vs the same period last year (None when not comparable)."""
    cols = ["pin_code", "locality", "city", "district", "state", "lat", "lon",
            "revenue", "units", "growth"]
    df, meta = pin_sales_vs_prior(wh, f)
    if df is None:
        return pd.DataFrame(columns=cols)
    places = read_locations(wh, ("pin_code", "locality", "city", "district", "state", "lat",
                                 "lon"))
    df = (df.merge(places, on="pin_code", how="left")
            .sort_values(["revenue", "pin_code"], ascending=[False, True], kind="stable")
            .reset_index(drop=True))
    df["growth"] = [_growth(c, p, meta["covered"]) if pd.notna(p) else None
                    for c, p in zip(df["revenue"], df["prior_revenue"])]
    return df[cols]


def category_mix(wh: Warehouse, f: Filters) -> pd.DataFrame:
    """Revenue, units, revenue share and growth per category, largest first."""
    start, end = resolve_period(wh, f)
    cols = ["category", "revenue", "units", "share", "growth"]
    if start is None or end is None or start > end:
        return pd.DataFrame(columns=cols)
    p_start, p_end, covered = prior_period(wh, f, start, end)
    where_c, params_c = filter_where(f, start, end)
    where_p, params_p = filter_where(f, p_start, p_end)
    df = run_query(wh, f"""
        WITH cur AS (SELECT coalesce(k.category, 'Uncategorised') AS category,
                            sum(s.revenue) AS revenue, sum(s.quantity) AS units
                     {SALES_FROM} WHERE {where_c} GROUP BY 1),
             prior AS (SELECT coalesce(k.category, 'Uncategorised') AS category,
                              sum(s.revenue) AS revenue
                       {SALES_FROM} WHERE {where_p} GROUP BY 1)
        SELECT cur.category, cur.revenue, cur.units, prior.revenue AS prior_revenue
        FROM cur LEFT JOIN prior USING (category)
        ORDER BY cur.revenue DESC, cur.category""", [*params_c, *params_p], "the category mix")
    total = df["revenue"].sum()
    df["share"] = df["revenue"] / total if total else 0.0
    df["growth"] = [_growth(c, p, covered) if pd.notna(p) else None
                    for c, p in zip(df["revenue"], df["prior_revenue"])]
    return df[cols]


def top_skus(wh: Warehouse, f: Filters, n: int = 10) -> pd.DataFrame:
    """The `n` best-selling SKUs by revenue in the period."""
    start, end = resolve_period(wh, f)
    cols = ["sku_id", "name", "category", "brand", "revenue", "units", "avg_price",
            "pin_codes", "share"]
    if start is None or end is None or start > end:
        return pd.DataFrame(columns=cols)
    where, params = filter_where(f, start, end)
    df = run_query(wh, f"""
        WITH t AS (SELECT s.sku_id, any_value(k.name) AS name,
                          any_value(k.category) AS category, any_value(k.brand) AS brand,
                          sum(s.revenue) AS revenue, sum(s.quantity) AS units,
                          count(DISTINCT s.pin_code) AS pin_codes
                   {SALES_FROM} WHERE {where} GROUP BY 1)
        SELECT *, revenue / nullif(units, 0) AS avg_price,
               revenue / nullif(sum(revenue) OVER (), 0) AS share
        FROM t ORDER BY revenue DESC, sku_id LIMIT ?""", [*params, int(n)], "the top SKUs")
    return df[cols]


def default_period(min_date: date | None, max_date: date | None, days: int = 90
                   ) -> tuple[date | None, date | None]:
    """The last `days` days of data (clipped to the first date)."""
    if max_date is None:
        return None, None
    start = max_date - timedelta(days=days - 1)
    return (max(start, min_date) if min_date else start), max_date


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


def category_units(wh: Warehouse, f: Filters, start: date, end: date) -> pd.DataFrame:
    """Units per PIN x category in start..end, with the PIN's state (festival weights)."""
    where, params = filter_where(f, start, end)
    return run_query(wh, f"""
        SELECT s.pin_code, any_value(l.state) AS state,
               coalesce(k.category, 'Uncategorised') AS category, sum(s.quantity) AS units
        {SALES_FROM} WHERE {where} GROUP BY s.pin_code, 3 ORDER BY 1, 3""", params,
                "units by PIN code and category")


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


def weekly_pin_sku(wh: Warehouse) -> pd.DataFrame:
    """Per PIN code, SKU and week (weeks end on the last sales date): pin_code, sku_id,
    category, week, units, revenue, fest_days (days of the week inside the window of a
    festival with a demand effect that is celebrated in the PIN's state)."""
    df = run_query(wh, """
        WITH last AS (SELECT max(date) AS d FROM sales_daily),
        fest AS (
            SELECT DISTINCT l.pin_code, CAST(unnest(range(
                f.date - INTERVAL (f.pre_days) DAY, f.date + INTERVAL (f.post_days + 1) DAY,
                INTERVAL 1 DAY)) AS DATE) AS day
            FROM festivals f JOIN locations l ON f.states = 'ALL'
                 OR list_contains(string_split(f.states, ','), l.state)
            WHERE f.name IN (SELECT name FROM festival_effects)),
        wk AS (
            SELECT s.pin_code, s.sku_id, s.date, s.quantity, s.revenue,
                   (last.d - CAST(7 * floor(date_diff('day', s.date, last.d) / 7)
                                  AS INTEGER)) AS week
            FROM sales_daily s, last),
        fw AS (
            SELECT pin_code, (last.d - CAST(7 * floor(date_diff('day', day, last.d) / 7)
                                            AS INTEGER)) AS week, count(*) AS fest_days
            FROM fest, last WHERE day <= last.d GROUP BY 1, 2)
        SELECT w.pin_code, w.sku_id, coalesce(k.category, '(no category)') AS category,
               w.week, sum(w.quantity) AS units, sum(w.revenue) AS revenue,
               coalesce(any_value(fw.fest_days), 0) AS fest_days
        FROM wk w LEFT JOIN skus k ON k.sku_id = w.sku_id
        LEFT JOIN fw ON fw.pin_code = w.pin_code AND fw.week = w.week
        GROUP BY w.pin_code, w.sku_id, k.category, w.week
        ORDER BY 1, 2, 4""", [], "weekly sales per PIN code and SKU")
    df["week"] = pd.to_datetime(df["week"])
    return df


def last_sale_per_pin(wh: Warehouse, as_of) -> pd.DataFrame:
    """pin_code, last_date, city, daily_revenue for every PIN with sales on or before as_of,
    plus the known locations that have none (last_date NULL). daily_revenue is the PIN's
    sales value (units x price, MRP where the price is missing) over the 28 days up to its
    last sale, per day."""
    return wh.query("""
        WITH s AS (SELECT pin_code, max(date) AS last_date FROM sales_daily
                   WHERE date <= ? GROUP BY pin_code),
        r AS (SELECT d.pin_code, sum(d.quantity * coalesce(d.price, k.mrp)) / 28.0 AS revenue
              FROM sales_daily d JOIN s ON s.pin_code = d.pin_code
              LEFT JOIN skus k ON k.sku_id = d.sku_id
              WHERE d.date > s.last_date - INTERVAL 28 DAY AND d.date <= s.last_date
              GROUP BY d.pin_code)
        SELECT coalesce(s.pin_code, l.pin_code) AS pin_code,
               CAST(s.last_date AS TIMESTAMP) AS last_date, l.city,
               CAST(r.revenue AS DOUBLE) AS daily_revenue
        FROM s FULL OUTER JOIN locations l ON l.pin_code = s.pin_code
        LEFT JOIN r ON r.pin_code = s.pin_code
        ORDER BY 1""", [as_of])
