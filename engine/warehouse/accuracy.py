"""Live accuracy (`live_accuracy`): stored forecast runs scored against the sales that
arrived after them.

Every forecast run is kept (nothing deletes `forecast_runs` / `forecasts` rows), so any run
can be scored again whenever sales land. A run's horizon period counts as *covered* once
the warehouse's sales reach it (`date <= max(sales_daily.date)`); inside covered periods a
series without a `sales_daily` row sold nothing (actual 0), as everywhere else in
MicroPulse. Scores are kept in `live_accuracy`, one row per run x dimension x group
(dimension `all`, `category`, `state`, `step`), with the run's own backtest WAPE (its
`routed` backtest rows) on the same grouping, written in one transaction touching only the
`live_accuracy` domain. Engine logic (what to rescore, drift, sentences) is in
engine/forecast/live.py."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from engine.warehouse.db import Warehouse
from engine.warehouse.sql import insert_frame

if TYPE_CHECKING:
    import pandas as pd


DIMENSIONS = ("category", "state", "step")
COLUMNS = ["run_id", "dimension", "grp", "n_series", "n_periods", "n_points", "actual_sum",
           "forecast_sum", "abs_error_sum", "wape", "bias_pct", "coverage80", "coverage95",
           "backtest_wape", "actuals_through", "periods_covered", "horizon", "grain",
           "cutoff", "run_created_at", "sales_version", "scored_at"]
# GROUPING(category, state, step) bit pattern -> dimension: 0b111 = all rolled up.
_GROUPING = {7: "all", 3: "category", 5: "state", 6: "step"}
_SETS = "GROUPING SETS ((run_id), (run_id, category), (run_id, state), (run_id, step))"
_GROUP_VALUE = ("CASE GROUPING(category, state, step) WHEN 3 THEN category WHEN 5 THEN state "
                "WHEN 6 THEN CAST(step AS VARCHAR) ELSE '' END")


def stored_state(wh: Warehouse) -> pd.DataFrame:
    """Per scored run: its stored sales_version and how far its actuals reached."""
    return wh.query("SELECT run_id, any_value(sales_version) AS sales_version, "
                    "CAST(max(actuals_through) AS TIMESTAMP) AS actuals_through "
                    "FROM live_accuracy WHERE dimension = 'all' GROUP BY run_id")


def live_points(wh: Warehouse, run_ids: list[str], through) -> pd.DataFrame:
    """Point-level frame of the runs' covered periods: run_id, sku_id, pin_code, date,
    step, category, state, actual (0 when no sales row), forecast, lo, hi, lo80, hi80,
    price (the day's selling price, else the SKU's MRP) (for tests and recomputation;
    `score_runs` and `pin_scores` aggregate the same rows in SQL)."""
    sql, params = _points_sql(run_ids, through)
    return wh.query(sql + " ORDER BY run_id, sku_id, pin_code, date", params)


def _points_sql(run_ids: list[str], through) -> tuple[str, list]:
    import pandas as pd

    sql = (
        "WITH f AS (SELECT run_id, sku_id, pin_code, date, forecast, lo, hi, lo80, hi80, "
        "  dense_rank() OVER (PARTITION BY run_id ORDER BY date) AS step FROM forecasts "
        "  WHERE run_id IN (SELECT unnest(?::VARCHAR[]))) "
        "SELECT f.run_id, f.sku_id, f.pin_code, CAST(f.date AS TIMESTAMP) AS date, "
        "CAST(f.step AS INTEGER) AS step, coalesce(k.category, 'Uncategorised') AS category, "
        "coalesce(l.state, 'Unknown') AS state, coalesce(s.quantity, 0.0) AS actual, "
        "f.forecast, f.lo, f.hi, f.lo80, f.hi80, coalesce(s.price, k.mrp) AS price FROM f "
        "LEFT JOIN sales_daily s ON s.sku_id = f.sku_id AND s.pin_code = f.pin_code "
        "  AND s.date = f.date "
        "LEFT JOIN skus k ON k.sku_id = f.sku_id "
        "LEFT JOIN locations l ON l.pin_code = f.pin_code "
        "WHERE f.date <= ?")
    return sql, [list(run_ids), pd.Timestamp(through).date()]


def score_runs(wh: Warehouse, run_ids: list[str], through) -> pd.DataFrame:
    """Live scores of `run_ids` on their periods up to `through`, by every grouping, plus
    each grouping's backtest WAPE of the run's routed forecast. One row per run x
    dimension x grp (COLUMNS up to backtest_wape, plus `actuals_through`)."""
    import pandas as pd

    if not run_ids or through is None:
        return pd.DataFrame(columns=COLUMNS[:15])
    points, params = _points_sql(run_ids, through)
    live = wh.query(
        f"WITH p AS ({points}) SELECT run_id, GROUPING(category, state, step) AS g, "
        f"{_GROUP_VALUE} AS grp, "
        "count(DISTINCT (sku_id, pin_code)) AS n_series, count(DISTINCT date) AS n_periods, "
        "count(*) AS n_points, sum(actual) AS actual_sum, sum(forecast) AS forecast_sum, "
        "sum(abs(actual - forecast)) AS abs_error_sum, "
        "100.0 * avg(CASE WHEN lo80 IS NULL OR hi80 IS NULL THEN NULL "
        "  WHEN actual >= lo80 AND actual <= hi80 THEN 1.0 ELSE 0.0 END) AS coverage80, "
        "100.0 * avg(CASE WHEN lo IS NULL OR hi IS NULL THEN NULL "
        "  WHEN actual >= lo AND actual <= hi THEN 1.0 ELSE 0.0 END) AS coverage95, "
        "CAST(max(date) AS TIMESTAMP) AS actuals_through "
        f"FROM p GROUP BY {_SETS}", params)
    backtest = wh.query(
        "SELECT b.run_id, GROUPING(category, state, step) AS g, "
        f"{_GROUP_VALUE} AS grp, 100.0 * sum(abs(b.actual - b.forecast)) / "
        "nullif(sum(abs(b.actual)), 0) AS backtest_wape FROM ("
        "  SELECT b.run_id, b.actual, b.forecast, CAST(b.step AS INTEGER) AS step, "
        "  coalesce(k.category, 'Uncategorised') AS category, "
        "  coalesce(l.state, 'Unknown') AS state FROM backtests b "
        "  LEFT JOIN skus k ON k.sku_id = b.sku_id "
        "  LEFT JOIN locations l ON l.pin_code = b.pin_code "
        "  WHERE b.model = 'routed' AND b.run_id IN (SELECT unnest(?::VARCHAR[])) "
        "  AND b.actual IS NOT NULL) b "
        f"GROUP BY {_SETS}", [list(run_ids)])
    out = live.merge(backtest, on=["run_id", "g", "grp"], how="left")
    out["dimension"] = out["g"].map(_GROUPING)
    out = out.drop(columns="g")
    with_actuals = out["actual_sum"].abs() > 0
    out["wape"] = (100.0 * out["abs_error_sum"] / out["actual_sum"].abs()).where(with_actuals)
    out["bias_pct"] = (100.0 * (out["forecast_sum"] - out["actual_sum"])
                       / out["actual_sum"].abs()).where(with_actuals)
    return out


_PERIOD_SETS = ("GROUPING SETS ((run_id, week), (run_id, week, category), "
                "(run_id, week, state), (run_id, step))")
_PERIOD_DIM = ("CASE GROUPING(week, category, state, step) WHEN 7 THEN 'all' WHEN 3 THEN "
               "'category' WHEN 5 THEN 'state' ELSE 'step' END")
_PERIOD_GROUP = ("CASE GROUPING(week, category, state, step) WHEN 3 THEN category WHEN 5 "
                 "THEN state WHEN 14 THEN CAST(step AS VARCHAR) ELSE '' END")


def period_scores(wh, run_ids: list[str], through) -> pd.DataFrame:
    """The runs' live scores week by week (the Accuracy page's timeline): one row per
    run x week (Monday) for dimension 'all', 'category' and 'state', and per run x
    horizon step for dimension 'step' (week empty): run_id, dimension, grp, week,
    n_series, n_periods, actual_sum, forecast_sum, abs_error_sum, wape, bias_pct,
    coverage80, coverage95. Read through the handle it is given, so a PIN-scoped handle
    scores that user's PIN codes only."""
    import pandas as pd

    if not run_ids or through is None:
        return pd.DataFrame()
    points, params = _points_sql(run_ids, through)
    return wh.query(
        f"WITH p AS (SELECT *, CAST(date_trunc('week', date) AS DATE) AS week FROM ({points})) "
        f"SELECT run_id, {_PERIOD_DIM} AS dimension, {_PERIOD_GROUP} AS grp, "
        "CAST(week AS TIMESTAMP) AS week, count(DISTINCT (sku_id, pin_code)) AS n_series, "
        "count(DISTINCT date) AS n_periods, sum(actual) AS actual_sum, "
        "sum(forecast) AS forecast_sum, sum(abs(actual - forecast)) AS abs_error_sum, "
        "100.0 * sum(abs(actual - forecast)) / nullif(abs(sum(actual)), 0) AS wape, "
        "100.0 * (sum(forecast) - sum(actual)) / nullif(abs(sum(actual)), 0) AS bias_pct, "
        "100.0 * avg(CASE WHEN lo80 IS NULL OR hi80 IS NULL THEN NULL "
        "  WHEN actual >= lo80 AND actual <= hi80 THEN 1.0 ELSE 0.0 END) AS coverage80, "
        "100.0 * avg(CASE WHEN lo IS NULL OR hi IS NULL THEN NULL "
        "  WHEN actual >= lo AND actual <= hi THEN 1.0 ELSE 0.0 END) AS coverage95 "
        f"FROM p GROUP BY {_PERIOD_SETS} ORDER BY run_id, dimension, grp, week", params)


