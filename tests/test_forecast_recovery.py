"""Planted-effect recovery on the small demo (fixed end date so Diwali 2025 lies inside the
history): the Diwali-window uplift of Sweets forecasts and the temperature effect on Cold
Beverages, against the demo's truth (festival_effects / demo_truth and the planted curve)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.demo import DemoConfig, generate
from engine.demo_catalog import PROFILE
from engine.forecast.config import ForecastConfig
from engine.forecast.drivers import estimate_response
from engine.forecast.features import Signals
from engine.forecast.runner import fit_predict
from engine.signals.festivals import festival_uplift
from engine.signals.weather import weather_response

DIWALI_2025 = pd.Timestamp("2025-10-20")
CUTOFF = DIWALI_2025 - pd.Timedelta(days=22)     # the 28-day horizon covers the whole window


@pytest.fixture(scope="module")
def demo():
    frames = generate(DemoConfig.small(end_date=date(2025, 12, 31)))
    signals = Signals(skus=frames["skus"], locations=frames["locations"],
                      weather=frames["weather"], festivals=frames["festivals"],
                      festival_effects=frames["festival_effects"])
    fit = fit_predict(frames["sales_daily"], signals, ForecastConfig(horizon=28, workers=1),
                      cutoff=CUTOFF, models=("lightgbm",))
    return frames, signals, fit


def test_diwali_window_lifts_sweets_forecast_like_the_planted_multiplier(demo):
    frames, _, fit = demo
    fc = fit.forecasts.merge(fit.panel.future[["sku_id", "pin_code", "date", "category",
                                               "state"]], on=["sku_id", "pin_code", "date"])
    sweets = fc[fc["category"] == "Sweets"].copy()
    sweets["truth"] = festival_uplift(sweets[["date", "state", "category"]],
                                      frames["festivals"], frames["festival_effects"])
    peak, calm = sweets[sweets["truth"] > 2.0], sweets[sweets["truth"] < 1.05]
    assert len(peak) and len(calm)
    keys = ["sku_id", "pin_code"]
    got = (peak.groupby(keys)["forecast"].mean() / calm.groupby(keys)["forecast"].mean()).median()
    want = (peak.groupby(keys)["truth"].mean() / calm.groupby(keys)["truth"].mean()).median()
    assert got - 1 == pytest.approx(want - 1, rel=0.30)


def _truth_local_slope(frame: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """d log demand / d temperature of the planted curve at each row's temperature."""
    prof = PROFILE["Cold Beverages"]
    s = 1 / (1 + np.exp(-(frame["temp_c"].to_numpy() - prof["t0"]) / prof["w"]))
    b = frame["sku_id"].map(truth.set_index("sku_id")["temp_effect_per_c"]).to_numpy()
    return b * 4 * s * (1 - s)


def test_lightgbm_learns_the_cold_beverage_temperature_effect(demo):
    frames, _, fit = demo
    model, hist = fit.fitted["lightgbm"], fit.panel.train    # rows with features
    rows = hist[(hist["category"] == "Cold Beverages") & hist["lag_origin"].notna()
                & (hist["date"] > CUTOFF - pd.Timedelta(days=300))]

    def predict(delta):
        f = rows.copy()
        f["temp_c"] += delta
        f["temp_anom"] += delta
        f["temp_vs_recent"] += delta
        f["weather_resp"] = weather_response(f["category"], f["temp_c"])
        return model.predict(0, f)["forecast"].to_numpy()

    slope = np.mean((np.log(predict(1.5) + 0.05) - np.log(predict(-1.5) + 0.05)) / 3.0)
    truth = np.mean(_truth_local_slope(rows, frames["demo_truth"]))
    assert slope > 0
    assert slope == pytest.approx(truth, rel=0.45)


def test_response_curve_recovers_cold_beverage_temperature_slope(demo):
    frames, signals, fit = demo
    hist = frames["sales_daily"]
    resp = estimate_response(hist[hist["date"] <= CUTOFF], signals)
    got = resp.category.set_index("category").loc["Cold Beverages", "temp_coef"]
    h = fit.panel.train
    sold = h[(h["category"] == "Cold Beverages") & (h["quantity"] > 0)]
    assert got == pytest.approx(np.mean(_truth_local_slope(sold, frames["demo_truth"])),
                                rel=0.30)
