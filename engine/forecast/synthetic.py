"""Small seeded synthetic sales panels with known effects, for tests and examples that must
not depend on the full demo generator (weekly pattern, a price elasticity, a temperature
effect on Cold Beverages; everything else Poisson noise)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.forecast.features import Signals

CITIES = {"Mumbai": ("400001", "Maharashtra"), "Chennai": ("600001", "Tamil Nadu"),
          "Delhi": ("110001", "Delhi")}


def synthetic_sales(n_skus: int = 6, days: int = 200, seed: int = 7,
                    start: str = "2024-01-01", elasticity: float = -1.5,
                    temp_effect: float = 0.04) -> tuple[pd.DataFrame, Signals]:
    """(history, signals): every SKU sold in every city's PIN; categories alternate
    between Cold Beverages and Staples. Demand = base x weekly x price^elasticity x
    exp(temp_effect x temperature anomaly) for Cold Beverages, Poisson drawn."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    skus = pd.DataFrame({
        "sku_id": [f"SKU{i:03d}" for i in range(n_skus)],
        "category": ["Cold Beverages" if i % 2 == 0 else "Staples" for i in range(n_skus)],
        "mrp": 50.0 + 10 * np.arange(n_skus)})
    locations = pd.DataFrame([{"pin_code": pin, "city": city, "state": state}
                              for city, (pin, state) in CITIES.items()])
    doy = dates.dayofyear.to_numpy()
    weather = []
    for k, city in enumerate(CITIES):
        normal = 28 + 5 * np.sin(2 * np.pi * (doy - 100) / 365) + k
        anom = rng.normal(0, 2.5, len(dates))
        weather.append(pd.DataFrame({"city": city, "date": dates, "temp_c": normal + anom,
                                     "rainfall_mm": rng.gamma(0.5, 4, len(dates)),
                                     "humidity": 60.0, "_anom": anom}))
    weather = pd.concat(weather, ignore_index=True)
    rows = []
    weekly = np.array([1.0, 0.9, 0.9, 1.0, 1.1, 1.3, 1.4])
    for s in skus.itertuples():
        base = rng.uniform(3, 12)
        for city, (pin, _) in CITIES.items():
            w = weather[weather["city"] == city]
            promo = rng.random(len(dates)) < 0.08
            regular = float(s.mrp)
            price = np.where(promo, regular * 0.85, regular)
            lam = base * weekly[dates.dayofweek] * (price / regular) ** elasticity
            if s.category == "Cold Beverages":
                lam = lam * np.exp(temp_effect * w["_anom"].to_numpy())
            rows.append(pd.DataFrame({"sku_id": s.sku_id, "pin_code": pin, "date": dates,
                                      "quantity": rng.poisson(lam).astype(float),
                                      "price": price, "regular_price": regular,
                                      "promo": promo}))
    history = pd.concat(rows, ignore_index=True)
    history = history[history["quantity"] > 0].reset_index(drop=True)   # zero days absent
    signals = Signals(skus=skus, locations=locations,
                      weather=weather.drop(columns="_anom"))
    return history, signals


