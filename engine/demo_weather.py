"""Daily weather for the demo cities: monthly climate normals plus seeded daily noise.

The normals are rounded IMD-style 1991-2020 station climatology (mean daily max / min
temperature in degrees C, monthly rainfall in mm, rainy days, mean relative humidity).
They were sanity-checked against five years of reanalysis data for ten of the cities.
Monsoon timing follows the real regions: June-September south-west monsoon almost
everywhere, a wet May-November in Kochi, and Chennai's north-east monsoon October-December.
"""
from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pandas as pd
from scipy.special import ndtri

# city -> (tmax[12], tmin[12], rain_mm[12], rain_days[12], humidity_pct[12])
CLIMATE: dict[str, tuple[list[float], ...]] = {
    "Delhi": ([21, 24, 30, 36, 40, 39, 35, 34, 34, 33, 28, 23],
              [7, 10, 15, 21, 26, 28, 27, 26, 25, 19, 13, 8],
              [19, 21, 17, 16, 30, 74, 210, 233, 124, 15, 6, 8],
              [2, 2, 2, 1, 2, 4, 10, 11, 6, 1, 0, 1],
              [70, 60, 50, 35, 35, 50, 75, 80, 70, 60, 65, 70]),
    "Mumbai": ([31, 32, 33, 33, 34, 32, 30, 29, 30, 33, 34, 32],
               [17, 18, 21, 24, 27, 26, 25, 25, 24, 24, 21, 19],
               [1, 0, 0, 1, 11, 580, 840, 530, 340, 90, 15, 5],
               [0, 0, 0, 0, 1, 14, 22, 19, 13, 3, 1, 0],
               [60, 60, 65, 70, 72, 82, 87, 86, 83, 75, 65, 62]),
    "Pune": ([30, 32, 36, 38, 37, 32, 28, 28, 29, 31, 30, 29],
             [11, 12, 16, 20, 22, 23, 22, 21, 21, 19, 15, 12],
             [1, 0, 2, 10, 30, 140, 180, 130, 130, 80, 25, 5],
             [0, 0, 0, 1, 2, 9, 14, 12, 8, 4, 1, 0],
             [55, 45, 40, 45, 55, 75, 85, 85, 80, 65, 55, 55]),
    "Bengaluru": ([27, 30, 32, 34, 33, 29, 28, 28, 28, 28, 27, 26],
                  [16, 17, 19, 21, 21, 20, 19, 19, 19, 19, 18, 16],
                  [2, 7, 15, 45, 120, 105, 110, 145, 210, 190, 65, 20],
                  [0, 1, 1, 3, 7, 6, 7, 9, 10, 9, 4, 1],
                  [60, 50, 45, 55, 65, 75, 78, 78, 75, 75, 70, 65]),
    "Chennai": ([29, 31, 33, 35, 38, 37, 35, 35, 34, 32, 29, 29],
                [21, 22, 24, 27, 28, 28, 26, 26, 25, 24, 23, 22],
                [25, 5, 5, 15, 50, 60, 90, 120, 120, 280, 370, 140],
                [1, 1, 0, 1, 2, 4, 6, 8, 7, 11, 13, 6],
                [70, 68, 68, 70, 65, 60, 62, 66, 70, 77, 80, 76]),
    "Hyderabad": ([29, 32, 35, 38, 39, 35, 31, 30, 31, 31, 29, 28],
                  [15, 18, 21, 24, 27, 24, 23, 22, 22, 20, 17, 14],
                  [10, 10, 15, 20, 35, 110, 180, 230, 180, 105, 30, 5],
                  [1, 1, 1, 2, 2, 7, 11, 13, 9, 6, 2, 0],
                  [55, 45, 40, 40, 40, 60, 75, 78, 75, 65, 60, 58]),
    "Kolkata": ([26, 29, 34, 36, 36, 34, 32, 32, 32, 32, 29, 27],
                [12, 16, 21, 25, 26, 26, 26, 26, 26, 23, 18, 13],
                [11, 25, 30, 50, 135, 290, 350, 340, 290, 160, 30, 5],
                [1, 2, 2, 3, 7, 13, 18, 18, 14, 7, 1, 0],
                [65, 62, 62, 70, 75, 82, 86, 86, 85, 80, 70, 67]),
    "Ahmedabad": ([28, 31, 36, 40, 41, 38, 33, 32, 33, 35, 32, 29],
                  [12, 15, 20, 24, 27, 28, 26, 25, 24, 21, 17, 13],
                  [2, 1, 1, 2, 5, 100, 280, 250, 120, 15, 5, 1],
                  [0, 0, 0, 0, 0, 4, 11, 10, 5, 1, 0, 0],
                  [50, 45, 40, 45, 55, 68, 80, 82, 75, 55, 48, 50]),
    "Jaipur": ([22, 26, 31, 37, 40, 39, 34, 32, 33, 33, 29, 24],
               [8, 11, 16, 21, 26, 27, 26, 25, 24, 19, 13, 9],
               [8, 8, 5, 5, 15, 60, 190, 190, 80, 15, 4, 3],
               [1, 1, 1, 1, 2, 4, 10, 10, 5, 1, 0, 0],
               [55, 45, 35, 25, 30, 45, 70, 77, 65, 45, 45, 52]),
    "Lucknow": ([22, 26, 32, 38, 40, 38, 34, 33, 33, 33, 29, 24],
                [8, 11, 16, 22, 26, 28, 27, 26, 25, 20, 14, 9],
                [15, 15, 8, 5, 15, 110, 280, 280, 190, 35, 5, 5],
                [1, 1, 1, 0, 1, 5, 12, 12, 8, 2, 0, 0],
                [72, 62, 50, 35, 40, 55, 78, 82, 78, 68, 67, 72]),
    "Kochi": ([31, 32, 33, 33, 32, 29, 29, 29, 30, 30, 31, 31],
              [23, 24, 25, 26, 26, 24, 24, 24, 24, 24, 24, 23],
              [20, 30, 50, 130, 330, 680, 590, 390, 300, 340, 170, 40],
              [1, 1, 2, 6, 11, 21, 20, 16, 12, 13, 7, 2],
              [70, 72, 74, 76, 80, 86, 87, 86, 84, 83, 80, 74]),
    "Patna": ([23, 27, 33, 38, 38, 37, 33, 33, 32, 32, 29, 25],
              [9, 12, 17, 23, 26, 27, 27, 27, 26, 22, 15, 10],
              [10, 12, 8, 10, 40, 160, 300, 270, 220, 70, 5, 3],
              [1, 1, 1, 1, 3, 7, 14, 13, 10, 3, 0, 0],
              [70, 60, 45, 40, 55, 70, 82, 84, 82, 75, 68, 70]),
}

