"""PIN-code geography figures: polygon build, cache read, map build for the demo's PINs,
and district/state roll-ups of 20,000 PIN codes.

    .venv/bin/python benchmarks/bench_geo.py [--rebuild] [--warehouse PATH]

--rebuild times a fresh all-India build into a temporary cache (does not touch
data/cache/). --warehouse (default $MICROPULSE_WAREHOUSE) times the Map page's engine
path for sales by PIN on that warehouse; without it a synthetic 72-PIN frame is used.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def timed(label: str, fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"{label:<58} {time.perf_counter() - started:8.3f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--warehouse", default=os.environ.get("MICROPULSE_WAREHOUSE"))
    args = ap.parse_args()
    from components.maps import choropleth_deck
    from engine import geo_polygons as gp
    from engine.geo import pin_reference, post_offices, rollup

    ref = timed("pin_reference() (19.6k PINs, SQLite read)", pin_reference)
    timed("post_offices() (141k usable points)", post_offices)
    if args.rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            timed("all-India PIN polygons: build + write GeoParquet", gp.ensure_pin_cache, tmp)
            timed("district polygons: dissolve + simplify + write", gp.ensure_area_cache,
                  "district", tmp)
            timed("state polygons: dissolve + close + simplify + write",
                  gp.ensure_area_cache, "state", tmp)
            for name, meta in gp.cache_info(tmp).items():
                print(f"  {name:<28} {meta['rows']:>6} rows {meta['bytes'] / 1e6:6.2f} MB "
                      f"(built in {meta['build_seconds']} s)")
    gp.ensure_pin_cache()
    gp._MEMO.clear()
    pins = timed("read PIN polygon cache (GeoParquet)", gp.pin_polygons)
    for name, meta in gp.cache_info().items():
        print(f"  cache {name:<28} {meta['rows']:>6} rows {meta['bytes'] / 1e6:6.2f} MB")

    # Map of every demo PIN: engine path (inputs -> roll-up -> polygons) + deck build.
    if args.warehouse:
        from engine.map_metrics import map_frame, pin_inputs
        from engine.warehouse.db import Warehouse
        from engine.warehouse.sql import Filters

        wh = Warehouse(args.warehouse, read_only=True)
        for level in ("pin", "district", "state"):
            started = time.perf_counter()
            gdf = map_frame(wh, pin_inputs(wh, Filters(), "sales"), level)
            deck = choropleth_deck(gdf, "value", "Sales", "inr",
                                   context=gp.area_polygons("state"))
            deck.to_json()
            print(f"{'map of demo sales by ' + level + f' ({len(gdf)} areas), end to end':<58} "
                  f"{time.perf_counter() - started:8.3f} s")
    demo = pins.sample(72, random_state=1).assign(value=np.arange(72.0), name="x", place="y")
    timed("choropleth deck, 72 PINs (+ JSON)",
          lambda: choropleth_deck(demo, "value", "Sales", "inr").to_json())
    all_pins = pins.assign(value=np.arange(len(pins), dtype=float), name="x", place="y")
    all_pins["geometry"] = all_pins.geometry.simplify(gp.RENDER_TOLERANCE["pin"] * 4)
    timed(f"choropleth deck, all {len(all_pins):,} PINs (+ JSON)",
          lambda: choropleth_deck(all_pins, "value", "Sales", "inr",
                                  show_points=False).to_json())

    rng = np.random.default_rng(0)
    sample = ref["pin_code"].sample(20_000, replace=len(ref) < 20_000, random_state=0)
    df = pd.DataFrame({"pin_code": sample.to_numpy(), "revenue": rng.gamma(2, 1e5, 20_000),
                       "units": rng.poisson(300, 20_000)})
    rollup(df.head(10), "state", ["revenue"])  # warm the reference cache
    timed("roll-up 20,000 PIN rows -> district", rollup, df, "district", ["revenue", "units"])
    timed("roll-up 20,000 PIN rows -> state", rollup, df, "state", ["revenue", "units"])


if __name__ == "__main__":
    main()
