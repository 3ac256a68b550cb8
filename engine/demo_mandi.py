"""Demo mandi (APMC wholesale market) prices in Agmarknet's shape.

Real markets with real coordinates; prices in Rs per quintal (min / max / modal) and
arrivals in tonnes. Each commodity follows its crop cycle (onion dearest Sep-Dec before the
late-kharif arrivals, tomato spikes in the monsoon, potato dearest before the new crop in
Jan-Feb, wheat cheapest after the April harvest), a shared national shock, and a
market-level offset (producer markets such as Lasalgaon or Kolar are cheaper than terminal
markets such as Azadpur or Koyambedu). Markets skip some days (Sundays mostly; less
reliable markets more often, one stops reporting before the end).
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from engine.demo_weather import stable_rng

VEG = ("Onion", "Tomato", "Potato", "Green Chilli", "Cauliflower")
GRAIN = ("Rice", "Wheat", "Masur Dal", "Mustard Oil")

# commodity -> (base modal Rs/quintal, monthly multipliers Jan..Dec, shock sd, varieties)
COMMODITIES: dict[str, tuple[float, list[float], float, tuple[str, ...]]] = {
    "Onion": (2200, [0.95, 0.85, 0.75, 0.70, 0.72, 0.80, 0.95, 1.10, 1.35, 1.55, 1.50, 1.15],
              0.14, ("Red", "Nasik", "Pole")),
    "Tomato": (1800, [0.55, 0.50, 0.55, 0.70, 0.95, 1.40, 1.90, 1.50, 1.00, 1.10, 1.20, 0.80],
               0.18, ("Hybrid", "Local")),
    "Potato": (1500, [1.20, 1.05, 0.80, 0.80, 0.88, 0.95, 1.00, 1.08, 1.15, 1.25, 1.30, 1.25],
               0.10, ("Jyoti", "Chandramukhi", "Local")),
    "Green Chilli": (3500, [0.90, 0.85, 0.90, 1.10, 1.30, 1.40, 1.20, 1.00, 0.90, 0.90, 0.90, 0.90],
                     0.15, ("Green Chilly",)),
    "Cauliflower": (1500, [0.60, 0.60, 0.80, 1.00, 1.30, 1.60, 1.70, 1.60, 1.30, 1.00, 0.80, 0.65],
                    0.15, ("Local",)),
    "Rice": (3600, [0.98, 0.99, 1.00, 1.01, 1.02, 1.03, 1.03, 1.02, 1.01, 0.98, 0.96, 0.97],
             0.03, ("Common", "Sona Masoori")),
    "Wheat": (2600, [1.08, 1.10, 1.00, 0.90, 0.92, 0.95, 0.97, 1.00, 1.02, 1.04, 1.06, 1.08],
              0.03, ("Dara", "Lokwan", "Sharbati")),
    "Masur Dal": (8500, [1.00, 1.00, 0.98, 0.97, 0.98, 1.00, 1.01, 1.02, 1.02, 1.01, 1.00, 1.00],
                  0.03, ("Masoor Dal",)),
    "Mustard Oil": (13500, [1.02, 1.00, 0.97, 0.96, 0.97, 0.99, 1.00, 1.01, 1.02, 1.02, 1.02, 1.02],
                    0.025, ("Mustard Oil",)),
}

# market, district, state, lat, lon, kind (producer / terminal / local), commodities
MARKETS: tuple[tuple[str, str, str, float, float, str, tuple[str, ...]], ...] = (
    ("Azadpur", "North West", "Delhi", 28.7072, 77.1752, "terminal", VEG),
    ("Vashi New Mumbai", "Thane", "Maharashtra", 19.0771, 72.9990, "terminal",
     VEG + ("Rice", "Wheat", "Masur Dal")),
    ("Lasalgaon", "Nashik", "Maharashtra", 20.1500, 74.2400, "producer", ("Onion",)),
    ("Pimpalgaon", "Nashik", "Maharashtra", 20.1700, 73.9874, "producer", ("Onion", "Tomato")),
    ("Pune (Gultekdi)", "Pune", "Maharashtra", 18.4870, 73.8650, "local", VEG),
    ("Bangalore (Yeshwanthpur)", "Bengaluru Urban", "Karnataka", 13.0245, 77.5385, "terminal",
     ("Onion", "Tomato", "Potato", "Green Chilli", "Rice")),
    ("Chennai (Koyambedu)", "Chennai", "Tamil Nadu", 13.0693, 80.1948, "terminal", VEG),
    ("Bowenpally", "Hyderabad", "Telangana", 17.4760, 78.4790, "local",
     ("Onion", "Tomato", "Potato", "Green Chilli")),
    ("Kolar", "Kolar", "Karnataka", 13.1357, 78.1326, "producer", ("Tomato",)),
    ("Madanapalli", "Chittoor", "Andhra Pradesh", 13.5500, 78.5030, "producer", ("Tomato",)),
    ("Indore", "Indore", "Madhya Pradesh", 22.6870, 75.8330, "producer",
     ("Onion", "Potato", "Wheat", "Masur Dal")),
    ("Agra", "Agra", "Uttar Pradesh", 27.1767, 78.0081, "producer",
     ("Potato", "Mustard Oil", "Wheat")),
    ("Ahmedabad", "Ahmadabad", "Gujarat", 23.0160, 72.5860, "local",
     ("Onion", "Potato", "Tomato", "Wheat", "Rice")),
    ("Jaipur (Muhana)", "Jaipur", "Rajasthan", 26.7960, 75.7640, "local",
     ("Onion", "Tomato", "Mustard Oil", "Wheat")),
    ("Lucknow (Dubagga)", "Lucknow", "Uttar Pradesh", 26.8720, 80.8700, "local",
     ("Potato", "Tomato", "Wheat", "Rice", "Masur Dal", "Mustard Oil")),
    ("Kolkata (Sealdah Koley)", "Kolkata", "West Bengal", 22.5670, 88.3700, "terminal",
     ("Potato", "Onion", "Rice", "Mustard Oil", "Masur Dal")),
    ("Patna (Musallahpur)", "Patna", "Bihar", 25.6110, 85.1600, "local",
     ("Potato", "Onion", "Rice", "Wheat", "Masur Dal", "Mustard Oil")),
    ("Ernakulam", "Ernakulam", "Kerala", 9.9816, 76.2999, "terminal", ("Onion", "Tomato", "Rice")),
)
KIND_OFFSET = {"producer": -0.12, "terminal": 0.07, "local": 0.0}
# Typical daily arrivals (tonnes) of a commodity at a mid-sized market.
BASE_ARRIVALS = {"Onion": 400, "Tomato": 250, "Potato": 350, "Green Chilli": 40,
                 "Cauliflower": 60, "Rice": 120, "Wheat": 200, "Masur Dal": 25,
                 "Mustard Oil": 15}
KIND_ARRIVALS = {"producer": 2.5, "terminal": 2.0, "local": 0.8}
_MID_MONTH = np.array([15.5, 45, 74.5, 105, 135.5, 166, 196.5, 227.5, 258, 288.5, 319, 349.5])


def _seasonal(monthly: list[float], doy: np.ndarray) -> np.ndarray:
    x = np.concatenate([_MID_MONTH - 365.25, _MID_MONTH, _MID_MONTH + 365.25])
    return np.interp(doy, x, np.log(np.tile(monthly, 3)))


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    eps = rng.standard_normal(n) * sd * np.sqrt(1 - phi ** 2)
    eps[0] = rng.standard_normal() * sd
    return lfilter([1.0], [1.0, -phi], eps)


def market_profiles(seed: int) -> pd.DataFrame:
    """Planted per-market attributes: grade quality, reporting probability, price offset."""
    rows = []
    for name, district, state, lat, lon, kind, commodities in MARKETS:
        rng = stable_rng(seed, "mandi-profile", name)
        quality = float(np.round(rng.uniform(0.55, 0.95), 2))
        report_p = float(rng.uniform(0.90, 0.985))
        if name in ("Madanapalli", "Patna (Musallahpur)"):
            report_p -= 0.15
        rows.append({"market": name, "district": district, "state": state, "lat": lat,
                     "lon": lon, "kind": kind, "commodities": commodities,
                     "quality": quality, "report_p": report_p,
                     "offset": KIND_OFFSET[kind] + rng.normal(0, 0.04)})
    return pd.DataFrame(rows)


def generate_mandi(start: date, end: date, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (mandi_prices, mandis) frames with the warehouse's columns."""
    dates = pd.date_range(start, end, freq="D")
    n = len(dates)
    doy = dates.dayofyear.to_numpy(dtype=float)
    years = (dates - dates[0]).days.to_numpy() / 365.25
    sunday = dates.dayofweek.to_numpy() == 6
    profiles = market_profiles(seed)
    national = {}
    for com, (base, monthly, sd, _) in COMMODITIES.items():
        rng = stable_rng(seed, "mandi-national", com)
        national[com] = (np.log(base) + _seasonal(monthly, doy) + 0.05 * years
                         + _ar1(rng, n, 0.985, sd))
    frames, reliability = [], {}
    for prof in profiles.itertuples(index=False):
        reported_total, days_total = 0, 0
        for com in prof.commodities:
            base, monthly, sd, varieties = COMMODITIES[com]
            rng = stable_rng(seed, "mandi", prof.market, com)
            log_modal = national[com] + prof.offset + _ar1(rng, n, 0.9, sd * 0.45)
            modal = np.exp(log_modal)
            spread = (0.04 if com in GRAIN else 0.12) * (1.6 - prof.quality)
            low = modal * (1 - np.abs(rng.normal(spread, spread / 3, n)))
            high = modal * (1 + np.abs(rng.normal(spread, spread / 3, n)))
            season = np.exp(_seasonal(monthly, doy))
            arrivals = (BASE_ARRIVALS[com] * KIND_ARRIVALS[prof.kind] * season ** -1.5
                        * rng.lognormal(0, 0.3, n))
            reported = rng.random(n) < np.where(sunday, 0.12, prof.report_p)
            if prof.market == "Patna (Musallahpur)":
                reported[-12:] = False          # stopped reporting recently
            reported_total += int(reported[~sunday].sum())
            days_total += int((~sunday).sum())
            variety = np.asarray(varieties)[rng.integers(0, len(varieties), n)]
            grade = np.where(rng.random(n) < prof.quality, "FAQ", "Non-FAQ")
            frames.append(pd.DataFrame({
                "market": prof.market, "state": prof.state, "district": prof.district,
                "commodity": com, "variety": variety, "grade": grade,
                "date": dates, "min_price": np.round(low, -1),
                "max_price": np.round(high, -1), "modal_price": np.round(modal, -1),
                "arrivals_tonnes": np.round(arrivals, 1), "batch_id": "demo",
            })[reported])
        reliability[prof.market] = reported_total / max(days_total, 1)
    prices = pd.concat(frames, ignore_index=True)
    prices["min_price"] = np.minimum(prices["min_price"], prices["modal_price"])
    prices["max_price"] = np.maximum(prices["max_price"], prices["modal_price"])
    mandis = profiles[["market", "district", "state", "lat", "lon"]].copy()
    mandis["quality_index"] = profiles["quality"].to_numpy()
    mandis["reliability_index"] = np.round(mandis["market"].map(reliability).astype(float), 3)
    return prices, mandis
