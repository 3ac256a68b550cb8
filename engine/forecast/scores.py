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

import threading
from collections import OrderedDict

import pandas as pd

from engine.forecast.metrics import score, score_like_for_like, score_many, series_coverage
from engine.warehouse import backtests
from engine.warehouse import results
from engine.warehouse.sql import Filters

DEPENDS = ("sales", "forecasts")
METHOD = "2026-12"
# The groupings the Accuracy page shows: the league table, one tab per dimension, and
# per-series errors for the spread histogram.
DIMENSIONS = ("category", "state", "city", "step")
PAGE_GROUPINGS: tuple[tuple[str, ...], ...] = (
    ("model",), *(("model", d) for d in DIMENSIONS), ("model", "sku_id", "pin_code"))

# The last backtest frames read, shared by the tables computed in one page view.
_FRAMES: OrderedDict = OrderedDict()
_FRAMES_LOCK = threading.Lock()


def _frame(wh, run_id: str, f: Filters) -> pd.DataFrame:
    key = (wh.data_version(*DEPENDS), run_id, f.states, f.cities, f.categories, f.pin_scope)
    with _FRAMES_LOCK:
        if key in _FRAMES:
            _FRAMES.move_to_end(key)
            return _FRAMES[key]
    frame = backtests.backtest_frame(wh, run_id, f)
    with _FRAMES_LOCK:
        _FRAMES[key] = frame
        while len(_FRAMES) > 2:
            _FRAMES.popitem(last=False)
    return frame


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
            fresh.update(score_many(_frame(wh, run_id, f), groupings))
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


def coverage(wh, run_id: str, f: Filters) -> pd.DataFrame:
    """`metrics.series_coverage` of the run's backtest under `f` (which models forecast
    which series), stored."""
    return results.stored(wh, "backtest_coverage", _params(run_id, f, ()), DEPENDS,
                          lambda: series_coverage(_frame(wh, run_id, f)))


def like_for_like(wh, run_id: str, f: Filters, models: tuple[str, ...],
                  by: tuple[str, ...]) -> pd.DataFrame:
    """`metrics.score_like_for_like` of `models` (on the points all of them forecast),
    grouped by `by`, stored."""
    params = {**_params(run_id, f, tuple(by)), "models": list(models)}
    return results.stored(wh, "backtest_like_for_like", params, DEPENDS,
                          lambda: score_like_for_like(_frame(wh, run_id, f), list(models),
                                                      by=list(by)))


def compared_models(cov: pd.DataFrame, basis: str, model: str | None = None
                    ) -> tuple[str, ...]:
    """The models a like-with-like score covers: 'common' = all of them (on the series they
    all forecast), 'all' = those that forecast every series, 'pair' = `model` and
    same-as-last-season (the breakdown charts)."""
    present = cov["model"].tolist()
    if basis == "pair":
        return tuple(m for m in dict.fromkeys((model, "seasonal_naive")) if m in present)
    if basis == "all":
        return tuple(cov.loc[cov["all_series"], "model"])
    return tuple(present)


def default_basis(cov: pd.DataFrame) -> str:
    """The comparison the Accuracy page opens with: every model on the series all of them
    forecast ('common'), or 'all' when every model forecast every series."""
    return "all" if len(cov) and bool(cov["all_series"].all()) else "common"


def default_model(models: list[str]) -> str | None:
    """The model whose breakdowns the page opens with: the routed pick when present."""
    return "routed" if "routed" in models else (models[0] if models else None)


def series_scores(wh, run_id: str) -> pd.DataFrame:
    """Backtest metrics per series of run `run_id` (sku_id, pin_code, model) for the model
    each series' forecast used - the accuracy the REST API returns with a forecast;
    stored like the page's tables."""
    return results.stored(
        wh, "series_scores", {"method": METHOD, "run": run_id}, DEPENDS,
        lambda: score(backtests.accuracy_backtests(wh, run_id),
                      by=["sku_id", "pin_code", "model"]))


def warm(wh, run_id: str) -> None:
    """Compute and store the unfiltered tables of run `run_id`: what the Accuracy page
    shows first (its default comparison and breakdowns), and the per-series accuracy the
    API returns."""
    f = Filters()
    models = backtest_scores(wh, run_id, f, PAGE_GROUPINGS[0])["model"].tolist()
    cov = coverage(wh, run_id, f)
    like_for_like(wh, run_id, f, compared_models(cov, default_basis(cov)), ("model",))
    pair = compared_models(cov, "pair", default_model(models))
    for dim in DIMENSIONS:
        like_for_like(wh, run_id, f, pair, ("model", dim))
    series_scores(wh, run_id)
