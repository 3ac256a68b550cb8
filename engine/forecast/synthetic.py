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
