"""Backtests (`backtests`): the point rows a forecast or backtest run scored its
models on, read for the Accuracy page (with the MASE/RMSSE scales), the Forecast page's
selection, the API's accuracy endpoint, the reorder plan's residuals and the alert rules."""
from __future__ import annotations

from datetime import date

import pandas as pd

from engine.warehouse.db import Warehouse, WarehouseError
from engine.warehouse.sql import Filters, Selection, selection_where


BACKTEST_COLUMNS = ["model", "fold", "cutoff", "sku_id", "pin_code", "date", "step", "actual",
                    "forecast", "lo", "hi", "lo80", "hi80"]


def read_backtests(wh: Warehouse, run_id: str) -> pd.DataFrame:
    return wh.query("SELECT model, fold, CAST(cutoff AS TIMESTAMP) AS cutoff, sku_id, pin_code, "
                    "CAST(date AS TIMESTAMP) AS date, step, actual, forecast, lo, hi, lo80, "
                    "hi80 FROM backtests WHERE run_id = ? "
                    "ORDER BY model, fold, sku_id, pin_code, date", [run_id])


def accuracy_backtests(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """Point-level backtest rows of a run for the model each series' forecast used: the
    'routed' rows when the run routed per series, else the rows of the model stored in
    `forecasts` for that series."""
    return wh.query("""
        WITH routed AS (SELECT count(*) > 0 AS yes FROM backtests
                        WHERE run_id = ? AND model = 'routed'),
             used AS (SELECT DISTINCT sku_id, pin_code, model FROM forecasts WHERE run_id = ?)
        SELECT b.model, b.fold, b.sku_id, b.pin_code, b.date, b.step, b.actual, b.forecast,
               b.lo, b.hi, b.lo80, b.hi80
        FROM backtests b, routed
        WHERE b.run_id = ? AND (
            (routed.yes AND b.model = 'routed') OR
            (NOT routed.yes AND EXISTS (SELECT 1 FROM used u WHERE u.sku_id = b.sku_id
                                        AND u.pin_code = b.pin_code AND u.model = b.model)))
        """, [run_id, run_id, run_id])


def selection_backtest(wh: Warehouse, run_id: str, sel: Selection, f: Filters
                       ) -> pd.DataFrame:
    """The run's routed backtest summed over the selection: fold, date, actual, forecast,
    n_series (one row per fold and date); empty when the run stored no backtest."""
    where, params = selection_where(f, sel, "b.pin_code", "b.sku_id")
    return wh.query(f"""
        SELECT b.fold, CAST(b.date AS TIMESTAMP) AS date, sum(b.actual) AS actual,
               sum(b.forecast) AS forecast, count(*) AS n_series
        FROM backtests b
        LEFT JOIN skus k ON k.sku_id = b.sku_id
        LEFT JOIN locations l ON l.pin_code = b.pin_code
        WHERE b.run_id = ? AND b.model = 'routed' AND {where}
        GROUP BY 1, 2 ORDER BY 1, 2""", [run_id, *params])


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
    where, params = selection_where(f, None, "b.pin_code", "b.sku_id")
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
    where, params = selection_where(f, None, "b.pin_code", "b.sku_id")
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


POINT_COLUMNS = ["run_id", "model", "sku_id", "pin_code", "fold", "step", "date", "actual",
                 "forecast"]


def backtest_errors(wh: Warehouse, run_ids: list[str], model: str | None = None
                    ) -> pd.DataFrame:
    """Backtest points with both an actual and a forecast of `run_ids` (optionally one
    model): POINT_COLUMNS (the reorder plan's safety stock is built from actual - forecast,
    the forecast-accuracy alert compares their WAPE with the live one)."""
    if not run_ids:
        return pd.DataFrame(columns=POINT_COLUMNS)
    return wh.query(f"SELECT {', '.join(POINT_COLUMNS)} FROM backtests "
                    "WHERE list_contains(?, run_id) AND actual IS NOT NULL "
                    "AND forecast IS NOT NULL AND (CAST(? AS VARCHAR) IS NULL OR model = ?)",
                    [list(run_ids), model, model])


def backtest_models(wh: Warehouse, run_id: str) -> list[str]:
    """Model names with backtest rows in one run."""
    return wh.query("SELECT DISTINCT model FROM backtests WHERE run_id = ? ORDER BY 1",
                    [run_id])["model"].tolist()