def pin_scores(wh: Warehouse, run_id: str, through) -> pd.DataFrame:
    """One run's live scores per PIN code on its periods up to `through`: pin_code, state,
    n_series, n_periods, actual_sum, forecast_sum, abs_error_sum, error_value (units
    missed x the day's price, else MRP; None when no price is known), wape, bias_pct,
    backtest_wape (the run's routed backtest at that PIN), actuals_through."""
    points, params = _points_sql([run_id], through)
    return wh.query(
        f"WITH p AS ({points}), live AS (SELECT pin_code, any_value(state) AS state, "
        "count(DISTINCT (sku_id, pin_code)) AS n_series, count(DISTINCT date) AS n_periods, "
        "sum(actual) AS actual_sum, sum(forecast) AS forecast_sum, "
        "sum(abs(actual - forecast)) AS abs_error_sum, "
        "sum(abs(actual - forecast) * price) AS error_value, "
        "CAST(max(date) AS TIMESTAMP) AS actuals_through FROM p GROUP BY pin_code), "
        "bt AS (SELECT pin_code, 100.0 * sum(abs(actual - forecast)) / "
        "nullif(sum(abs(actual)), 0) AS backtest_wape FROM backtests WHERE run_id = ? "
        "AND model = 'routed' AND actual IS NOT NULL GROUP BY pin_code) "
        "SELECT live.*, 100.0 * abs_error_sum / nullif(abs(actual_sum), 0) AS wape, "
        "100.0 * (forecast_sum - actual_sum) / nullif(abs(actual_sum), 0) AS bias_pct, "
        "bt.backtest_wape FROM live LEFT JOIN bt USING (pin_code) ORDER BY pin_code",
        [*params, run_id])


