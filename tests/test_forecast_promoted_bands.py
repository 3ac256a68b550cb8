"""Intervals for planned promotion steps: promoted steps err more (and more to one side)
than ordinary ones, so with enough of them in the backtest they are calibrated apart
(engine.forecast.intervals, Mondrian conformal); the runner flags a step planned as a
promotion, and a plan run's bands follow the flag."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast import intervals
from engine.forecast.config import ForecastConfig
from engine.forecast.pipeline import forecast_full
from engine.forecast.plan import actual_plan
from engine.forecast.runner import fit_predict

H, N = 12, 1000
LEVEL = np.random.default_rng(8).uniform(1, 5, N)


def _residuals(seed: int, folds: int, promo_share: float = 0.15) -> pd.DataFrame:
    """Backtest-shaped residuals of N series x H steps x folds: ordinary steps err
    N(0, 1) x the series' level; promoted steps (a random `promo_share`) err 3x as much
    and to the upside (a lognormal lift the forecast misses half of)."""
    r = np.random.default_rng(seed)
    n = N * H * folds
    step = np.tile(np.arange(1, H + 1), N * folds)
    sku = np.repeat([f"S{i:04d}" for i in range(N)], H * folds)
    spread = np.repeat(LEVEL, H * folds)
    promoted = r.random(n) < promo_share
    noise = np.where(promoted, 3 * (r.lognormal(0, 0.6, n) - np.exp(0.18)),
                     r.normal(0, 1, n))
    f = np.full(n, 50.0)
    return pd.DataFrame({"sku_id": sku, "pin_code": "110001", "step": step,
                         "fold": np.tile(np.repeat(np.arange(folds), H), N),
                         "forecast": f, "actual": f + noise * spread, "segment": "A",
                         "promoted": promoted})


def _coverage(frame: pd.DataFrame, rows: np.ndarray, lo: str = "lo", hi: str = "hi") -> float:
    f = frame[rows]
    return float(((f["actual"] >= f[lo]) & (f["actual"] <= f[hi])).mean())


def test_promoted_steps_get_their_own_band_where_the_pooled_one_under_covers():
    train, test = _residuals(1, folds=3), _residuals(2, folds=1)
    promo = test["promoted"].to_numpy()
    cal = intervals.calibrate(train, H)
    assert cal.n_promoted == int(train["promoted"].sum()) and cal.promoted is not None
    got = intervals.apply(test, cal)
    pooled = intervals.apply(test, intervals.calibrate(train.drop(columns="promoted"), H))
    # the pooled band (calibrated on every step alike) misses many promoted steps
    assert _coverage(pooled, promo) < 0.88
    assert 0.93 <= _coverage(got, promo) <= 0.97
    assert 0.75 <= _coverage(got, promo, "lo80", "hi80") <= 0.85
    # ordinary steps, calibrated on ordinary residuals alone, stay near nominal
    assert 0.93 <= _coverage(got, ~promo) <= 0.97
    assert 0.93 <= _coverage(got, np.ones(len(got), bool)) <= 0.97
    # at every step, not only on average over the horizon
    inside = (got["actual"] >= got["lo"]) & (got["actual"] <= got["hi"])
    assert inside[promo].groupby(got["step"][promo]).mean().min() >= 0.90
    # the promoted band is skewed as the errors are: more room above than below
    p = got[promo]
    assert ((p["hi"] - p["forecast"]) > 1.5 * (p["forecast"] - p["lo"])).mean() > 0.9
    # the point forecast is untouched
    assert np.array_equal(got["forecast"], test["forecast"])


def test_too_few_promoted_steps_fall_back_to_the_pooled_calibration():
    train = _residuals(1, folds=3)
    flagged = np.flatnonzero(train["promoted"].to_numpy())
    few = train.assign(promoted=False)
    few.loc[flagged[: intervals.MIN_POOL - 1], "promoted"] = True     # one short
    cal = intervals.calibrate(few, H)
    assert cal.promoted is None and cal.n_promoted == 0
    test = _residuals(2, folds=1)
    got = intervals.apply(test, cal)
    pooled = intervals.apply(test, intervals.calibrate(few.drop(columns="promoted"), H))
    for col in ("lo", "hi", "lo80", "hi80"):
        assert np.allclose(got[col], pooled[col])
    enough = few.copy()
    enough.loc[flagged[: intervals.MIN_POOL], "promoted"] = True
    assert intervals.calibrate(enough, H).n_promoted == intervals.MIN_POOL


def test_cross_conformal_calibrates_promoted_backtest_steps_apart():
    bt = _residuals(3, folds=4).assign(model="routed")
    promo = bt["promoted"].to_numpy()
    got = intervals.cross_conformal(bt, H)
    pooled = intervals.cross_conformal(bt.drop(columns="promoted"), H)
    assert _coverage(pooled, promo) < 0.88
    assert 0.93 <= _coverage(got, promo) <= 0.97
    assert 0.93 <= _coverage(got, ~promo) <= 0.97


def _promo_history(weeks=120, n_series=90, lift=3.0, seed=11):
    """Weekly series with promotions (price -25%, 25% of weeks) that lift sales `lift`x
    with the noise of a lift that varies from one promotion to the next."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-07", periods=weeks, freq="7D")
    rows = []
    for i in range(n_series):
        base = rng.uniform(20, 60)
        promo = rng.random(weeks) < 0.25
        mult = np.where(promo, lift * rng.lognormal(0, 0.4, weeks), 1.0)
        q = rng.poisson(base * mult)
        rows.append(pd.DataFrame({"sku_id": f"S{i:02d}", "pin_code": "110001", "date": dates,
                                  "quantity": q.astype(float),
                                  "price": np.where(promo, 75.0, 100.0),
                                  "regular_price": 100.0, "promo": promo}))
    return pd.concat(rows, ignore_index=True)


