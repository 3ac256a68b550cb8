"""A seeded weekly panel (one row per SKU x PIN x week, dated on Wednesdays, like the
dunnhumby export) with a known yearly pattern, promotions and optional planted events.

Planted truth:
- 12 SKUs in two categories x 20 PINs = 240 series, 156 weeks ending AS_OF (a Wednesday);
- each series has its own mean (6-60 units a week) and over-dispersed noise (gamma-Poisson,
  about 20% spread); "Snacks" sell twice as much in the two weeks before Christmas;
- about 12% of series-weeks are promotions (x1.8, flagged `promo`);
- SPIKE (optional): series SPIKE_SERIES sells 4x its mean in the week SPIKE_WEEK;
- STALE_PIN (optional): PIN 560020 stops reporting 4 weeks before AS_OF.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2025-11-19")                  # a Wednesday
WEEKS = pd.date_range(end=AS_OF, periods=156, freq="7D")
SKUS = [f"WK-{i:02d}" for i in range(12)]
PINS = [f"5600{i:02d}" for i in range(1, 21)]
CATEGORY = {s: ("Snacks" if i < 6 else "Frozen") for i, s in enumerate(SKUS)}
SPIKE_SERIES = ("WK-03", "560007")
SPIKE_WEEK = AS_OF - pd.Timedelta(days=14)
STALE_PIN = "560020"


def weekly_sales(seed: int = 11, spike: bool = False, stale: bool = False,
                 weeks: pd.DatetimeIndex = WEEKS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_weeks = len(weeks)
    xmas = np.asarray((weeks.month == 12) & (weeks.day >= 10) & (weeks.day <= 24))
    parts = []
    for sku in SKUS:
        for pin in PINS:
            mean = rng.uniform(6, 60)
            level = np.full(n_weeks, mean)
            if CATEGORY[sku] == "Snacks":
                level = level * np.where(xmas, 2.0, 1.0)
            promo = rng.random(n_weeks) < 0.12
            level = level * np.where(promo, 1.8, 1.0)
            qty = rng.poisson(level * rng.gamma(25.0, 1 / 25.0, n_weeks)).astype(float)
            if spike and (sku, pin) == SPIKE_SERIES:
                qty[weeks.get_loc(SPIKE_WEEK)] = round(4 * mean)
            frame = pd.DataFrame({"sku_id": sku, "pin_code": pin, "date": weeks.date,
                                  "quantity": qty, "promo": promo, "price": 40.0})
            if stale and pin == STALE_PIN:
                frame = frame[frame["date"] <= (AS_OF - pd.Timedelta(days=28)).date()]
            parts.append(frame)
    df = pd.concat(parts, ignore_index=True)
    df = df[df["quantity"] > 0].copy()
    df["revenue"] = df["quantity"] * df["price"]
    df["regular_price"] = df["price"]
    return df


def build(wh, **kw) -> pd.DataFrame:
    """Catalog, locations and the weekly panel in `sales_daily`; returns the sales."""
    from tests.alerts_frames import put

    put(wh, "skus", pd.DataFrame({"sku_id": SKUS, "name": [f"Item {s}" for s in SKUS],
                                  "category": [CATEGORY[s] for s in SKUS], "mrp": 50.0,
                                  "unit_cost": 30.0, "shelf_life_days": 180}))
    put(wh, "locations", pd.DataFrame({"pin_code": PINS, "city": "Bengaluru",
                                       "state": "Karnataka"}))
    sales = weekly_sales(**kw)
    put(wh, "sales_daily", sales[["sku_id", "pin_code", "date", "quantity", "revenue",
                                  "price", "regular_price", "promo"]])
    return sales
