"""The demo's competitor price feed: what BigBasket, DMart and a local kirana charge for
our products, in the shape of a `competitor` upload (competitor, item_name, pin_code or
city, date, price, in_stock), with the names each writes its own way.

- BigBasket (city-wide online prices): "Fortune Soyabean Oil 1 ltr Pouch", about 8% under
  MRP, weekly offers;
- DMart (city-wide store prices): "FORTUNE SOYABEAN OIL 1L", about 11% under MRP; in the
  last three weeks it undercuts hard (22-28% under MRP) on a few high-value SKUs;
- Sharma Kirana Store (one PIN per city, priced at or near MRP): Hinglish and shop
  abbreviations ("Fortune Soyabean Tel 1000ml").
Each competitor lists a seeded share of our SKUs, plus a few items we do not sell, so the
review list and the "not ours" count have content. Prices are observed weekly for the last
26 weeks of the demo. Deterministic for a seed.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from engine.demo_weather import stable_rng

WEEKS = 26
HINGLISH = {"Milk": "Doodh", "Oil": "Tel", "Tea": "Chai", "Rice": "Chawal", "Sugar": "Cheeni",
            "Salt": "Namak", "Curd": "Dahi", "Butter": "Makhan", "Onion": "Pyaz",
            "Potato": "Aloo", "Tomato": "Tamatar", "Soap": "Sabun", "Chocolate": "Choc",
            "Biscuit": "Bisc"}
NOT_OURS = ("Patanjali Cow Ghee 1 L", "Surf Excel Easy Wash 1 kg", "Coca Cola 750 ml",
            "Kissan Mixed Fruit Jam 500 g", "Horlicks Classic 500 g", "Dove Soap 3 x 100 g")


def _bigbasket(name: str) -> str:
    name = re.sub(r"(\d+(?:\.\d+)?) L\b", r"\1 ltr", name)
    name = re.sub(r"(\d+) g\b", r"\1 gm", name)
    return name + (" Pouch" if " ltr" in name or " ml" in name else "")


def _dmart(name: str) -> str:
    return re.sub(r"(\d+(?:\.\d+)?) (ml|L|g|kg)\b", r"\1\2", name).upper().replace("'", "")


def _kirana(name: str) -> str:
    def metric(m):
        q, u = float(m.group(1)), m.group(2)
        return {"L": f"{q * 1000:g}ml", "kg": f"{q * 1000:g}gm"}.get(u, f"{q:g}{u}")
    name = re.sub(r"(\d+(?:\.\d+)?) (L|kg|ml|g)\b", metric, name)
    return " ".join(HINGLISH.get(w, w) for w in name.split()).replace("'", "")


COMPETITORS = (("BigBasket", _bigbasket, 0.92, 0.55, "city"),
               ("DMart", _dmart, 0.89, 0.45, "city"),
               ("Sharma Kirana Store", _kirana, 0.99, 0.35, "pin"))


def competitor_feed(skus: pd.DataFrame, locations: pd.DataFrame, end, seed: int = 42
                    ) -> pd.DataFrame:
    """Rows: competitor, item_name, pin_code (None for city-wide prices), city, date, price,
    in_stock."""
    end = pd.Timestamp(end).normalize()
    days = pd.date_range(end=end, periods=WEEKS, freq="7D")
    cities = sorted(locations["city"].dropna().unique())
    first_pin = locations.sort_values("pin_code").groupby("city")["pin_code"].first()
    skus = skus[skus["mrp"].notna() & skus["name"].notna()].sort_values("sku_id")
    value = skus["mrp"].to_numpy(float)
    top = set(skus["sku_id"].to_numpy()[np.argsort(-value)[:max(3, len(skus) // 12)]])
    rows = []
    for name, style, level, share, where in COMPETITORS:
        rng = stable_rng(seed, "competitor", name)
        listed = skus[rng.random(len(skus)) < share]
        # the kirana writes some items without the brand (these wait for review)
        items = [(r.sku_id, style(r.name.replace(f"{r.brand} ", "", 1)
                                  if where == "pin" and rng.random() < 0.2 else r.name),
                  float(r.mrp)) for r in listed.itertuples()]
        items += [(None, style(n), float(rng.integers(40, 400))) for n in NOT_OURS
                  if rng.random() < 0.5]
        for city in cities:
            pin = first_pin.get(city) if where == "pin" else None
            for sku, label, mrp in items:
                base = level * rng.uniform(0.97, 1.03)
                walk = np.cumsum(rng.normal(0, 0.012, len(days)))
                offer = rng.random(len(days)) < 0.12
                factor = base * np.exp(walk - walk.mean()) * np.where(offer, 0.9, 1.0)
                if name == "DMart" and sku in top:
                    factor[-3:] = rng.uniform(0.72, 0.78)
                price = np.round(np.minimum(mrp * factor, mrp), 0)
                stock = rng.random(len(days)) > 0.05
                rows += [(name, label, pin, city, d, float(p), bool(s))
                         for d, p, s in zip(days, price, stock)]
    return pd.DataFrame(rows, columns=["competitor", "item_name", "pin_code", "city", "date",
                                       "price", "in_stock"])