CFG = ForecastConfig(horizon=6, workers=1, lgb_rounds=60, folds=2,
                     models=("moving_average", "lightgbm"))


def _plan(skus, dates, promo: float, price: float) -> pd.DataFrame:
    return pd.DataFrame({"sku_id": np.repeat(skus, len(dates)), "pin_code": "110001",
                         "date": np.tile(dates, len(skus)), "price": price,
                         "discount_pct": np.nan, "promo": promo,
                         "promo_type": "price_cut" if promo else "none", "plan_share": 1.0,
                         "plan_version": 1})


def test_the_runner_flags_steps_planned_as_a_promotion():
    hist = _promo_history(n_series=6)
    cutoff = hist["date"].max()
    future = pd.date_range(cutoff + pd.Timedelta(days=7), periods=6, freq="7D")
    plan = pd.concat([_plan(["S00"], future[:2], 1.0, 75.0),       # promoted
                      _plan(["S01"], future[:2], 0.0, 100.0)])     # planned, no promotion
    fc = fit_predict(hist, None, CFG.with_(grain="W"), future_prices=plan).forecasts
    for model in CFG.models:
        m = fc[fc["model"] == model]
        assert set(m.loc[m["promoted"], "sku_id"]) == {"S00"}
        assert m["promoted"].sum() == 2
        assert (m.loc[m["promoted"], "planned"]).all()
        assert m.loc[m["sku_id"] == "S01", "planned"].sum() == 2


def test_a_plan_run_covers_its_promoted_weeks_where_pooled_bands_do_not(monkeypatch):
    # the last 6 weeks held out and planned as they happened (a promotion in a quarter
    # of the weeks, with a lift that varies): the plan run's 95% band covers the
    # promoted weeks; the same run with the promotion flag ignored by the calibration
    # (every step pooled, as before) covers fewer of them
    full = _promo_history()
    cutoff = full["date"].max() - pd.Timedelta(weeks=6)
    hist = full[full["date"] <= cutoff]
    plan = actual_plan(full, cutoff, 6, "W")
    test = full[full["date"] > cutoff][["sku_id", "pin_code", "date", "quantity", "promo"]]

    def covered(res):
        d = res.forecasts.merge(test, on=["sku_id", "pin_code", "date"])
        inside = (d["quantity"] >= d["lo"]) & (d["quantity"] <= d["hi"])
        return inside[d["promo"]].mean(), inside[~d["promo"]].mean(), d

    res = forecast_full(hist, None, CFG, plan=plan)
    assert "promoted" not in res.forecasts.columns     # internal: the output is as before
    promo_cov, other_cov, d = covered(res)
    monkeypatch.setattr(intervals, "_promoted", lambda f: np.zeros(len(f), dtype=bool))
    pooled = forecast_full(hist, None, CFG, plan=plan)
    promo_pooled, _, d0 = covered(pooled)
    assert np.allclose(d["forecast"], d0["forecast"])  # intervals only: same forecasts
    assert promo_cov >= 0.90 and other_cov >= 0.90, (promo_cov, other_cov)
    assert promo_pooled < promo_cov - 0.05, (promo_pooled, promo_cov)


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_all_or_no_promoted_steps_calibrate_as_pooled(share):
    train = _residuals(4, folds=2, promo_share=share)
    cal = intervals.calibrate(train, H)
    assert cal.promoted is None
    pooled = intervals.calibrate(train.drop(columns="promoted"), H)
    pd.testing.assert_frame_equal(cal.pooled, pooled.pooled)
