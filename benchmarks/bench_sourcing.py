"""Sourcing timings: ranking on real Agmarknet onion prices (if present) and on the demo,
allocation MILP solve time by number of candidate mandis. Prints figures; no asserts.

    .venv/bin/python benchmarks/bench_sourcing.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.sourcing.allocation import AllocationConfig, allocate  # noqa: E402
from engine.sourcing.ranking import Destination, rank_mandis  # noqa: E402

DATA = Path("/work/shared/data/mandi")


def timed(fn, *args, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def main() -> None:
    if (DATA / "onion.csv.gz").exists():
        d = pd.read_csv(DATA / "onion.csv.gz")
        prices = pd.DataFrame({"market": d.MARKET, "state": d.STATE, "commodity": d.COMMODITY,
                               "date": d.DATE, "min_price": d.MIN_PRICE_RS_QTL,
                               "max_price": d.MAX_PRICE_RS_QTL,
                               "modal_price": d.MODAL_PRICE_RS_QTL,
                               "arrivals_tonnes": d.ARRIVAL_TONNES})
        m = pd.read_csv(DATA / "market_district_latlon_2019_2021.csv")
        mandis = pd.DataFrame({"market": m.MARKET, "district": m.DISTRICT, "state": m.STATE,
                               "lat": m.LATITUDE, "lon": m.LONGITUDE})
        ranked, secs = timed(rank_mandis, prices, mandis, Destination(12.98, 77.59), 50)
        print(f"rank_mandis real onion: {len(prices):,} rows -> {len(ranked)} mandis in "
              f"{secs:.2f} s ({len(prices) / secs:,.0f} rows/s)")
    rng = np.random.default_rng(0)
    for n in (10, 50, 200):
        ranked = pd.DataFrame({
            "market": [f"M{i}" for i in range(n)], "state": "X",
            "mandi_id": [f"M{i}|X" for i in range(n)],
            "modal_price": rng.uniform(900, 1500, n), "transport_per_qtl": rng.uniform(0, 600, n),
            "quality_score": rng.uniform(20, 100, n), "score": 50.0,
            "arrivals_qtl_per_day": rng.uniform(50, 2000, n), "distance_km": 100.0,
            "road_km": 130.0, "lat": 13.0, "lon": 77.0})
        ranked["landed_price"] = ranked["modal_price"] + ranked["transport_per_qtl"]
        res, secs = timed(allocate, ranked, AllocationConfig(quantity_qtl=1500, max_mandis=4,
                                                             min_quality=50))
        print(f"allocate {n:>3} mandis ({3 * n} variables): {res.status} in {secs * 1000:.0f} ms")


if __name__ == "__main__":
    main()
