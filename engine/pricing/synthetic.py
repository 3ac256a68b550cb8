"""Seeded synthetic pricing frames with planted elasticities (tests and benchmarks).

The demo warehouse is the realistic dataset; these frames are small and fully controlled,
so a test can plant one elasticity per SKU and check the estimator or optimiser against it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.pricing.elasticity import PanelInputs

_STATES = ("Maharashtra", "Karnataka", "Tamil Nadu", "Delhi")
_CITIES = ("Mumbai", "Bengaluru", "Chennai", "Delhi")


def synthetic_sales(n_skus: int = 6, n_pins: int = 4, n_days: int = 420, seed: int = 7,
                    elasticities: list[float] | None = None, category: str = "Snacks",
                    base_units: float = 6.0, promo_every: int = 45
                    ) -> tuple[PanelInputs, pd.DataFrame]:
    """Daily SKU x PIN sales (zero days dropped) and the planted truth (sku_id, elasticity).

    Demand = base x weekday x season x festival x (price / first regular)^elasticity,
    Poisson. Promotions of 5-20% last 7 days and come every `promo_every` days; the regular
    price steps up 10% halfway.
    """
    rng = np.random.default_rng(seed)
    if elasticities is None:
        elasticities = list(np.round(rng.uniform(-2.2, -0.4, n_skus), 2))
    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    pins = [f"{400001 + i * 1000}" for i in range(n_pins)]
    locations = pd.DataFrame({"pin_code": pins,
                              "state": [_STATES[i % len(_STATES)] for i in range(n_pins)],
                              "city": [_CITIES[i % len(_CITIES)] for i in range(n_pins)]})
    doy = dates.dayofyear.to_numpy()
    season = np.exp(0.25 * np.sin(2 * np.pi * doy / 365.25))
    weekday = np.where(dates.dayofweek.to_numpy() >= 5, 1.3, 1.0)
    fest = np.ones(n_days)
    fest[(doy >= 300) & (doy <= 306)] = 2.0
    festival = pd.DataFrame([(d, s, category, f) for d, f in zip(dates, fest) if f != 1
                             for s in _STATES], columns=["date", "state", "category", "factor"])
    weather = pd.DataFrame([(c, d, 28 + 6 * np.sin(2 * np.pi * (doy[i] - 100) / 365.25), 0.0)
                            for c in _CITIES for i, d in enumerate(dates)],
                           columns=["city", "date", "temp_c", "rainfall_mm"])
    rows = []
    for s, e in enumerate(elasticities):
        sku = f"SKU{s:04d}"
        regular = np.where(np.arange(n_days) < n_days // 2, 100.0, 110.0) * (1 + 0.1 * s)
        rel = np.ones(n_days)
        offset = int(rng.integers(0, promo_every))
        for start in range(offset, n_days, promo_every):
            rel[start:start + 7] = 1 - rng.uniform(0.05, 0.20)
        price = regular * rel
        for p_i, pin in enumerate(pins):
            level = base_units * rng.uniform(0.5, 1.5)
            mu = level * weekday * season * fest * (price / regular[0]) ** e
            q = rng.poisson(mu)
            sold = q > 0
            rows.append(pd.DataFrame({"sku_id": sku, "pin_code": pin, "date": dates[sold],
                                      "quantity": q[sold].astype(float),
                                      "price": price[sold], "regular_price": regular[sold]}))
    sales = pd.concat(rows, ignore_index=True)
    sales["revenue"] = sales["quantity"] * sales["price"]
    sales["promo"] = sales["price"] < sales["regular_price"] - 1e-9
    skus = pd.DataFrame({"sku_id": [f"SKU{s:04d}" for s in range(len(elasticities))],
                         "category": category})
    truth = pd.DataFrame({"sku_id": skus["sku_id"], "elasticity": elasticities})
    return PanelInputs(sales, skus, locations, weather, festival), truth


def synthetic_catalog(n_skus: int = 1000, seed: int = 11, n_categories: int = 10
                      ) -> pd.DataFrame:
    """Optimiser inputs: sku_id, category, price, unit_cost, mrp, elasticity, lo, hi,
    baseline_units (over the horizon)."""
    rng = np.random.default_rng(seed)
    price = np.round(rng.uniform(20, 500, n_skus), 0)
    e = np.round(rng.uniform(-2.5, -0.3, n_skus), 2)
    return pd.DataFrame({
        "sku_id": [f"SKU{i:05d}" for i in range(n_skus)],
        "category": [f"Category {i % n_categories}" for i in range(n_skus)],
        "price": price,
        "unit_cost": np.round(price * rng.uniform(0.55, 0.8, n_skus), 2),
        "mrp": np.round(price * rng.uniform(1.0, 1.2, n_skus), 0),
        "elasticity": e, "lo": e - 0.2, "hi": e + 0.2,
        "baseline_units": np.round(rng.uniform(50, 3000, n_skus), 0),
    })
