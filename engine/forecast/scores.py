"""Accuracy tables of a stored backtest, computed once per run, filter and grouping.

Scoring a demo backtest (1.2M model x series x period rows) takes tens of seconds; the
Accuracy page and the API ask for the same tables again and again. `backtest_scores`
reads the backtest once, scores every grouping the Accuracy page shows in one pass
(`metrics.score_many`: the per-row terms are computed once), and stores each table
(engine/warehouse/results.py) until the forecasts or sales change. `warm` computes the
unfiltered tables of a run ahead of time (after a forecast run, and when the demo is
seeded), so the page's first view reads them back; `series_scores` does the same for the
per-series accuracy the REST API returns with each forecast.
"""
from __future__ import annotations

import pandas as pd

from engine.forecast.metrics import score, score_many
from engine.warehouse import api_store
from engine.warehouse import forecast_queries as fq
from engine.warehouse import results
from engine.warehouse.queries import Filters

DEPENDS = ("sales", "forecasts")
METHOD = "2026-12"
# The groupings the Accuracy page shows: the league table, one tab per dimension, and
# per-series errors for the spread histogram.
PAGE_GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("model",), ("model", "category"), ("model", "state"), ("model", "city"),
    ("model", "step"), ("model", "sku_id", "pin_code"))


def _params(run_id: str, f: Filters, by: tuple[str, ...]) -> dict:
    # The backtest frame ignores the date range (folds fix the dates), so it is not a key.
    return {"method": METHOD, "run": run_id, "by": list(by), "states": list(f.states),
            "cities": list(f.cities), "categories": list(f.categories),
            "scope": None if f.pin_scope is None else sorted(f.pin_scope)}


def backtest_scores(wh, run_id: str, f: Filters, by: tuple[str, ...]) -> pd.DataFrame:
    """`metrics.score` of run `run_id`'s backtest under filters `f`, grouped by `by`;
    stored per version of the sales and forecasts."""
    by = tuple(by)
    groupings = tuple(dict.fromkeys((*PAGE_GROUPINGS, by)))
    fresh: dict[tuple[str, ...], pd.DataFrame] = {}

    def compute(grouping: tuple[str, ...]) -> pd.DataFrame:
        if not fresh:
            fresh.update(score_many(fq.backtest_frame(wh, run_id, f), groupings))
        return fresh[grouping]

    table = results.stored(wh, "backtest_scores", _params(run_id, f, by), DEPENDS,
                           lambda: compute(by))
    if fresh:       # computed just now: store the page's other tables from the same pass
        version = wh.data_version(*DEPENDS)
        for grouping in groupings:
            if grouping != by:
                results.write(wh, "backtest_scores", _params(run_id, f, grouping), version,
                              fresh[grouping])
    return table


def series_scores(wh, run_id: str) -> pd.DataFrame:
    """Backtest metrics per series of run `run_id` (sku_id, pin_code, model) for the model
    each series' forecast used - the accuracy the REST API returns with a forecast;
    stored like the page's tables."""
    return results.stored(
        wh, "series_scores", {"method": METHOD, "run": run_id}, DEPENDS,
        lambda: score(api_store.accuracy_backtests(wh, run_id),
                      by=["sku_id", "pin_code", "model"]))


def warm(wh, run_id: str) -> None:
    """Compute and store the unfiltered tables of run `run_id`: what the Accuracy page
    shows first, and the per-series accuracy the API returns."""
    backtest_scores(wh, run_id, Filters(), PAGE_GROUPINGS[0])
    series_scores(wh, run_id)
