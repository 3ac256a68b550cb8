"""Weather signals per PIN code: observed or climate-normal weather, anomalies, and the
category response curves (sigmoid in temperature) that features and scenarios use.

The warehouse keeps weather per city; a PIN code gets its city's weather through
`locations.city`. The climate normal is the per-city day-of-year mean, smoothed over a
+-7 day circular window, computed only from weather up to a given date (no leak).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.categories import WEATHER_RESPONSE

WEATHER_VARS = ("temp_c", "rainfall_mm", "humidity")
# Sigmoid response: centre (deg C) and width (deg C) of the demand response to temperature.
HOT_CENTRE_C, COLD_CENTRE_C, RESPONSE_WIDTH_C = 28.0, 20.0, 3.0


def climate_normal(weather: pd.DataFrame, upto=None, window: int = 7) -> pd.DataFrame:
    """Per city and day of year (1..366): mean temp_c, rainfall_mm, humidity.

    Only rows with `date <= upto` are used. Each day averages the days within `window`
    days of it (circular over the year), so two years of data give a smooth normal.
    """
    cols = ["city", "doy", *WEATHER_VARS]
    if weather is None or weather.empty:
        return pd.DataFrame(columns=cols)
    w = weather.copy()
    w["date"] = pd.to_datetime(w["date"])
    if upto is not None:
        w = w[w["date"] <= pd.Timestamp(upto)]
    if w.empty:
        return pd.DataFrame(columns=cols)
    w["doy"] = w["date"].dt.dayofyear.clip(upper=365)
    present = [v for v in WEATHER_VARS if v in w.columns]
    daily = w.groupby(["city", "doy"])[present].mean()
    out = []
    for city, frame in daily.groupby(level="city"):
        frame = frame.droplevel("city").reindex(range(1, 366))
        vals = frame.to_numpy(dtype=float)
        filled = np.nan_to_num(vals)
        present_mask = ~np.isnan(vals)
        k = 2 * window + 1
        head = slice(len(filled) - window, len(filled))   # (not [-window:]: window may be 0)
        tiled = np.concatenate([filled[head], filled, filled[:window]])
        tmask = np.concatenate([present_mask[head], present_mask, present_mask[:window]])
        kernel = np.ones(k)
        sums = np.stack([np.convolve(tiled[:, j], kernel, "valid") for j in range(vals.shape[1])], 1)
        counts = np.stack([np.convolve(tmask[:, j], kernel, "valid") for j in range(vals.shape[1])], 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        part = pd.DataFrame(smooth, columns=present)
        part.insert(0, "doy", np.arange(1, 366))
        part.insert(0, "city", city)
        out.append(part)
    normal = pd.concat(out, ignore_index=True)
    normal = pd.concat([normal, normal[normal["doy"] == 365].assign(doy=366)], ignore_index=True)
    for v in WEATHER_VARS:
        if v not in normal.columns:
            normal[v] = np.nan
    return normal[cols]


def weather_for(frame: pd.DataFrame, weather: pd.DataFrame | None,
                locations: pd.DataFrame | None, cutoff=None) -> pd.DataFrame:
    """Weather for each row of `frame` (columns pin_code, date).

    Returns `frame`'s index with temp_c, rainfall_mm, humidity, temp_anom, rain_anom and
    weather_source: dates up to `cutoff` use observed weather; later dates use observed
    weather when the warehouse has it ('observed') and the climate normal otherwise
    ('normal'). Anomalies are against the normal computed from weather up to `cutoff`.
    PIN codes whose city has no weather get NaN and source None.
    """
    out = pd.DataFrame(index=frame.index)
    for v in (*WEATHER_VARS, "temp_anom", "rain_anom"):
        out[v] = np.nan
    out["weather_source"] = None
    if weather is None or weather.empty or locations is None or locations.empty:
        return out
    city_of = locations.set_index("pin_code")["city"]
    f = pd.DataFrame({"city": frame["pin_code"].map(city_of).to_numpy(),
                      "date": pd.to_datetime(frame["date"]).to_numpy()}, index=frame.index)
    w = weather[["city", "date", *[v for v in WEATHER_VARS if v in weather.columns]]].copy()
    w["date"] = pd.to_datetime(w["date"])
    normal = climate_normal(w, upto=cutoff)
    obs = f.merge(w, on=["city", "date"], how="left").set_index(f.index)
    f["doy"] = f["date"].dt.dayofyear.clip(upper=366)
    nrm = f.merge(normal, on=["city", "doy"], how="left").set_index(f.index)
    has_obs = obs["temp_c"].notna().to_numpy() if "temp_c" in obs else np.zeros(len(f), bool)
    for v in WEATHER_VARS:
        o = obs[v].to_numpy(dtype=float) if v in obs else np.full(len(f), np.nan)
        n = nrm[v].to_numpy(dtype=float)
        out[v] = np.where(has_obs, o, n)
        if v == "temp_c":
            out["temp_anom"] = out[v].to_numpy() - n
        if v == "rainfall_mm":
            out["rain_anom"] = out[v].to_numpy() - n
    has_normal = ~np.isnan(nrm["temp_c"].to_numpy(dtype=float))
    out["weather_source"] = np.where(has_obs, "observed", np.where(has_normal, "normal", None))
    return out


def weather_response(category, temp_c) -> np.ndarray:
    """Category response curve in [0, 1]: sigmoid rising with heat for 'hot' categories
    (Cold Beverages, Ice Cream), rising with cold for 'cold' ones (Tea & Coffee), 0 for
    categories without a weather response (engine.categories.WEATHER_RESPONSE)."""
    cat = pd.Series(np.asarray(category, dtype=object))
    t = np.asarray(temp_c, dtype=float)
    kind = cat.map(WEATHER_RESPONSE).to_numpy()
    hot = 1.0 / (1.0 + np.exp(-(t - HOT_CENTRE_C) / RESPONSE_WIDTH_C))
    cold = 1.0 / (1.0 + np.exp(-(COLD_CENTRE_C - t) / RESPONSE_WIDTH_C))
    out = np.where(kind == "hot", hot, np.where(kind == "cold", cold, 0.0))
    return np.where(np.isnan(t), np.nan, out)
