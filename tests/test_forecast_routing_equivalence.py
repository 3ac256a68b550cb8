"""The vectorised routed path (backtest actuals / MASE scale, router, conformal intervals,
pipeline) gives exactly the results of the frozen per-series reference implementation in
tests/forecast_routing_reference.py: same routing decisions, weights, reasons and evidence,
same interval bounds, same backtest rows and metrics."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import forecast_routing_reference as ref
from engine.forecast import intervals, router
from engine.forecast.config import ForecastConfig
from engine.forecast.metrics import score
from engine.forecast.pipeline import forecast_full
from engine.forecast.synthetic import synthetic_panel, synthetic_sales

# None and NaN are different values in a stored frame: mismatches fail
pytestmark = pytest.mark.filterwarnings("error:Mismatched null-like values:FutureWarning")

CHEAP = ("seasonal_naive", "moving_average", "lightgbm")
TOL = {"check_exact": False, "rtol": 1e-9, "atol": 1e-9}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), **TOL)


def _weekly(history: pd.DataFrame) -> pd.DataFrame:
    """Weekly export of a daily history: one row per SKU x PIN x week (Mondays)."""
    h = history.copy()
    h["date"] = h["date"] - pd.to_timedelta(h["date"].dt.dayofweek, unit="D")
    return h.groupby(["sku_id", "pin_code", "date"], as_index=False)["quantity"].sum()


def _launches(history: pd.DataFrame) -> pd.DataFrame:
    """Add copies of a few series that launch 10 days (young, never backtested) and 20 days
    (thin backtest) before the end, under SKUs unknown to the catalogue (segment unknown)."""
    last = history["date"].max()
    keys = history[["sku_id", "pin_code"]].drop_duplicates().iloc[:6]
    extra = []
    for i, (sku, pin) in enumerate(keys.itertuples(index=False)):
        days = 10 if i < 3 else 20
        part = history[(history["sku_id"] == sku) & (history["pin_code"] == pin)
                       & (history["date"] > last - pd.Timedelta(days=days))]
        extra.append(part.assign(sku_id=f"{sku}-NEW{days}"))
    return pd.concat([history, *extra], ignore_index=True)


CASES = {
    "daily_sales": (lambda: synthetic_sales(n_skus=4, days=220),
                    ForecastConfig(horizon=14, folds=2, models=CHEAP, lgb_rounds=40,
                                   workers=1)),
    # intermittent series, launches inside the window (young / unrouted series), ETS on the
    # top 15 only (series with missing models), thin series routed by segment
    "daily_panel": (lambda: synthetic_panel(n_series=70, days=160, seed=3),
                    ForecastConfig(horizon=14, folds=2, models=CHEAP + ("ets",), lgb_rounds=30,
                                   stat_top_n=15, min_route_points=20, workers=1)),
    "launches": (lambda: (lambda h, s: (_launches(h), s))(*synthetic_panel(n_series=50,
                                                                           days=150, seed=5)),
                 ForecastConfig(horizon=14, folds=2, models=CHEAP, lgb_rounds=30, workers=1)),
    "weekly": (lambda: (lambda h, s: (_weekly(h), s))(*synthetic_sales(n_skus=4, days=400)),
               ForecastConfig(horizon=4, folds=2, models=CHEAP, lgb_rounds=30, workers=1)),
    "no_ensemble": (lambda: synthetic_panel(n_series=40, days=120, seed=11),
                    ForecastConfig(horizon=7, folds=1, models=CHEAP, lgb_rounds=20,
                                   ensemble=False, workers=1)),
}


@pytest.fixture(scope="module", params=list(CASES))
def both(request):
    make, cfg = CASES[request.param]
    history, signals = make()
    return ref.forecast_full(history, signals, cfg), forecast_full(history, signals, cfg)


def test_routed_forecasts_and_intervals_match_the_reference(both):
    old, new = both
    _same(old.forecasts, new.forecasts)
    for col in ("lo", "hi", "lo80", "hi80"):
        assert new.forecasts[col].notna().all()


def test_routing_decisions_weights_and_evidence_match_the_reference(both):
    old, new = both
    _same(old.routing, new.routing)
    assert old.routing.attrs["segment_best"] == new.routing.attrs["segment_best"]
    assert [json.loads(w) for w in old.routing["weights"]] == \
        [json.loads(w) for w in new.routing["weights"]]


def test_backtest_rows_and_metrics_match_the_reference(both):
    old, new = both
    _same(old.backtest, new.backtest)
    _same(score(old.backtest, by=["model"]), score(new.backtest, by=["model"]))
    _same(score(old.backtest, by=["model", "category"]),
          score(new.backtest, by=["model", "category"]))


def test_route_matches_the_reference_for_every_threshold(both):
    old, _ = both
    bt = old.backtest[old.backtest["model"] != "routed"]
    for min_points in (0, 10, 28, 1000):
        for ensemble in (True, False):
            a = ref.route(bt, min_points=min_points, ensemble=ensemble)
            b = router.route(bt, min_points=min_points, ensemble=ensemble)
            _same(a, b)
            assert a.attrs["segment_best"] == b.attrs["segment_best"]


def test_calibration_and_cross_conformal_match_the_reference(both):
    old, _ = both
    bt = old.backtest[old.backtest["model"] != "routed"].drop(
        columns=["lo", "hi", "lo80", "hi80"])
    horizon = int(bt["step"].max())
    a, b = ref.calibrate(bt, horizon), intervals.calibrate(bt, horizon)
    for field in ("scales", "ratio", "quantiles", "pooled"):
        _same(getattr(a, field), getattr(b, field))
    assert (a.horizon, a.n_points) == (b.horizon, b.n_points)
    _same(ref.cross_conformal(bt, horizon), intervals.cross_conformal(bt, horizon))
    # a frame without segments, and series the calibration never saw (ratio fallback)
    plain = bt.drop(columns=["segment"])
    cal_a, cal_b = ref.calibrate(plain.iloc[: len(plain) // 2], horizon), \
        intervals.calibrate(plain.iloc[: len(plain) // 2], horizon)
    _same(ref.apply(plain, cal_a), intervals.apply(plain, cal_b))


def test_fill_unrouted_and_combine_match_the_reference(both):
    old, _ = both
    routing = old.routing
    part = routing.iloc[: len(routing) // 2].copy()
    part.attrs["segment_best"] = routing.attrs["segment_best"]
    series = routing[["sku_id", "pin_code", "segment"]]
    young = pd.MultiIndex.from_frame(series[["sku_id", "pin_code"]].iloc[::3])
    a = ref.fill_unrouted(series, part, default="seasonal_naive", young=young)
    b = router.fill_unrouted(series, part, default="seasonal_naive", young=young)
    _same(a, b)
    bt = old.backtest[(old.backtest["model"] != "routed") & (old.backtest["fold"] == 0)]
    long = bt[["model", "sku_id", "pin_code", "date", "forecast"]]
    _same(ref.combine(long, routing), router.combine(long, routing))
    # a routed model without forecasts for some series falls back to another model
    thin = long[~((long["model"] == long["model"].iloc[0])
                  & long["sku_id"].isin(long["sku_id"].unique()[:1]))]
    _same(ref.combine(thin, routing), router.combine(thin, routing))
    assert np.isfinite(router.combine(thin, routing)["forecast"]).all()
