"""Routing rules on planted backtests and panels: a segment's best model or mix wins, a
series leaves it only on clear evidence, seasonal naive is never routed to a weekly series
with under two years of history, and interval coverage holds at every horizon step."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.forecast import intervals, router
from engine.forecast.config import ForecastConfig
from engine.forecast.pipeline import forecast_full
from engine.forecast.runner import fit_predict

DAY0 = pd.Timestamp("2025-01-01")


def _backtest(n_series: int, models: dict, seed: int = 1, points: int = 20,
              segment=lambda s: "A") -> pd.DataFrame:
    """Point-level backtest: actual ~ Poisson(8); each model = actual + its bias + noise
    of its scale (models: name -> (bias, noise sd)); two folds of points/2 days."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        for p in range(points):
            a = float(rng.poisson(8))
            fold, day = divmod(p, points // 2)
            for m, (bias, sd) in models.items():
                f = a + (bias(s) if callable(bias) else bias) + rng.normal(0, sd)
                rows.append({"model": m, "fold": fold, "sku_id": f"S{s:03d}",
                             "pin_code": "110001", "segment": segment(s), "actual": a,
                             "date": DAY0 + pd.Timedelta(days=day + 40 * fold),
                             "forecast": max(f, 0.0)})
    return pd.DataFrame(rows)


def test_each_segment_gets_its_best_model():
    bt = _backtest(40, {"good_in_a": (lambda s: 0 if s < 20 else 3, 1.0),
                        "good_in_b": (lambda s: 3 if s < 20 else 0, 1.0)},
                   segment=lambda s: "A" if s < 20 else "B")
    r = router.route(bt, ensemble=False).set_index("sku_id")
    assert (r.loc[r["segment"] == "A", "model"] == "good_in_a").all()
    assert (r.loc[r["segment"] == "B", "model"] == "good_in_b").all()
    assert "lowest backtest error in A" in r.iloc[0]["reason"]
    assert set(json.loads(r.iloc[0]["errors"])) == {"good_in_a", "good_in_b"}


def test_a_mix_of_two_unbiased_noisy_models_beats_either_alone():
    # independent noise: the mean of the two halves the error variance
    bt = _backtest(30, {"one": (0, 3.0), "two": (0, 3.0), "biased": (12, 0.5)})
    r = router.route(bt)
    assert (r["model"] == "ensemble").all()
    assert json.loads(r.iloc[0]["weights"]) == {"one": 0.5, "two": 0.5}
    assert "the mean of one and two" in r.iloc[0]["reason"]
    out = router.combine(bt[bt["fold"] == 0].drop(columns="segment"), r)
    assert set(out["model"]) == {"mix(one+two)"}
    assert router.route(bt, ensemble=False)["model"].isin(["one", "two"]).all()


def test_a_series_leaves_its_segment_choice_only_on_clear_evidence():
    # 'steady' wins the segment; 'special' is better for S000 only, by a wide margin;
    # on S001 it is a hair better (noise): S001 keeps the segment's choice
    def special_bias(s):
        return {0: 0.0, 1: 0.97}.get(s, 6.0)
    bt = _backtest(25, {"steady": (1.0, 0.5), "special": (special_bias, 0.5)}, points=24)
    r = router.route(bt, ensemble=False).set_index("sku_id")
    assert r.loc["S000", "model"] == "special"
    assert "clearly beats its segment's choice" in r.loc["S000", "reason"]
    assert r.loc["S001", "model"] == "steady"
    assert (r.drop(index=["S000"])["model"] == "steady").all()


def test_small_segments_are_pooled_and_new_series_take_their_segments_choice():
    bt = _backtest(24, {"m1": (0, 0.5), "m2": (2, 0.5)},
                   segment=lambda s: "big" if s < 20 else "tiny")
    r = router.route(bt, ensemble=False)
    assert "all segments" in r.loc[r["segment"] == "tiny", "reason"].iloc[0]
    series = pd.DataFrame({"sku_id": ["NEW", "YOUNG"], "pin_code": "110001",
                           "segment": ["big", "big"]})
    young = pd.MultiIndex.from_tuples([("YOUNG", "110001")], names=["sku_id", "pin_code"])
    full = router.fill_unrouted(series, r, default="m2", young=young).set_index("sku_id")
    assert full.loc["NEW", "model"] == "m1" and "segment's choice" in full.loc["NEW", "reason"]
    assert full.loc["YOUNG", "model"] == router.COLD_START_MODEL


def _weekly_panel(weeks: int, n_series: int = 12, seed: int = 4) -> pd.DataFrame:
    """Weekly sales with a strong year-on-year pattern but a level that shifts each year."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-05", periods=weeks, freq="7D")
    season = 1 + 0.6 * np.sin(2 * np.pi * np.arange(weeks) / 52)
    rows = []
    for s in range(n_series):
        level = 20 * (1 + 0.5 * (np.arange(weeks) // 52))     # +50% a year
        q = rng.poisson(level * season)
        rows.append(pd.DataFrame({"sku_id": f"W{s:02d}", "pin_code": "110001",
                                  "date": dates, "quantity": q.astype(float)}))
    return pd.concat(rows, ignore_index=True)


def test_seasonal_naive_is_never_routed_to_a_weekly_series_younger_than_two_years():
    hist = _weekly_panel(weeks=90)          # 1.7 years: last year's week is a poor guide
    res = fit_predict(hist, None, ForecastConfig(horizon=8, workers=1, lgb_rounds=30),
                      models=("seasonal_naive", "moving_average"))
    assert set(res.forecasts["model"]) == {"moving_average"}    # SN gave nothing
    run = forecast_full(hist, None, ForecastConfig(horizon=8, folds=2, workers=1,
                                                   models=("seasonal_naive", "moving_average")))
    assert not run.routing["weights"].str.contains("seasonal_naive").any()
    older = _weekly_panel(weeks=130)        # two full years: SN may compete again
    res = fit_predict(older, None, ForecastConfig(horizon=8, workers=1),
                      models=("seasonal_naive",))
    assert res.covered["seasonal_naive"] == older["sku_id"].nunique()


def test_conformal_bands_hold_their_coverage_at_every_horizon_step():
    # residual spread grows with the step (x3 from step 1 to 12): bands calibrated on
    # horizon thirds would over-cover the near steps and under-cover the far ones
    # and series differ in scale; three backtest folds of 12 weeks a series
    H, n = 12, 1000
    level = np.random.default_rng(8).uniform(1, 5, n)

    def frame(seed, folds):
        r = np.random.default_rng(seed)
        step = np.tile(np.arange(1, H + 1), n * folds)
        sku = np.repeat([f"S{i:03d}" for i in range(n)], H * folds)
        spread = np.repeat(level, H * folds) * (1 + 2 * (step - 1) / (H - 1))
        f = np.full(len(step), 50.0)
        return pd.DataFrame({"sku_id": sku, "pin_code": "110001", "step": step,
                             "fold": np.tile(np.repeat(np.arange(folds), H), n),
                             "forecast": f, "actual": f + r.normal(0, 1, len(step)) * spread,
                             "segment": "A"})
    cal = intervals.calibrate(frame(1, folds=3), H)
    test = intervals.apply(frame(2, folds=1), cal)
    inside = (test["actual"] >= test["lo"]) & (test["actual"] <= test["hi"])
    by_step = inside.groupby(test["step"]).mean()
    assert by_step.between(0.92, 0.98).all(), by_step.round(3).to_dict()
    inside80 = (test["actual"] >= test["lo80"]) & (test["actual"] <= test["hi80"])
    assert inside80.groupby(test["step"]).mean().between(0.75, 0.85).all()


@pytest.mark.parametrize("horizon,folds", [(13, 4), (4, 8), (26, 3)])
def test_weekly_backtests_span_a_year(horizon, folds):
    assert ForecastConfig(horizon=horizon).for_grain("W").folds == folds
    assert ForecastConfig(horizon=horizon).for_grain("D").folds == 3
    assert ForecastConfig().for_grain("W").horizon == 13
    assert ForecastConfig().for_grain("D").horizon == 28
