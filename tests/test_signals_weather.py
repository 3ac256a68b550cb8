"""Weather per PIN (via its city): observed vs climate normal, anomalies, response curves;
and the seasonal decomposition's strength scores."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.signals.seasonality import decompose
from engine.signals.weather import climate_normal, weather_for, weather_response

LOC = pd.DataFrame({"pin_code": ["400001", "110001"], "city": ["Mumbai", "Delhi"]})


def _weather(years: int = 2) -> pd.DataFrame:
    dates = pd.date_range("2023-01-01", periods=365 * years, freq="D")
    doy = dates.dayofyear.to_numpy()
    return pd.concat([pd.DataFrame({"city": c, "date": dates,
                                    "temp_c": base + 6 * np.sin(2 * np.pi * doy / 365),
                                    "rainfall_mm": 2.0, "humidity": 70.0})
                      for c, base in (("Mumbai", 28.0), ("Delhi", 25.0))], ignore_index=True)


def test_climate_normal_is_the_city_day_of_year_mean():
    w = _weather()
    w.loc[(w["city"] == "Mumbai") & (w["date"].dt.year == 2024), "temp_c"] += 2.0
    normal = climate_normal(w, window=0).set_index(["city", "doy"])
    day = pd.Timestamp("2023-06-01").dayofyear
    expected = 28 + 6 * np.sin(2 * np.pi * day / 365) + 1.0   # mean of +0 and +2 years
    assert normal.loc[("Mumbai", day), "temp_c"] == pytest.approx(expected, abs=0.05)


def test_forecast_dates_use_observed_weather_when_present_else_the_normal():
    w = _weather()
    cutoff = pd.Timestamp("2024-12-20")
    frame = pd.DataFrame({"pin_code": ["400001"] * 3 + ["999999"],
                          "date": pd.to_datetime(["2024-06-01", "2024-12-25", "2025-02-01",
                                                  "2024-06-01"])})
    out = weather_for(frame, w, LOC, cutoff=cutoff)
    assert list(out["weather_source"]) == ["observed", "observed", "normal", None]
    assert np.isnan(out["temp_c"].iloc[3])                     # PIN without a city
    assert out["temp_anom"].iloc[2] == pytest.approx(0.0)      # the normal has no anomaly


def test_anomaly_is_observed_minus_normal():
    w = _weather()
    hot = (w["city"] == "Delhi") & (w["date"] == pd.Timestamp("2024-05-10"))
    w.loc[hot, "temp_c"] += 4.0
    out = weather_for(pd.DataFrame({"pin_code": ["110001"], "date": [pd.Timestamp("2024-05-10")]}),
                      w, LOC)
    assert out["temp_anom"].iloc[0] == pytest.approx(4.0 - 4.0 / 2 / 15, abs=0.2)


def test_response_curves_rise_with_heat_for_cold_drinks_and_with_cold_for_tea():
    temps = np.array([15.0, 25.0, 35.0])
    cb = weather_response(["Cold Beverages"] * 3, temps)
    tea = weather_response(["Tea & Coffee"] * 3, temps)
    dairy = weather_response(["Dairy"] * 3, temps)
    assert cb[0] < cb[1] < cb[2] and tea[0] > tea[1] > tea[2]
    assert (dairy == 0).all() and ((cb >= 0) & (cb <= 1)).all()


def test_decomposition_finds_the_weekly_pattern_it_was_given():
    dates = pd.date_range("2024-01-01", periods=140, freq="D")
    weekly = np.tile([5, 5, 5, 5, 8, 12, 12], 20).astype(float)
    d = decompose(pd.DataFrame({"date": dates, "quantity": weekly + 0.1 * np.arange(140) % 1}))
    assert d.periods == (7,)
    assert d.strength["seasonal_7"] > 0.9
    flat = decompose(pd.DataFrame({"date": dates,
                                   "quantity": np.random.default_rng(0).poisson(5, 140)}))
    assert flat.strength["seasonal_7"] < 0.5