def synthetic_panel(n_series: int = 1000, days: int = 400, seed: int = 7,
                    end: str = "2025-06-30", intermittent_share: float = 0.4,
                    chunk: int = 10_000) -> tuple[pd.DataFrame, Signals]:
    """(history, signals) for throughput measurements at any scale, built directly with
    numpy in chunks of `chunk` series (100,000 series x 400 days in well under a minute).

    Series are SKU x PIN pairs: real PIN codes from `engine.geo.pin_reference()` (city =
    district), SKUs of every category with an MRP. Demand = level x weekly profile (per
    category) x yearly seasonality x festival uplift (the reference calendar and effects)
    x weather response (hot / cold categories, via the city's temperature anomaly)
    x price effect (promotions at 10-30% off, elasticity -1.5) x a slow trend; a share
    `intermittent_share` of series are intermittent (mean 0.05-0.8 a day), the rest
    smooth (log-normal level, median ~4); 8% of series launch during the window.
    Quantities are gamma-Poisson (over-dispersed) draws; zero days are absent, as in
    `sales_daily`. Signals: skus, locations, daily weather per city, festival calendar
    and effects."""
    from engine.categories import CATEGORIES, WEATHER_RESPONSE
    from engine.geo import pin_reference
    from engine.signals.festivals import festival_calendar, festival_effects, festival_uplift

    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=end, periods=days, freq="D")
    n_pins = int(np.clip(n_series // 200, 20, 500))
    n_skus = int(np.ceil(n_series / n_pins))
    ref = pin_reference()
    ref = ref[ref["state"].notna() & ref["district"].notna()]
    pins = ref.iloc[np.sort(rng.choice(len(ref), n_pins, replace=False))]
    locations = pd.DataFrame({"pin_code": pins["pin_code"].astype(str).to_numpy(),
                              "city": pins["district"].astype(str).to_numpy(),
                              "state": pins["state"].astype(str).to_numpy()})
    cats = np.array(CATEGORIES, dtype=object)
    sku_cat = rng.integers(0, len(cats), n_skus)
    skus = pd.DataFrame({"sku_id": [f"SYN{i:06d}" for i in range(n_skus)],
                         "category": cats[sku_cat],
                         "mrp": np.round(rng.lognormal(4.3, 0.7, n_skus), 0)})

    # per city weather: seasonal normal + persistent anomaly (AR(1))
    cities = locations["city"].drop_duplicates().to_numpy()
    doy = dates.dayofyear.to_numpy()
    lat = pins.groupby(pins["district"].astype(str))["lat"].mean().reindex(cities).to_numpy()
    normal = (30 - 0.25 * (np.nan_to_num(lat, nan=20.0) - 20))[:, None] \
        + 6 * np.sin(2 * np.pi * (doy - 105) / 365.25)[None, :]
    anom = np.zeros((len(cities), days))
    shocks = rng.normal(0, 1.2, (len(cities), days))
    for t in range(1, days):
        anom[:, t] = 0.7 * anom[:, t - 1] + shocks[:, t]
    monsoon = np.clip(np.sin(2 * np.pi * (doy - 150) / 365.25), 0, None)[None, :]
    rain = rng.gamma(0.4, 1 + 20 * monsoon, (len(cities), days))
    weather = pd.DataFrame({"city": np.repeat(cities, days), "date": np.tile(dates, len(cities)),
                            "temp_c": (normal + anom).ravel(), "rainfall_mm": rain.ravel(),
                            "humidity": (55 + 30 * monsoon + rng.normal(0, 5, anom.shape)).ravel()})

    # festival multiplier per (state, category, day) from the reference calendar
    cal = festival_calendar(dates[0].year, dates[-1].year + 1)
    effects = festival_effects()
    states = locations["state"].drop_duplicates().to_numpy()
    grid = pd.DataFrame({"date": np.tile(np.repeat(dates, len(cats)), len(states)),
                         "category": np.tile(cats, days * len(states)),
                         "state": np.repeat(states, days * len(cats))})
    fest = festival_uplift(grid, cal, effects).reshape(len(states), days, len(cats))

    weekly = 1 + rng.uniform(0, 0.35, (len(cats), 1)) * np.array([[-0.1, -.15, -.1, 0, .2, .6, .7]])
    yearly_amp = rng.uniform(0, 0.35, len(cats))
    kind = np.array([WEATHER_RESPONSE.get(c, "") for c in cats], dtype=object)
    temp_coef = np.where(kind == "hot", 0.06, np.where(kind == "cold", -0.04, 0.0))
    city_of_pin = pd.factorize(locations["city"])[0]
    city_idx = pd.Index(cities).get_indexer(locations["city"].drop_duplicates())
    city_of_pin = city_idx[city_of_pin]
    state_of_pin = pd.Index(states).get_indexer(locations["state"])
    dow = dates.dayofweek.to_numpy()
    season = np.sin(2 * np.pi * (doy - 80) / 365.25)
    t_frac = np.arange(days) / 365.25

    parts = []
    for lo in range(0, n_series, chunk):
        i = np.arange(lo, min(lo + chunk, n_series))
        sku, pin = i // n_pins, (i + i // n_pins) % n_pins
        c = sku_cat[sku]
        m = len(i)
        inter = rng.random(m) < intermittent_share
        level = np.where(inter, rng.uniform(0.05, 0.8, m), rng.lognormal(1.4, 0.8, m))
        lam = (level[:, None] * weekly[c][:, dow]
               * (1 + yearly_amp[c][:, None] * season[None, :])
               * fest[state_of_pin[pin][:, None], np.arange(days)[None, :], c[:, None]]
               * np.exp(temp_coef[c][:, None] * anom[city_of_pin[pin]])
               * np.exp(rng.normal(0, 0.15, m)[:, None] * t_frac[None, :]))
        promo = rng.random((m, days)) < 0.06
        depth = rng.uniform(0.1, 0.3, m)[:, None]
        lam *= np.where(promo, (1 - depth) ** -1.5, 1.0)
        launch = np.where(rng.random(m) < 0.08, rng.integers(0, days - 14, m), 0)
        lam[np.arange(days)[None, :] < launch[:, None]] = 0.0
        qty = rng.poisson(lam * rng.gamma(4.0, 0.25, lam.shape))
        r, d = np.nonzero(qty)
        regular = skus["mrp"].to_numpy()[sku] * 0.95
        parts.append(pd.DataFrame({
            "sku_id": skus["sku_id"].to_numpy()[sku[r]],
            "pin_code": locations["pin_code"].to_numpy()[pin[r]],
            "date": dates.to_numpy()[d], "quantity": qty[r, d].astype(float),
            "price": np.round(regular[r] * np.where(promo[r, d], 1 - depth[r, 0], 1.0), 2),
            "regular_price": regular[r], "promo": promo[r, d]}))
    history = pd.concat(parts, ignore_index=True)
    signals = Signals(skus=skus, locations=locations, weather=weather, festivals=cal,
                      festival_effects=effects)
    return history, signals
