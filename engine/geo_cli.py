"""`python -m engine geo --out FILE.parquet`: PIN-code polygons as GeoParquet."""
from __future__ import annotations

import json
import sys


def _run(args) -> int:
    from engine.geo_polygons import GeoBuildError, write_pin_polygons

    if args.cache:
        return _build_cache(args)
    if not args.out:
        print("error: give --out FILE.parquet, or --cache", file=sys.stderr)
        return 2
    try:
        info = write_pin_polygons(args.out)
    except (GeoBuildError, OSError) as exc:
        print(f"Could not write the PIN polygons: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info))
    else:
        print(f"Wrote {info['rows']:,} PIN-code polygons ({info['bytes'] / 1e6:.1f} MB, "
              f"{info['crs']}) to {info['path']} in {info['seconds']} s "
              f"(India Post data {info['data_version']}).")
    return 0


def _build_cache(args) -> int:
    """Build (or confirm) the PIN, district and state polygon caches the maps read."""
    import time

    from engine.geo_polygons import GeoBuildError, cache_info, ensure_area_cache

    started = time.perf_counter()
    try:
        for level in ("district", "state"):
            ensure_area_cache(level)
    except (GeoBuildError, OSError) as exc:
        print(f"Could not build the map polygons cache: {exc}", file=sys.stderr)
        return 1
    info = cache_info()
    if args.json:
        print(json.dumps(info))
    else:
        sizes = ", ".join(f"{name} ({meta.get('rows', 0):,} areas)"
                          for name, meta in info.items())
        print(f"Map polygons cache ready in {time.perf_counter() - started:.1f} s: {sizes}.")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("geo", help="write PIN-code catchment polygons (GeoParquet), or "
                                   "build the maps' polygon cache",
                       description="Write PIN-code catchment polygons built from India Post "
                                   "post-office points (pin_code, locality, district, state, "
                                   "lat, lon, n_points, method, geometry; EPSG:4326). Built "
                                   "once and cached in data/cache/.")
    p.add_argument("--out", metavar="FILE.parquet", help="GeoParquet to write")
    p.add_argument("--cache", action="store_true",
                   help="only build the PIN, district and state polygon caches the maps read "
                        "(instant when they are current)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=_run)
