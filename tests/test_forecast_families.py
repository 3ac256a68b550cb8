"""Each statsforecast family and the LightGBM's unplanned-promotion mixture on planted
series: the forecast recovers the property the series was built with."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast.config import ForecastConfig
from engine.forecast.features import build_panel
from engine.forecast.registry import model_class
from engine.forecast.runner import fit_predict

CFG = ForecastConfig(horizon=14, workers=1, stat_top_n=100, lgb_rounds=60)


def _daily(values_by_sku: dict[str, np.ndarray], start="2025-01-06") -> pd.DataFrame:
    rows = []
    for sku, y in values_by_sku.items():
        dates = pd.date_range(start, periods=len(y), freq="D")
        rows.append(pd.DataFrame({"sku_id": sku, "pin_code": "110001", "date": dates,
                                  "quantity": np.asarray(y, dtype=float)}))
    return pd.concat(rows, ignore_index=True)


def _forecast(name: str, hist: pd.DataFrame) -> pd.DataFrame:
    return fit_predict(hist, None, CFG, models=(name,)).forecasts


@pytest.mark.parametrize("name", ["tsb", "croston", "imapa"])
def test_intermittent_families_forecast_the_mean_rate(name):
    # a sale on 30% of days, 5 units each: mean demand 1.5 a day
    rng = np.random.default_rng(5)
    y = np.where(rng.random((8, 300)) < 0.3, 5.0, 0.0)
    fc = _forecast(name, _daily({f"S{i}": y[i] for i in range(8)}))
    assert model_class(name).intermittent
    assert fc["forecast"].mean() == pytest.approx(1.5, rel=0.3)
    assert fc.groupby("sku_id")["forecast"].std().max() < 1e-9     # flat per series


def test_tsb_on_grouped_arrays_matches_statsforecasts_tsb():
    from statsforecast import StatsForecast
    from statsforecast.models import TSB

    rng = np.random.default_rng(11)
    lengths = rng.integers(3, 120, 60)
    ys = {f"S{i:02d}": np.where(rng.random(n) < rng.uniform(0.05, 0.9), rng.poisson(4, n) + 1.0,
                                0.0) for i, n in enumerate(lengths)}
    ys["S00"][:] = 0.0                                       # never sold
    hist = pd.concat([_daily({k: v}, start=str(pd.Timestamp("2025-06-01")
                                                - pd.Timedelta(days=len(v) - 1))[:10])
                      for k, v in ys.items()], ignore_index=True)
    ours = _forecast("tsb", hist).groupby("sku_id")["forecast"].first()
    df = pd.DataFrame({"unique_id": np.repeat(list(ys), lengths),
                       "ds": np.concatenate([np.arange(n) for n in lengths]),
                       "y": np.concatenate(list(ys.values()))})
    ref = StatsForecast(models=[TSB(0.1, 0.1)], freq=1).forecast(df=df, h=1)
    ref = ref.set_index("unique_id")["TSB"]
    np.testing.assert_allclose(ours.reindex(ref.index).to_numpy(), ref.to_numpy(), atol=1e-9)


@pytest.mark.parametrize("name", ["ses", "ces"])
def test_level_families_follow_a_shifted_level(name):
    # level 10 for 200 days, then 20 for the last 100: the forecast follows to the new level
    rng = np.random.default_rng(6)
    y = np.r_[rng.poisson(10, 200), rng.poisson(20, 100)]
    fc = _forecast(name, _daily({"S": y}))
    assert fc["forecast"].mean() == pytest.approx(20, rel=0.2)


def test_ets_recovers_a_planted_weekday_pattern():
    rng = np.random.default_rng(7)
    weekday = np.array([1.0, 0.8, 0.8, 1.0, 1.2, 1.6, 1.8])
    n = 280
    y = rng.poisson(20 * weekday[np.arange(n) % 7])        # starts on a Monday
    fc = _forecast("ets", _daily({"S": y}))
    got = fc.groupby(fc["date"].dt.dayofweek)["forecast"].mean()
    ratio = (got / got.mean()).to_numpy()
    np.testing.assert_allclose(ratio, weekday / weekday.mean(), atol=0.12)


def test_theta_continues_a_planted_trend():
    rng = np.random.default_rng(8)
    y = 20 + 0.1 * np.arange(300) + rng.normal(0, 2, 300)
    fc = _forecast("theta", _daily({"S": np.clip(y, 0, None)})).sort_values("date")
    assert fc["forecast"].iloc[-1] > fc["forecast"].iloc[0] > y[-30:].mean() - 3
    assert fc["forecast"].mean() == pytest.approx(20 + 0.1 * 307, rel=0.1)


def test_arima_reverts_an_ar1_series_to_its_mean():
    rng = np.random.default_rng(9)
    y = np.empty(300)
    y[0] = 20
    for t in range(1, 300):
        y[t] = 20 + 0.7 * (y[t - 1] - 20) + rng.normal(0, 2)
    y[-1] = 35                                              # a shock at the cutoff
    fc = _forecast("arima", _daily({"S": y})).sort_values("date")
    assert fc["forecast"].iloc[0] > 25                      # starts from the shock ...
    assert fc["forecast"].iloc[-1] == pytest.approx(20, abs=3)   # ... and decays to 20


def test_unplanned_future_weeks_carry_the_series_usual_promotion_rate():
    # promotions on 30% of weeks at 20% off double demand; with no plan the forecast is the
    # mixture 0.7 x 10 + 0.3 x 20 = 13 a week, not the no-promotion 10
    rng = np.random.default_rng(10)
    weeks, rows = 156, []
    dates = pd.date_range("2023-01-04", periods=weeks, freq="7D")
    for s in range(30):
        promo = rng.random(weeks) < 0.3
        rows.append(pd.DataFrame({
            "sku_id": f"S{s:02d}", "pin_code": "110001", "date": dates,
            "quantity": rng.poisson(np.where(promo, 20.0, 10.0)).astype(float),
            "price": np.where(promo, 80.0, 100.0), "regular_price": 100.0, "promo": promo}))
    hist = pd.concat(rows, ignore_index=True)
    # the mixture is what is tested, on the last 60 weeks with equal weights: trained on all
    # three years (the weekly default) this stationary Poisson panel comes out ~9% high,
    # the trees fitting the weeks' noise through the calendar features (README, Models)
    res = fit_predict(hist, None, ForecastConfig(horizon=8, workers=1, lgb_train_periods=60,
                                                 lgb_half_life=0),
                      models=("lightgbm",))
    fut = res.panel.future
    assert fut["exp_promo_rate"].mean() == pytest.approx(0.3, abs=0.08)
    assert fut["exp_price_ratio"].mean() == pytest.approx(0.8, abs=0.01)
    assert res.forecasts["forecast"].mean() == pytest.approx(13, rel=0.1)
    model = res.fitted["lightgbm"]
    never = model.expected(fut.assign(exp_promo_rate=0.0))   # the old 'no promotion' view
    assert never.mean() == pytest.approx(10, rel=0.12)


def test_the_usual_promotion_rate_is_the_last_quarters():
    """A promotion calendar changes: a series promoted every other week for two years that
    stopped a quarter ago is forecast without the promotions it no longer gets (the rate is
    over the last 13 weeks / 91 days, features.PROMO_RATE_PERIODS), and one that started
    promoting a quarter ago with its new rate."""
    from engine.forecast.features import PROMO_RATE_PERIODS

    weeks = PROMO_RATE_PERIODS["W"]
    dates = pd.date_range("2023-01-04", periods=104, freq="7D")
    alternate = np.arange(len(dates)) % 2 == 0
    recent = np.arange(len(dates)) >= len(dates) - weeks
    rows = []
    for sku, promo in (("STOPPED", alternate & ~recent), ("STARTED", alternate & recent)):
        rows.append(pd.DataFrame({"sku_id": sku, "pin_code": "110001", "date": dates,
                                  "quantity": np.where(promo, 20.0, 10.0),
                                  "price": np.where(promo, 80.0, 100.0),
                                  "regular_price": 100.0, "promo": promo}))
    panel = build_panel(pd.concat(rows, ignore_index=True), None,
                        ForecastConfig(horizon=4, grain="W"))
    rate = panel.future.groupby("sku_id")["exp_promo_rate"].first()
    assert rate["STOPPED"] == 0.0
    assert rate["STARTED"] == pytest.approx(alternate[-weeks:].mean())     # 6 of 13


def test_sku_typical_price_is_the_median_over_history_rows():
    """The run-length shortcut equals a plain median of every history row's regular price."""
    from engine.forecast.features import _sku_typical_price

    rng = np.random.default_rng(1)
    for _ in range(100):
        n_series = int(rng.integers(1, 30))
        sid = np.repeat(np.arange(n_series), rng.integers(1, 40, n_series))
        reg = rng.choice([10.0, 12.0, 15.0, np.nan], len(sid))
        for i in range(1, len(sid)):       # carried forward within a series, as in the panel
            if sid[i] == sid[i - 1] and rng.random() < 0.6:
                reg[i] = reg[i - 1]
        fut = rng.random(len(sid)) < 0.2
        sku_of_series = rng.integers(0, n_series // 3 + 1, n_series)
        got = _sku_typical_price(reg, fut, sid, sku_of_series, sid)
        hist = np.flatnonzero(~fut)
        med = pd.Series(reg[hist]).groupby(sku_of_series[sid[hist]]).median()
        want = med.reindex(sku_of_series[sid]).to_numpy()
        np.testing.assert_allclose(got, want, equal_nan=True)
