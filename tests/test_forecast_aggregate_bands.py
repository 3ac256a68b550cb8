"""Bands for a total of many series: calibrated on the total's own backtest errors.

Planted case: 300 independent Poisson series with known means. The total of a day is
Poisson with the summed mean, so its true 95% band is about +-5% of 1,500 units; adding up
the series' own 95% bands gives roughly [300, 3,000] instead."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.forecast.intervals import aggregate_bands

RATES = np.linspace(1.0, 9.0, 300)          # 300 series, summed mean 1,500 a day


def _days(rng, n_days: int, fold: int | None = None) -> pd.DataFrame:
    actual = rng.poisson(RATES, size=(n_days, len(RATES))).sum(axis=1)
    out = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=n_days),
                        "actual": actual.astype(float), "forecast": RATES.sum()})
    if fold is not None:
        out["fold"] = fold
    return out


def _summed_series_bands(n_days: int) -> pd.DataFrame:
    lo = stats.poisson.ppf(0.025, RATES).sum()
    hi = stats.poisson.ppf(0.975, RATES).sum()
    return pd.DataFrame({"date": pd.date_range("2025-03-01", periods=n_days),
                         "forecast": RATES.sum(), "lo": lo, "hi": hi,
                         "lo80": stats.poisson.ppf(0.1, RATES).sum(),
                         "hi80": stats.poisson.ppf(0.9, RATES).sum()})


def test_total_bands_hold_their_level_and_are_far_narrower_than_summed_bounds():
    rng = np.random.default_rng(11)
    backtest = pd.concat([_days(rng, 60, fold=k) for k in range(3)], ignore_index=True)
    summed = _summed_series_bands(28)
    out = aggregate_bands(summed, backtest)
    assert out.attrs["method"] == "aggregate_conformal" and out.attrs["n_points"] == 180
    width = (out["hi"] - out["lo"]).iloc[0]
    assert width < (summed["hi"] - summed["lo"]).iloc[0] / 10
    true_lo, true_hi = stats.poisson.ppf([0.025, 0.975], RATES.sum())
    assert out["lo"].iloc[0] == pytest.approx(true_lo, rel=0.02)
    assert out["hi"].iloc[0] == pytest.approx(true_hi, rel=0.02)
    future = _days(rng, 2000)["actual"].to_numpy()
    inside95 = np.mean((future >= out["lo"].iloc[0]) & (future <= out["hi"].iloc[0]))
    inside80 = np.mean((future >= out["lo80"].iloc[0]) & (future <= out["hi80"].iloc[0]))
    assert 0.91 <= inside95 <= 0.99 and 0.73 <= inside80 <= 0.87
    assert 88 <= out.attrs["coverage"]["95"] <= 100 and 68 <= out.attrs["coverage"]["80"] <= 92


def test_bands_contain_the_forecast_and_never_go_below_zero():
    backtest = pd.DataFrame({"fold": [0, 0, 1, 1], "date": pd.date_range("2025-01-01", periods=4),
                             "actual": [0.0, 40.0, 0.0, 35.0], "forecast": [20.0] * 4})
    fc = pd.DataFrame({"date": pd.date_range("2025-02-01", periods=3),
                       "forecast": [0.0, 5.0, 30.0], "lo": 0.0, "hi": 0.0, "lo80": 0.0,
                       "hi80": 0.0})
    out = aggregate_bands(fc, backtest)
    assert (out["lo"] >= 0).all() and (out["lo80"] >= 0).all()
    assert (out["lo"] <= out["forecast"]).all() and (out["hi"] >= out["forecast"]).all()
    assert (out["lo"] <= out["lo80"]).all() and (out["hi80"] <= out["hi"]).all()


def test_without_a_backtest_the_summed_bounds_are_kept_and_labelled():
    summed = _summed_series_bands(5)
    empty = pd.DataFrame(columns=["fold", "date", "actual", "forecast"])
    out = aggregate_bands(summed, empty)
    assert out.attrs["method"] == "sum"
    pd.testing.assert_frame_equal(out, summed)
