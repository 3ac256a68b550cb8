"""Reads behind the Forecast and Accuracy pages.

A `Selection` is a product (all, a category or one SKU) crossed with a place (all, a
state, a city or one PIN code); aggregates are sums of the stored SKU x PIN forecasts.
Every query also honours the shared sidebar `Filters` (states, cities, categories) and
its `pin_scope` (the PIN codes a signed-in user may see), so a crafted selection can never
widen what a user sees. All SQL is parameterised.

`forecast_series` sums the series' bounds too (exact for one series); for an aggregate the
page recalibrates them on the selection's own summed backtest (`selection_backtest`,
engine.forecast.intervals.aggregate_bands), since summed bounds assume every series errs
the same way on the same day.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import pandas as pd

from engine.warehouse.db import Warehouse, WarehouseError
from engine.warehouse.queries import Filters
# latest_forecast_run: the Forecast page reads the run by name here (components.forecast_data.read)
from engine.warehouse.runs import counted_run, latest_forecast_run  # noqa: F401

DRIVER_GROUPS = ["trend_seasonality", "festival", "weather", "price", "recent_demand"]


@dataclass(frozen=True)
class Selection:
    """What the Forecast page shows. None = no restriction at that level."""

    sku_id: str | None = None
    category: str | None = None
    pin_code: str | None = None
    city: str | None = None
    state: str | None = None

    @property
    def is_series(self) -> bool:
        return self.sku_id is not None and self.pin_code is not None

    def label(self) -> str:
        product = self.sku_id or self.category or "All products"
        place = (f"PIN {self.pin_code}" if self.pin_code else self.city or self.state
                 or "all places")
        return f"{product} · {place}"

    def to_dict(self) -> dict:
        return asdict(self)


# ---- building blocks ---------------------------------------------------------------------
def _scope(pin_scope, col: str) -> tuple[str, list]:
    if pin_scope is None:
        return "TRUE", []
    if len(pin_scope) == 0:
        return "FALSE", []
    return f"list_contains(CAST(? AS VARCHAR[]), {col})", [list(pin_scope)]


def _where(f: Filters, sel: Selection | None, pin_col: str, sku_col: str = "k.sku_id"
           ) -> tuple[str, list]:
    """Clauses over an aliased row (pin_col) joined with skus k and locations l."""
    clause, params = _scope(f.pin_scope, pin_col)
    clauses = [clause]
    for values, col in ((f.states, "l.state"), (f.cities, "l.city"),
                        (f.categories, "k.category")):
        if values:
            clauses.append(f"list_contains(CAST(? AS VARCHAR[]), {col})")
            params.append(list(values))
    if sel is not None:
        for value, col in ((sel.sku_id, sku_col), (sel.category, "k.category"),
                           (sel.pin_code, pin_col), (sel.city, "l.city"),
                           (sel.state, "l.state")):
            if value is not None:
                clauses.append(f"{col} = ?")
                params.append(value)
    return " AND ".join(clauses), params


# ---- runs -------------------------------------------------------------------------------
def backtest_runs(wh: Warehouse) -> pd.DataFrame:
    """Runs (backtest or forecast) that count (runs.counted_run) and stored backtest rows,
    newest first."""
    return wh.query(f"""
        SELECT r.run_id, r.created_at, r.kind, r.grain, r.cutoff, r.horizon, r.n_series,
               r.models, b.n_rows, b.folds
        FROM forecast_runs r
        JOIN (SELECT run_id, count(*) AS n_rows, count(DISTINCT fold) AS folds
              FROM backtests GROUP BY run_id) b USING (run_id)
        WHERE {counted_run('r')}
        ORDER BY r.created_at DESC, r.run_id DESC""")


# ---- forecast page -----------------------------------------------------------------------
_FC_FROM = """
    FROM forecasts f
    LEFT JOIN skus k ON k.sku_id = f.sku_id
    LEFT JOIN locations l ON l.pin_code = f.pin_code