# Day-to-day temperature variability (sd of the AR(1) anomaly, degrees C): larger on the
# northern plains (cold waves, heat waves) than on the coasts.
TEMP_NOISE_SD = {"Delhi": 2.4, "Jaipur": 2.2, "Lucknow": 2.3, "Patna": 2.1,
                 "Ahmedabad": 1.8, "Kolkata": 1.5, "Hyderabad": 1.5, "Pune": 1.5,
                 "Bengaluru": 1.1, "Chennai": 1.2, "Mumbai": 1.0, "Kochi": 0.8}
_MID_MONTH_DOY = np.array([15.5, 45, 74.5, 105, 135.5, 166, 196.5, 227.5, 258, 288.5, 319, 349.5])
_DAYS_IN_MONTH = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def stable_rng(seed: int, *names: object) -> np.random.Generator:
    """A generator that depends only on the seed and the names (not on call order)."""
    key = zlib.crc32("|".join(str(n) for n in names).encode())
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, key])


def _daily_normal(monthly: list[float] | np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Interpolate 12 mid-month values to each day of year, wrapping around the year."""
    x = np.concatenate([_MID_MONTH_DOY - 365.25, _MID_MONTH_DOY, _MID_MONTH_DOY + 365.25])
    y = np.tile(np.asarray(monthly, dtype=float), 3)
    return np.interp(doy, x, y)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Unit-variance AR(1) series (vectorised via a linear filter)."""
    from scipy.signal import lfilter

    eps = rng.standard_normal(n) * np.sqrt(1 - phi ** 2)
    eps[0] = rng.standard_normal()
    return lfilter([1.0], [1.0, -phi], eps)


def climate_normals(city: str, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Daily climate normal for a city: temp_c (mean of max and min), rainfall_mm, humidity."""
    tmax, tmin, rain, rain_days, hum = CLIMATE[city]
    doy = dates.dayofyear.to_numpy(dtype=float)
    nmax, nmin = _daily_normal(tmax, doy), _daily_normal(tmin, doy)
    per_day = np.asarray(rain, dtype=float) / _DAYS_IN_MONTH
    return pd.DataFrame({"date": dates, "temp_c": (nmax + nmin) / 2,
                         "rainfall_mm": _daily_normal(per_day, doy),
                         "humidity": _daily_normal(hum, doy)})


def city_weather(city: str, dates: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """One row per day: temp_c, temp_max_c, temp_min_c, rainfall_mm, humidity."""
    tmax, tmin, rain, rain_days, hum = CLIMATE[city]
    rng = stable_rng(seed, "weather", city)
    n = len(dates)
    doy = dates.dayofyear.to_numpy(dtype=float)
    month = dates.month.to_numpy() - 1
    # Rain: a persistent latent Gaussian crosses the threshold that gives the month's
    # rainy-day frequency; amounts are gamma with the month's mean per rainy day.
    p_rain = np.clip(np.asarray(rain_days, float) / _DAYS_IN_MONTH, 0.004, 0.95)
    p_day = _daily_normal(p_rain, doy)
    wet = _ar1(rng, n, 0.65) < ndtri(p_day)
    mm_per_wet_day = np.asarray(rain, float) / np.maximum(np.asarray(rain_days, float), 0.6)
    amount = rng.gamma(0.75, 1.0, n) / 0.75 * mm_per_wet_day[month]
    rainfall = np.where(wet, np.maximum(amount, 0.3), 0.0)
    # Temperature: normal + a persistent anomaly; rainy days are cooler by day.
    sd = TEMP_NOISE_SD.get(city, 1.5)
    anomaly = _ar1(rng, n, 0.8) * sd
    cooling = np.where(wet, np.minimum(1.0 + rainfall / 15.0, 4.0), 0.0)
    t_max = _daily_normal(tmax, doy) + anomaly - cooling + rng.normal(0, 0.6, n)
    t_min = _daily_normal(tmin, doy) + 0.7 * anomaly - 0.3 * cooling + rng.normal(0, 0.5, n)
    t_min = np.minimum(t_min, t_max - 2.0)
    humidity = (_daily_normal(hum, doy) + np.where(wet, 8.0 + rainfall / 5.0, -2.0)
                + rng.normal(0, 4.0, n))
    return pd.DataFrame({
        "city": city,
        "date": dates,
        "temp_c": np.round((t_max + t_min) / 2, 1),
        "temp_max_c": np.round(t_max, 1),
        "temp_min_c": np.round(t_min, 1),
        "rainfall_mm": np.round(rainfall, 1),
        "humidity": np.round(np.clip(humidity, 12, 100), 0),
    })


def generate_weather(cities: list[str], start: date, end: date, seed: int) -> pd.DataFrame:
    dates = pd.date_range(start, end, freq="D")
    return pd.concat([city_weather(c, dates, seed) for c in cities], ignore_index=True)
