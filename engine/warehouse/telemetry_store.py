"""The warehouse facts `/metrics` exports (engine/telemetry.py): small aggregate reads,
whichever process wrote the data (the app, the command line or the API)."""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse


def routing_shares(wh: Warehouse, run_id: str) -> pd.DataFrame:
    """model (the routed model or mix label), share of the run's series (0..1)."""
    return wh.query("SELECT model, count(*) / sum(count(*)) OVER () AS share "
                    "FROM forecast_routing WHERE run_id = ? GROUP BY model ORDER BY model",
                    [run_id])


def newest_live_scores(wh: Warehouse) -> pd.DataFrame:
    """Overall and per-category live scores of the newest run that has any."""
    return wh.query(
        "SELECT run_id, dimension, grp, wape, bias_pct, coverage80, coverage95, "
        "backtest_wape, periods_covered, n_series FROM live_accuracy "
        "WHERE dimension IN ('all', 'category') AND run_id = (SELECT run_id FROM "
        "live_accuracy ORDER BY run_created_at DESC, run_id DESC LIMIT 1)")


def alert_counts(wh: Warehouse) -> pd.DataFrame:
    return wh.query("SELECT rule, status, count(*) AS n FROM alerts GROUP BY rule, status "
                    "ORDER BY rule, status")


def ingest_rows(wh: Warehouse) -> pd.DataFrame:
    """Rows of every stored upload by kind: read, loaded, quarantined, duplicate."""
    return wh.query("SELECT kind, sum(rows_read) AS read, sum(rows_loaded) AS loaded, "
                    "sum(rows_quarantined) AS quarantined, "
                    "sum(duplicates_skipped) AS duplicate FROM ingest_batches GROUP BY kind "
                    "ORDER BY kind")