def replace_scores(wh: Warehouse, frame: pd.DataFrame, run_ids: list[str],
                   sales_version: str) -> None:
    """Replace the stored scores of `run_ids` with `frame` and stamp every stored row with
    `sales_version` (runs not rescored were unaffected by the sales change), in one
    transaction touching the live_accuracy domain."""
    import pandas as pd

    data = frame.copy()
    data["sales_version"] = sales_version
    data["scored_at"] = datetime.now()
    for col in COLUMNS:
        if col not in data:
            data[col] = None
    data = data[COLUMNS]
    for col in ("actuals_through", "cutoff"):
        data[col] = pd.to_datetime(data[col]).dt.date
    with wh.transaction(touches=("live_accuracy",)) as cur:
        cur.execute("DELETE FROM live_accuracy WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
                    [list(run_ids)])
        insert_frame(cur, "live_accuracy", COLUMNS, data)
        cur.execute("UPDATE live_accuracy SET sales_version = ?", [sales_version])


def read_scores(wh: Warehouse, run_id: str | None = None) -> pd.DataFrame:
    """Stored live scores (every run, or one), newest run first."""
    import pandas as pd

    sql = (f"SELECT {', '.join(COLUMNS)} FROM live_accuracy"
           + (" WHERE run_id = ?" if run_id else "")
           + " ORDER BY run_created_at DESC, run_id, dimension, grp")
    df = wh.query(sql, [run_id] if run_id else [])
    for col in ("actuals_through", "cutoff"):
        df[col] = pd.to_datetime(df[col])
    return df


def newest_live_scores(wh: Warehouse) -> pd.DataFrame:
    """Overall and per-category live scores of the newest run that has any."""
    return wh.query(
        "SELECT run_id, dimension, grp, wape, bias_pct, coverage80, coverage95, "
        "backtest_wape, periods_covered, n_series FROM live_accuracy "
        "WHERE dimension IN ('all', 'category') AND run_id = (SELECT run_id FROM "
        "live_accuracy ORDER BY run_created_at DESC, run_id DESC LIMIT 1)")
