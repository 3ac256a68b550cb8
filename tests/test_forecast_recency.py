"""LightGBM on weekly data trains on three years weighted by recency (a one-year half-life);
on daily data on the last 400 days with equal weights (ForecastConfig.train_periods)."""
from __future__ import annotations

import lightgbm
import numpy as np
import pandas as pd

from engine.forecast.config import ForecastConfig
from engine.forecast.runner import fit_predict
from engine.forecast.synthetic import synthetic_sales


def _weekly(weeks: int) -> tuple[pd.DataFrame, object]:
    hist, sig = synthetic_sales(n_skus=2, days=7 * weeks)
    hist["week"] = hist["date"] - pd.to_timedelta(hist["date"].dt.dayofweek, unit="D") \
        + pd.Timedelta(days=6)
    weekly = hist.groupby(["sku_id", "pin_code", "week"], as_index=False)["quantity"].sum() \
        .rename(columns={"week": "date"})
    return weekly, sig


def test_grain_defaults_for_the_training_window():
    w, d = ForecastConfig(grain="W"), ForecastConfig(grain="D")
    assert (w.train_periods, w.half_life) == (156, 52)
    assert (d.train_periods, d.half_life) == (400, None)
    # 0 switches the weighting off; an explicit value wins
    assert ForecastConfig(grain="W", lgb_half_life=0).half_life is None
    assert ForecastConfig(grain="D", lgb_half_life=30).half_life == 30


def _captured_weights(monkeypatch, history, sig, cfg) -> list:
    seen = []
    real = lightgbm.Dataset

    def spy(*args, **kwargs):
        seen.append((kwargs.get("weight"), kwargs.get("label")))
        return real(*args, **kwargs)

    monkeypatch.setattr(lightgbm, "Dataset", spy)
    fit_predict(history, sig, cfg, models=("lightgbm",))
    return seen


def test_weekly_training_rows_are_weighted_by_a_one_year_half_life(monkeypatch):
    weekly, sig = _weekly(weeks=200)
    cutoff = weekly["date"].max() - pd.Timedelta(weeks=6)
    seen = _captured_weights(monkeypatch, weekly, sig,
                             ForecastConfig(horizon=6, workers=1, cutoff=cutoff.date()))
    weight, label = seen[-1]
    assert weight is not None and len(weight) == len(label)
    # weights run from ~1 (the cutoff week) down to ~1/8 (three years back), halving a year
    assert weight.max() <= 1.0 and weight.max() > 0.9
    assert 0.1 < weight.min() < 0.2
    ages = np.log2(1 / weight) * 52
    assert ages.max() <= 156 + 1e-9


def test_daily_training_rows_have_equal_weights(monkeypatch):
    hist, sig = synthetic_sales(n_skus=2, days=120)
    seen = _captured_weights(monkeypatch, hist, sig, ForecastConfig(horizon=7, workers=1))
    assert all(w is None for w, _ in seen)
