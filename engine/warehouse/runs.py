"""Forecast runs (the `forecast_runs` table): which runs count, which is the latest, and
the lists of runs the live accuracy and the Accuracy page read.

One question, one query: every reader of "the latest forecast run" - the forecast, pricing,
reorder, map, alerts, scenarios, assistant and telemetry code, the API, the pages'
accessors and the CLI - calls `latest_forecast_run`, and every query over forecast_runs
that must skip a failed or unfinished run uses `counted_run`. No pandas import at module
level (an upload asks `has_forecast_runs` after every load)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.warehouse.db import Warehouse

if TYPE_CHECKING:
    import pandas as pd


def counted_run(alias: str = "") -> str:
    """SQL condition: the forecast_runs row (table alias `alias`, or none) is a run that
    counts - it finished ('ok'), or its status was never set (rows written before runs had
    one, or by hand). A 'failed' or 'running' run, or any other status, does not count:
    its rows are never read as the forecast or the backtest."""
    col = f"{alias}.status" if alias else "status"
    return f"coalesce({col}, 'ok') = 'ok'"


def latest_forecast_run(wh: Warehouse, kind: str = "forecast") -> dict | None:
    """The one answer to "which run is the latest?": the newest run of `kind` ('forecast' or
    'backtest') that counts (`counted_run`), newest by created_at then run_id, or None.
    Keys: run_id, created_at, kind, grain, cutoff, horizon, n_series, status, and models,
    config and timings parsed from their JSON ({} when unreadable). Every caller - engine,
    API, pages' accessors, CLI - asks this function."""
    df = wh.query("SELECT run_id, created_at, kind, grain, CAST(cutoff AS TIMESTAMP) AS cutoff, "
                  "horizon, n_series, models, config, timings, status FROM forecast_runs "
                  f"WHERE kind = ? AND {counted_run()} "
                  "ORDER BY created_at DESC, run_id DESC LIMIT 1", [kind])
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    for key in ("models", "config", "timings"):
        try:
            row[key] = json.loads(row[key]) if row[key] else {}
        except (TypeError, ValueError):
            row[key] = {}
    return row


def forecast_runs(wh: Warehouse) -> pd.DataFrame:
    """Every stored forecast run that counts (runs.counted_run) with its horizon window:
    run_id, created_at, grain, cutoff, horizon, first_date, last_date."""
    return wh.query(
        "SELECT r.run_id, r.created_at, r.grain, CAST(r.cutoff AS TIMESTAMP) AS cutoff, "
        "r.horizon, CAST(w.first_date AS TIMESTAMP) AS first_date, "
        "CAST(w.last_date AS TIMESTAMP) AS last_date FROM forecast_runs r JOIN ("
        "  SELECT run_id, min(date) AS first_date, max(date) AS last_date FROM forecasts "
        "  GROUP BY run_id) w USING (run_id) "
        f"WHERE r.kind = 'forecast' AND {counted_run('r')} ORDER BY r.created_at, r.run_id")


def has_forecast_runs(wh: Warehouse) -> bool:
    """Any stored forecast run that counts (pandas-free: an upload asks it after every load)."""
    return bool(wh.scalar("SELECT count(*) FROM forecast_runs WHERE kind = 'forecast' AND "
                          + counted_run()))


def run_exists(wh: Warehouse, run_id: str) -> bool:
    return bool(wh.scalar("SELECT count(*) FROM forecast_runs WHERE run_id = ? AND "
                          "kind = 'forecast'", [run_id]))


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