"""


def selection_options(wh: Warehouse, run_id: str, f: Filters) -> pd.DataFrame:
    """One row per series in the run that the filters allow: sku_id, name, category,
    pin_code, locality, city, state, volume (forecast units over the horizon)."""
    where, params = _where(f, None, "f.pin_code", "f.sku_id")
    return wh.query(f"""
        SELECT f.sku_id, any_value(k.name) AS name, any_value(k.category) AS category,
               f.pin_code, any_value(l.locality) AS locality, any_value(l.city) AS city,
               any_value(l.state) AS state, sum(f.forecast) AS volume
        {_FC_FROM} WHERE f.run_id = ? AND {where}
        GROUP BY f.sku_id, f.pin_code ORDER BY volume DESC, f.sku_id, f.pin_code""",
        [run_id, *params])


def forecast_series(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """date, forecast, lo, hi, lo80, hi80, n_series: the selection's summed forecast;
    forecast_no_plan (the same without the run's price / promotion plan; = forecast when
    the run used none) and planned_series (series the plan covers on that date)."""
    where, params = _where(f, sel, "f.pin_code", "f.sku_id")
    df = wh.query(f"""
        SELECT CAST(f.date AS TIMESTAMP) AS date, sum(f.forecast) AS forecast,
               sum(f.lo) AS lo, sum(f.hi) AS hi, sum(f.lo80) AS lo80, sum(f.hi80) AS hi80,
               count(*) AS n_series,
               sum(coalesce(f.forecast_no_plan, f.forecast)) AS forecast_no_plan,
               count(*) FILTER (WHERE f.planned) AS planned_series
        {_FC_FROM} WHERE f.run_id = ? AND {where} GROUP BY 1 ORDER BY 1""", [run_id, *params])
    return df


def selection_backtest(wh: Warehouse, run_id: str, sel: Selection, f: Filters
                       ) -> pd.DataFrame:
    """The run's routed backtest summed over the selection: fold, date, actual, forecast,
    n_series (one row per fold and date); empty when the run stored no backtest."""
    where, params = _where(f, sel, "b.pin_code", "b.sku_id")
    return wh.query(f"""
        SELECT b.fold, CAST(b.date AS TIMESTAMP) AS date, sum(b.actual) AS actual,
               sum(b.forecast) AS forecast, count(*) AS n_series
        FROM backtests b
        LEFT JOIN skus k ON k.sku_id = b.sku_id
        LEFT JOIN locations l ON l.pin_code = b.pin_code
        WHERE b.run_id = ? AND b.model = 'routed' AND {where}
        GROUP BY 1, 2 ORDER BY 1, 2""", [run_id, *params])


def forecast_detail(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """Per-series forecast rows of the selection, for the table and downloads."""
    where, params = _where(f, sel, "f.pin_code", "f.sku_id")
    return wh.query(f"""
        SELECT f.sku_id, k.name, k.category, f.pin_code, l.city, l.state, f.date,
               f.forecast, f.lo80, f.hi80, f.lo, f.hi, f.model, f.weather_source,
               coalesce(f.forecast_no_plan, f.forecast) AS forecast_no_plan,
               coalesce(f.planned, FALSE) AS planned
        {_FC_FROM} WHERE f.run_id = ? AND {where}
        ORDER BY f.sku_id, f.pin_code, f.date""", [run_id, *params])


def history_series(wh: Warehouse, sel: Selection, f: Filters, start: date | None = None,
                   end: date | None = None, grain: str = "D") -> pd.DataFrame:
    """date, quantity, revenue summed over the selection, one row per day from `start`
    (default: first sale) to `end` (default: last sale); days without sales are 0.
    Weekly data (grain 'W') keeps its week rows as stored."""
    where, params = _where(f, sel, "s.pin_code", "s.sku_id")
    if grain == "W":
        return wh.query(f"""
            SELECT CAST(s.date AS TIMESTAMP) AS date, sum(s.quantity) AS quantity,
                   sum(s.revenue) AS revenue
            FROM sales_daily s
            LEFT JOIN skus k ON k.sku_id = s.sku_id
            LEFT JOIN locations l ON l.pin_code = s.pin_code
            WHERE {where} AND s.date >= coalesce(CAST(? AS DATE), s.date)
              AND s.date <= coalesce(CAST(? AS DATE), s.date)
            GROUP BY 1 ORDER BY 1""", [*params, start, end])
    df = wh.query(f"""
        WITH s AS (
            SELECT s.date, sum(s.quantity) AS quantity, sum(s.revenue) AS revenue
            FROM sales_daily s
            LEFT JOIN skus k ON k.sku_id = s.sku_id
            LEFT JOIN locations l ON l.pin_code = s.pin_code
            WHERE {where} GROUP BY 1),
        span AS (SELECT coalesce(CAST(? AS DATE), min(date)) AS lo,
                        coalesce(CAST(? AS DATE), max(date)) AS hi FROM s)
        SELECT CAST(g.d AS TIMESTAMP) AS date, coalesce(s.quantity, 0) AS quantity,
               coalesce(s.revenue, 0) AS revenue
        FROM span, unnest(generate_series(span.lo, span.hi, INTERVAL 1 DAY)) AS g(d)
        LEFT JOIN s ON s.date = CAST(g.d AS DATE)
        WHERE span.lo IS NOT NULL
        ORDER BY 1""", [*params, start, end])
    return df


def routing_mix(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """Routed model per series of the selection, grouped: model, n_series, volume, and
    one example reason. For a single series this is its decision with the evidence
    (reason, n_points, mae, errors JSON of backtest MAE per model)."""
    where, params = _where(f, sel, "r.pin_code", "r.sku_id")
    return wh.query(f"""
        WITH v AS (SELECT sku_id, pin_code, sum(forecast) AS volume FROM forecasts
                   WHERE run_id = ? GROUP BY 1, 2)
        SELECT r.model, count(*) AS n_series, sum(v.volume) AS volume,
               any_value(r.reason) AS reason, max(r.n_points) AS n_points,
               avg(r.mae) AS mae, any_value(r.errors) AS errors
        FROM forecast_routing r
        LEFT JOIN v ON v.sku_id = r.sku_id AND v.pin_code = r.pin_code
        LEFT JOIN skus k ON k.sku_id = r.sku_id
        LEFT JOIN locations l ON l.pin_code = r.pin_code
        WHERE r.run_id = ? AND {where}
        GROUP BY r.model ORDER BY volume DESC NULLS LAST, r.model""",
        [run_id, run_id, *params])


def driver_effects(wh: Warehouse, run_id: str, sel: Selection, f: Filters) -> pd.DataFrame:
    """Units each driver group adds (+) or removes (-) over the horizon for the selection
    (f - f / exp(c) per row, summed), with the total forecast they explain. Empty when the
    run has no LightGBM drivers."""
    where, params = _where(f, sel, "f.pin_code", "f.sku_id")
    effects = ", ".join(f"sum(f.forecast - f.forecast / exp(d.{g})) AS {g}"
                        for g in DRIVER_GROUPS)
    df = wh.query(f"""
        SELECT count(*) AS n_rows, sum(f.forecast) AS forecast, {effects}
        FROM forecasts f
        JOIN forecast_drivers d ON d.run_id = f.run_id AND d.sku_id = f.sku_id
             AND d.pin_code = f.pin_code AND d.date = f.date
        LEFT JOIN skus k ON k.sku_id = f.sku_id
        LEFT JOIN locations l ON l.pin_code = f.pin_code
        WHERE f.run_id = ? AND {where}""", [run_id, *params])
    return df if len(df) and int(df["n_rows"].iloc[0]) > 0 else df.iloc[0:0]


def scenario_base(wh: Warehouse, run_id: str, sel: Selection | None = None,
                  f: Filters = Filters()) -> pd.DataFrame:
    """Forecast rows with what a what-if or a scenario needs: category, name, unit cost,
    state, city, festival_uplift (from the drivers, 1 when absent), the planned price
    (drivers' planned price, else the series' last regular price, else the MRP) and the
    regular price (the series' last regular price, else the MRP). `sel` None and empty
    filters: every series of the run."""
    where, params = _where(f, sel, "f.pin_code", "f.sku_id")
    return wh.query(f"""
        WITH last_price AS (
            SELECT sku_id, pin_code, arg_max(coalesce(regular_price, price), date) AS price
            FROM sales_daily GROUP BY 1, 2)
        SELECT f.sku_id, f.pin_code, CAST(f.date AS TIMESTAMP) AS date, f.forecast, f.lo,
               f.hi, f.lo80, f.hi80, f.model, k.category, k.name, k.unit_cost, l.state,
               l.city, coalesce(d.festival_uplift, 1.0) AS festival_uplift,
               coalesce(d.planned_price, p.price, k.mrp) AS price,
               coalesce(p.price, k.mrp) AS regular_price
        FROM forecasts f
        LEFT JOIN forecast_drivers d ON d.run_id = f.run_id AND d.sku_id = f.sku_id
             AND d.pin_code = f.pin_code AND d.date = f.date
        LEFT JOIN last_price p ON p.sku_id = f.sku_id AND p.pin_code = f.pin_code
        LEFT JOIN skus k ON k.sku_id = f.sku_id
        LEFT JOIN locations l ON l.pin_code = f.pin_code
        WHERE f.run_id = ? AND {where}
        ORDER BY f.sku_id, f.pin_code, f.date""", [run_id, *params])


def scenario_series(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """One row per series of a run with what a scenario can select: sku_id, pin_code, name,
    category, state, city, and the run's first and last forecast date of the series
    (first_date, last_date). A few thousand rows, where `scenario_base` reads every
    forecast period."""
    return wh.query("""
        SELECT f.sku_id, f.pin_code, k.name, k.category, l.state, l.city,
               CAST(min(f.date) AS TIMESTAMP) AS first_date,
               CAST(max(f.date) AS TIMESTAMP) AS last_date
        FROM forecasts f
        LEFT JOIN skus k ON k.sku_id = f.sku_id
        LEFT JOIN locations l ON l.pin_code = f.pin_code
        WHERE f.run_id = ?
        GROUP BY ALL ORDER BY f.sku_id, f.pin_code""", [run_id])


# ---- accuracy page -----------------------------------------------------------------------
def backtest_frame(wh: Warehouse, run_id: str, f: Filters) -> pd.DataFrame:
    """Point-level backtest rows of a run with category, city, state, the
    MASE scale (the series' mean absolute seasonal difference, lag 7 days / 52 weeks; lag 1
    when the history is shorter than that) and the RMSSE scale2 (mean squared one-step
    change), over the last 365 periods up to each fold's cutoff (a year of days, seven of
    weeks) from its first sale, periods without sales counting as 0 - the same convention
    as the backtest engine."""
    run = wh.query("SELECT grain, horizon FROM forecast_runs WHERE run_id = ?", [run_id])
    if run.empty:
        raise WarehouseError(f"There is no forecast or backtest run '{run_id}'.")
    weekly = run["grain"].iloc[0] == "W"
    period, season = (7, 52) if weekly else (1, 7)
    where, params = _where(f, None, "b.pin_code", "b.sku_id")
    df = wh.query(f"""
        WITH bt AS (
            SELECT b.model, b.fold, CAST(b.cutoff AS TIMESTAMP) AS cutoff, b.sku_id,
                   b.pin_code, CAST(b.date AS TIMESTAMP) AS date, b.step, b.actual,
                   b.forecast, b.lo, b.hi, b.lo80, b.hi80, k.category, l.city, l.state
            FROM backtests b
            LEFT JOIN skus k ON k.sku_id = b.sku_id
            LEFT JOIN locations l ON l.pin_code = b.pin_code
            WHERE b.run_id = ? AND {where}),
        cuts AS (SELECT DISTINCT CAST(cutoff AS DATE) AS cutoff, sku_id, pin_code FROM bt),
        first AS (SELECT s.sku_id, s.pin_code, min(s.date) AS first_date
                  FROM sales_daily s JOIN (SELECT DISTINCT sku_id, pin_code FROM cuts) c
                    ON c.sku_id = s.sku_id AND c.pin_code = s.pin_code GROUP BY 1, 2),
        grid AS (
            SELECT c.cutoff, c.sku_id, c.pin_code, CAST(g.d AS DATE) AS date
            FROM cuts c JOIN first fs ON fs.sku_id = c.sku_id AND fs.pin_code = c.pin_code,
                 unnest(generate_series(c.cutoff - to_days(CAST(? AS INTEGER)), c.cutoff,
                                        to_days(CAST(? AS INTEGER)))) AS g(d)
            WHERE CAST(g.d AS DATE) >= fs.first_date),
        y AS (
            SELECT g.cutoff, g.sku_id, g.pin_code, g.date, coalesce(s.quantity, 0) AS q
            FROM grid g LEFT JOIN sales_daily s ON s.sku_id = g.sku_id
                 AND s.pin_code = g.pin_code AND s.date = g.date),
        d AS (
            SELECT cutoff, sku_id, pin_code,
                   abs(q - lag(q, {season}) OVER w) AS d_season,
                   abs(q - lag(q, 1) OVER w) AS d_one,
                   power(q - lag(q, 1) OVER w, 2) AS d_one_sq,
                   count(*) OVER (PARTITION BY cutoff, sku_id, pin_code) AS n
            FROM y WINDOW w AS (PARTITION BY cutoff, sku_id, pin_code ORDER BY date)),
        sc AS (
            SELECT cutoff, sku_id, pin_code,
                   CASE WHEN any_value(n) > {season} THEN avg(d_season)
                        ELSE avg(d_one) END AS scale,
                   avg(d_one_sq) AS scale2
            FROM d GROUP BY 1, 2, 3)
        SELECT bt.*, sc.scale, sc.scale2 FROM bt
        LEFT JOIN sc ON sc.cutoff = CAST(bt.cutoff AS DATE) AND sc.sku_id = bt.sku_id
             AND sc.pin_code = bt.pin_code
        ORDER BY bt.model, bt.fold, bt.sku_id, bt.pin_code, bt.date""",
        [run_id, *params, 364 * period, period])
    return df


def worst_series(wh: Warehouse, run_id: str, f: Filters, model: str, n: int = 15
                 ) -> pd.DataFrame:
    """The `n` series with the largest total absolute backtest error (units missed) for
    `model`: sku_id, name, category, pin_code, city, state, actual, forecast, abs_error,
    wape (%), bias_pct (%)."""
    where, params = _where(f, None, "b.pin_code", "b.sku_id")
    return wh.query(f"""
        SELECT b.sku_id, any_value(k.name) AS name, any_value(k.category) AS category,
               b.pin_code, any_value(l.city) AS city, any_value(l.state) AS state,
               sum(b.actual) AS actual, sum(b.forecast) AS forecast,
               sum(abs(b.actual - b.forecast)) AS abs_error,
               100 * sum(abs(b.actual - b.forecast)) / nullif(sum(abs(b.actual)), 0) AS wape,
               100 * (sum(b.forecast) - sum(b.actual)) / nullif(sum(b.actual), 0) AS bias_pct
        FROM backtests b
        LEFT JOIN skus k ON k.sku_id = b.sku_id
        LEFT JOIN locations l ON l.pin_code = b.pin_code
        WHERE b.run_id = ? AND b.model = ? AND {where}
        GROUP BY b.sku_id, b.pin_code
        ORDER BY abs_error DESC, b.sku_id, b.pin_code LIMIT ?""",
        [run_id, model, *params, int(n)])
