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
    Poisson. Promotions of 5-20% last 7 days and come every `promo_every` days; each SKU's
    regular price steps up 10% once, on its own day in the middle half of the history.
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
        step_day = int(rng.integers(n_days // 4, 3 * n_days // 4))
        regular = np.where(np.arange(n_days) < step_day, 100.0, 110.0) * (1 + 0.1 * s)
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


_REGION_PLACES = {"North": ("Delhi", "Delhi"), "West": ("Maharashtra", "Mumbai"),
                  "South": ("Karnataka", "Bengaluru"), "East": ("West Bengal", "Kolkata")}


def synthetic_regional_sales(planted: dict[str, dict[str, float]],
                             pins_per_region: dict[str, int] | None = None,
                             n_days: int = 420, seed: int = 7, category: str = "Snacks",
                             base_units: float = 6.0, promo_every: int = 30,
                             new_store_days: dict[str, int] | None = None
                             ) -> tuple[PanelInputs, pd.DataFrame]:
    """Daily SKU x PIN sales where each region has its OWN planted elasticity.

    `planted` maps sku_id -> {region: elasticity} (regions among North, West, South,
    East). Prices move nationally (one promotion calendar per SKU, 5-25% off for 7 days
    every `promo_every` days, regular price +10% halfway). `new_store_days` makes a region
    thin: its stores only opened that many days before the end. Returns the inputs and the
    truth (sku_id, region, elasticity)."""
    rng = np.random.default_rng(seed)
    pins_per_region = pins_per_region or {r: 2 for r in _REGION_PLACES}
    new_store_days = new_store_days or {}
    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    loc_rows = []
    for r_i, (region, count) in enumerate(pins_per_region.items()):
        state, city = _REGION_PLACES[region]
        loc_rows += [(f"{110001 + r_i * 100000 + k}", state, city, region) for k in range(count)]
    locations = pd.DataFrame(loc_rows, columns=["pin_code", "state", "city", "region"])
    doy = dates.dayofyear.to_numpy()
    season = np.exp(0.25 * np.sin(2 * np.pi * doy / 365.25))
    weekday = np.where(dates.dayofweek.to_numpy() >= 5, 1.3, 1.0)
    weather = pd.DataFrame([(c, d, 28 + 6 * np.sin(2 * np.pi * (doy[i] - 100) / 365.25), 0.0)
                            for c in locations["city"].unique() for i, d in enumerate(dates)],
                           columns=["city", "date", "temp_c", "rainfall_mm"])
    rows, truth = [], []
    for s, (sku, by_region) in enumerate(planted.items()):
        regular = np.where(np.arange(n_days) < n_days // 2, 100.0, 110.0) * (1 + 0.1 * s)
        rel = np.ones(n_days)
        for start in range(int(rng.integers(0, promo_every)), n_days, promo_every):
            rel[start:start + 7] = 1 - rng.uniform(0.05, 0.25)
        price = regular * rel
        for loc in locations.itertuples(index=False):
            if loc.region not in by_region:
                continue
            opened = n_days - new_store_days.get(loc.region, n_days)
            mu = (base_units * rng.uniform(0.5, 1.5) * weekday * season
                  * (price / regular[0]) ** by_region[loc.region])
            q = rng.poisson(mu)
            q[:opened] = 0
            sold = q > 0
            rows.append(pd.DataFrame({"sku_id": sku, "pin_code": loc.pin_code,
                                      "date": dates[sold], "quantity": q[sold].astype(float),
                                      "price": price[sold], "regular_price": regular[sold]}))
        truth += [(sku, region, e) for region, e in by_region.items()]
    sales = pd.concat(rows, ignore_index=True)
    sales["revenue"] = sales["quantity"] * sales["price"]
    sales["promo"] = sales["price"] < sales["regular_price"] - 1e-9
    skus = pd.DataFrame({"sku_id": list(planted), "category": category})
    return (PanelInputs(sales, skus, locations, weather, None),
            pd.DataFrame(truth, columns=["sku_id", "region", "elasticity"]))


def synthetic_substitutes(own: float = -1.5, cross: float = 0.8, n_others: int = 3,
                          n_pins: int = 3, n_days: int = 420, seed: int = 9,
                          base_units: float = 8.0, shock_sd: float = 0.15,
                          pin_cross: list[float] | None = None,
                          pin_units: list[float] | None = None
                          ) -> tuple[PanelInputs, float]:
    """A substitute pair in one category: SUB0 and SUB1 (subcategory Chips) respond to
    their own price (`own`) and to each other's log relative price (`cross`, > 0 for
    substitutes); `n_others` more SKUs of the category (subcategory Biscuits, OTH0...)
    respond to their own price only. All of them share daily demand shocks (sd `shock_sd`,
    a common time effect). Each SKU runs its own promotions (5-25% off, 7 days, at
    independent random starts) at every PIN. `pin_cross` (one value per PIN) replaces
    `cross` PIN by PIN (stores whose shoppers switch more or less); `pin_units` (one per
    PIN) replaces the PINs' random sizes (base_units x U(0.5, 1.5)). Returns the inputs
    and the planted cross value."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    names = ["SUB0", "SUB1"] + [f"OTH{i}" for i in range(n_others)]
    rel = np.ones((len(names), n_days))
    for s in range(len(names)):
        for start in np.sort(rng.choice(n_days - 7, size=n_days // 35, replace=False)):
            rel[s, start:start + 7] = 1 - rng.uniform(0.05, 0.25)
    log_rel = np.log(rel)
    shock = rng.normal(0, shock_sd, n_days)
    pins = [f"{560001 + i}" for i in range(n_pins)]
    rows = []
    crosses = [cross] * n_pins if pin_cross is None else list(pin_cross)
    for s, name in enumerate(names):
        regular = 80.0 * (1 + 0.1 * s)
        for i, pin in enumerate(pins):
            response = own * log_rel[s] + (crosses[i] * log_rel[1 - s] if s < 2 else 0.0)
            size = base_units * rng.uniform(0.5, 1.5) if pin_units is None else pin_units[i]
            mu = size * np.exp(shock + response)
            q = rng.poisson(mu)
            sold = q > 0
            rows.append(pd.DataFrame({"sku_id": name, "pin_code": pin, "date": dates[sold],
                                      "quantity": q[sold].astype(float),
                                      "price": regular * rel[s][sold], "regular_price": regular}))
    sales = pd.concat(rows, ignore_index=True)
    sales["promo"] = sales["price"] < sales["regular_price"] - 1e-9
    skus = pd.DataFrame({"sku_id": names, "category": "Snacks",
                         "subcategory": ["Chips", "Chips"] + ["Biscuits"] * n_others})
    locations = pd.DataFrame({"pin_code": pins, "state": "Karnataka", "city": "Bengaluru",
                              "region": "South"})
    return PanelInputs(sales, skus, locations, None, None), cross


def synthetic_weekly(elasticities: list[float], n_stores: int = 30, n_weeks: int = 156,
                     zones: int = 3, seed: int = 5, base_units: float = 40.0,
                     shock_sd: float = 0.35, display_lift: float = 0.5,
                     category: str = "Snacks", promo_flag: bool = True, dip: float = 0.0
                     ) -> tuple[PanelInputs, pd.DataFrame]:
    """Weekly store x SKU sales (one row per week, as a weekly POS export) where the naive
    reading of price moves is wrong, and the planted truth (sku_id, elasticity).

    * Every week has a common demand shock (sd `shock_sd`) shared by all SKUs and stores,
      and the chain runs each SKU's promotions (10-30% off, in 60% of them with an in-store
      display, `display` = 1, which lifts demand by exp(`display_lift`) on top of the price
      effect) in that SKU's higher-demand weeks: price cuts coincide with demand that is
      high anyway. Each SKU's regular price also changes once or twice (3-10%).
    * Stores belong to `zones` price zones; a zone's promotion depth and its regular price
      differ from the others' (zone factors 0.7 .. 1.3), so stores are priced apart in the
      same week. With `n_stores=1` (one store, zones=1) only the SKUs' different promotion
      weeks separate price response from the shocks.

    `promo_flag` adds the `promo` column (1 in promotion weeks) beside `display`.
    `dip` > 0 plants a post-promotion dip (shoppers stock up in a deal week and buy less
    the week after): demand also carries exp(dip x log(last week's price / this week's)),
    so a temporary cut sells elasticity - dip, the week after it loses dip x the cut, and a
    price that stays where it is moved sells `elasticity` (the planted truth).
    Units are negative-binomial (gamma-Poisson, shape 8) around
    base x store size x exp(shock_week + elasticity x log(price / first regular price)
    + display lift).
    """
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2022-01-05", periods=n_weeks, freq="7D")
    shock = rng.normal(0, shock_sd, n_weeks)
    zone = np.arange(n_stores) % max(zones, 1)
    zone_factor = np.linspace(0.7, 1.3, max(zones, 1)) if zones > 1 else np.ones(1)
    pins = [f"{400001 + i}" for i in range(n_stores)]
    size = rng.lognormal(0, 0.3, n_stores)
    rows, truth = [], []
    for s, e in enumerate(elasticities):
        sku = f"W{s:03d}"
        own = shock + rng.normal(0, 0.3, n_weeks)        # the weeks the chain expects to sell
        promo = own > np.quantile(own, 0.8)
        display = promo & (rng.random(n_weeks) < 0.6)
        depth = np.where(promo, rng.uniform(0.10, 0.30, n_weeks), 0.0)
        base = 50.0 * (1 + 0.2 * s) * np.ones(n_weeks)
        for week in rng.integers(10, n_weeks - 10, rng.integers(1, 3)):
            base[week:] *= 1 + rng.uniform(0.03, 0.10) * rng.choice([-1, 1])
        for st in range(n_stores):
            regular = base * (1 + 0.04 * (zone_factor[zone[st]] - 1))
            price = regular * (1 - depth * zone_factor[zone[st]])
            lp = np.log(price)
            lag = np.r_[0.0, lp[:-1] - lp[1:]]
            mu = (base_units * size[st] * np.exp(shock + e * np.log(price / base[0])
                                                  + display_lift * display + dip * lag))
            q = rng.poisson(mu * rng.gamma(8.0, 1 / 8.0, n_weeks))
            rows.append(pd.DataFrame({"sku_id": sku, "pin_code": pins[st], "date": weeks,
                                      "quantity": q.astype(float), "price": np.round(price, 2),
                                      "regular_price": np.round(regular, 2), "promo": promo,
                                      "display": display.astype(float)}))
        truth.append((sku, e))
    sales = pd.concat(rows, ignore_index=True)
    sales = sales[sales["quantity"] > 0].reset_index(drop=True)
    if not promo_flag:
        sales = sales.drop(columns="promo")
    sales["revenue"] = sales["quantity"] * sales["price"]
    skus = pd.DataFrame({"sku_id": [t[0] for t in truth], "category": category})
    locations = pd.DataFrame({"pin_code": pins, "state": "Maharashtra", "city": "Mumbai"})
    return (PanelInputs(sales, skus, locations, None, None),
            pd.DataFrame(truth, columns=["sku_id", "elasticity"]))
