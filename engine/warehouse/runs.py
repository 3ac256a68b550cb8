"""Forecast runs (the `forecast_runs` table): which runs count and which is the latest.

One question, one query: every reader of "the latest forecast run" - the forecast, pricing,
reorder, map, alerts, scenarios, assistant and telemetry code, the API, the pages'
accessors and the CLI - calls `latest_forecast_run`, and every query over forecast_runs
that must skip a failed or unfinished run uses `counted_run`. No pandas import at module
level (an upload asks `live_store.has_forecast_runs` after every load)."""
from __future__ import annotations

import json

from engine.warehouse.db import Warehouse


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
