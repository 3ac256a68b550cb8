"""PIN-code catchment polygons built from India Post's post-office points.

How a PIN's polygon is made (`build_pin_polygons`):

1. Generators: every PIN's centroid (from `pin_reference()`) plus every post office with a
   usable geocode (`post_offices()`). Identical coordinates are kept once: a PIN centroid
   wins over a post office, then the post office of the PIN whose centroid is nearest,
   then the lowest PIN code. Seeding the centroids makes each PIN's own cell contain its
   centroid, and it gives PINs without usable post-office points a cell of their own.
2. Voronoi cells of those points (`shapely.voronoi_polygons`), each clipped to a disk of
   `clip_deg` degrees around its own point, so the sea, deserts and borders far from any
   post office are not claimed (the union of those disks is the "land" mask).
3. Cells dissolved by PIN code: one Polygon or MultiPolygon per PIN.
4. When k PINs share the exact same centroid (India Post geocoded them to one point), the
   cell of that point is cut into k equal wedges meeting at the point, one per PIN: each
   of those polygons then touches its centroid (it lies on the boundary) instead of
   containing it; every other PIN's polygon contains its centroid.

Cells of a Voronoi diagram do not overlap, so neither do the PIN polygons (up to floating
point noise along shared edges).

The all-India build is cached as GeoParquet in `data/cache/` (`pin_polygons()`), keyed on
the reference data's version (geo.sqlite meta 'version') and BUILD_VERSION; district and
state polygons are dissolved from it and cached beside it (`area_polygons()`).
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from engine.errors import MicroPulseError
from engine.geo import pin_reference, post_offices
from engine.pin_directory import sqlite_path

BUILD_VERSION = "1"
CLIP_DEG = 0.1             # a cell reaches at most ~11 km from its post office
RENDER_TOLERANCE = {"pin": 0.0005, "district": 0.005, "state": 0.01}
# District/state map shapes fill holes up to this area (deg^2; 0.05 ~ 600 km^2): forest and
# desert with no post office within CLIP_DEG still belongs to its district and state.
FILL_HOLES_DEG2 = {"district": 0.05, "state": 0.2}
# State shapes are also "closed" (buffered out then in by this many degrees) so the
# slivers between post-office disks along borders and coasts do not read as gaps.
CLOSE_DEG = {"district": 0.0, "state": 0.05}
AREA_VERSION = "3"
CACHE_DIR = Path(__file__).resolve().parents[1] / "data" / "cache"
PIN_FILE = "pin_polygons.parquet"
LEVELS = ("district", "state")
POLYGON_COLUMNS = ["pin_code", "locality", "district", "state", "lat", "lon", "n_points",
                   "method", "geometry"]


class GeoBuildError(MicroPulseError, RuntimeError):
    """The polygon cache could not be built or read; says what to do."""

    code = "geo_build_error"
    http_status = 503


def reference_version() -> str:
    """The version string of the shipped India Post data (geo.sqlite meta 'version')."""
    con = sqlite3.connect(f"file:{sqlite_path()}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    finally:
        con.close()
    return str(row[0]) if row else "unknown"


# ---- the build ----------------------------------------------------------------------------
def _subset(frame: pd.DataFrame, states, bbox) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if states is not None:
        keep &= frame["state"].isin(list(states)).to_numpy()
    if bbox is not None:
        min_lon, min_lat, max_lon, max_lat = bbox
        keep &= frame["lon"].between(min_lon, max_lon).to_numpy()
        keep &= frame["lat"].between(min_lat, max_lat).to_numpy()
    return frame[keep]


def _generators(ref: pd.DataFrame, offices: pd.DataFrame) -> pd.DataFrame:
    """Unique generator points: pin_code, lon, lat, is_centroid."""
    cen = ref.set_index("pin_code")[["lat", "lon"]]
    offices = offices[offices["pin_code"].isin(cen.index)]
    dist = ((offices["lat"] - offices["pin_code"].map(cen["lat"])) ** 2
            + (offices["lon"] - offices["pin_code"].map(cen["lon"])) ** 2)
    gen = pd.concat([
        pd.DataFrame({"pin_code": cen.index, "lat": cen["lat"].to_numpy(),
                      "lon": cen["lon"].to_numpy(), "prio": 0, "dist": 0.0}),
        pd.DataFrame({"pin_code": offices["pin_code"].to_numpy(),
                      "lat": offices["lat"].to_numpy(), "lon": offices["lon"].to_numpy(),
                      "prio": 1, "dist": dist.to_numpy()}),
    ], ignore_index=True)
    gen = gen.sort_values(["lat", "lon", "prio", "dist", "pin_code"], kind="stable")
    return gen.drop_duplicates(["lat", "lon"]).reset_index(drop=True)


def _clipped_cells(x: np.ndarray, y: np.ndarray, clip_deg: float) -> np.ndarray:
    """Voronoi cell of every point (same order), clipped to a disk around the point."""
    if len(x) == 1:
        return shapely.buffer(shapely.points(x, y), clip_deg, quad_segs=4)
    env = shapely.box(x.min() - 2 * clip_deg, y.min() - 2 * clip_deg,
                      x.max() + 2 * clip_deg, y.max() + 2 * clip_deg)
    cells = np.asarray(shapely.get_parts(shapely.voronoi_polygons(
        shapely.multipoints(np.c_[x, y]), extend_to=env, ordered=True)))
    # Only cells reaching beyond the (16-gon) disk need the intersection.
    b = shapely.bounds(cells)
    far = np.maximum.reduce([(b[:, i] - x) ** 2 + (b[:, j] - y) ** 2
                             for i in (0, 2) for j in (1, 3)])
    need = far > (0.98 * clip_deg) ** 2
    disks = shapely.buffer(shapely.points(x[need], y[need]), clip_deg, quad_segs=4)
    cells[need] = shapely.intersection(cells[need], disks)
    return cells


def _wedges(cell, x: float, y: float, k: int, radius: float) -> list:
    """Cut `cell` into k equal-angle wedges meeting at (x, y)."""
    out = []
    for i in range(k):
        angles = np.linspace(2 * np.pi * i / k, 2 * np.pi * (i + 1) / k, 9)
        ring = [(x, y)] + [(x + radius * np.cos(a), y + radius * np.sin(a)) for a in angles]
        out.append(shapely.intersection(cell, shapely.Polygon(ring)))
    return out


def _dissolve(pins: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(pins, kind="stable")
    sp, sc = pins[order], cells[order]
    starts = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]])
    ends = np.r_[starts[1:], len(sp)]
    geoms = [sc[a] if b - a == 1 else shapely.union_all(sc[a:b])
             for a, b in zip(starts, ends)]
    return sp[starts], np.asarray(geoms, dtype=object)


def build_pin_polygons(states=None, bbox=None, clip_deg: float = CLIP_DEG,
                       ref: pd.DataFrame | None = None,
                       offices: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """PIN catchment polygons (EPSG:4326), one row per PIN with a centroid.

    `states` (title case) and/or `bbox` (min_lon, min_lat, max_lon, max_lat) build a subset
    (for tests); `ref`/`offices` default to `pin_reference()` / `post_offices()`.
    Columns: pin_code, locality, district, state, lat, lon (centroid), n_points (post
    offices used), method ('voronoi' or 'shared-centroid'), geometry.
    """
    ref = pin_reference() if ref is None else ref
    offices = post_offices() if offices is None else offices
    ref = _subset(ref.dropna(subset=["lat", "lon"]), states, bbox)
    offices = _subset(offices, states, bbox)
    if ref.empty:
        return gpd.GeoDataFrame({c: [] for c in POLYGON_COLUMNS[:-1]},
                                geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    gen = _generators(ref, offices)
    x, y = gen["lon"].to_numpy(), gen["lat"].to_numpy()
    cells = _clipped_cells(x, y, clip_deg)
    pins = gen["pin_code"].to_numpy(dtype=object)
    # PINs sharing one centroid split that point's cell into wedges.
    shared = ref[ref.duplicated(["lat", "lon"], keep=False)]
    shared_pins: set[str] = set()
    if len(shared):
        at = {(la, lo): i for i, (la, lo) in enumerate(zip(gen["lat"], gen["lon"]))}
        extra_pins, extra_cells = [], []
        for (la, lo), grp in shared.groupby(["lat", "lon"], sort=True):
            i = at[(la, lo)]
            members = sorted(grp["pin_code"])
            extra_pins += members
            extra_cells += _wedges(cells[i], lo, la, len(members), 2 * clip_deg)
            pins[i] = None
            shared_pins.update(members)
        keep = np.array([p is not None for p in pins])
        pins = np.r_[pins[keep], np.asarray(extra_pins, dtype=object)]
        cells = np.r_[cells[keep], np.asarray(extra_cells, dtype=object)]
    upins, geoms = _dissolve(pins.astype(str), cells)
    info = ref.set_index("pin_code").loc[upins]
    n_points = offices.groupby("pin_code").size().reindex(upins, fill_value=0)
    out = gpd.GeoDataFrame({
        "pin_code": upins.astype(str),
        "locality": info["locality"].to_numpy(), "district": info["district"].to_numpy(),
        "state": info["state"].to_numpy(), "lat": info["lat"].to_numpy(),
        "lon": info["lon"].to_numpy(), "n_points": n_points.to_numpy().astype("int64"),
        "method": np.where(np.isin(upins, list(shared_pins)), "shared-centroid", "voronoi"),
    }, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
    return out[POLYGON_COLUMNS]


def fill_holes(geom, max_area: float):
    """`geom` with interior rings smaller than `max_area` (deg^2) filled in."""
    if geom is None or geom.is_empty:
        return geom
    parts = []
    for part in shapely.get_parts(geom):
        holes = [r for r in part.interiors if shapely.Polygon(r).area > max_area]
        parts.append(shapely.Polygon(part.exterior, holes))
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def dissolve_areas(pins: gpd.GeoDataFrame, level: str) -> gpd.GeoDataFrame:
    """District or state polygons dissolved from PIN polygons.

    District rows are keyed by (state, district): the same district name occurs in more
    than one state (e.g. Aurangabad in Bihar and Maharashtra)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    keys = ["state", "district"] if level == "district" else ["state"]
    frame = pins.dropna(subset=keys)
    out = frame[keys + ["geometry"]].dissolve(by=keys, as_index=False)
    counts = frame.groupby(keys).size().rename("n_pins").reset_index()
    out = out.merge(counts, on=keys)
    return out[keys + ["n_pins", "geometry"]].sort_values(keys).reset_index(drop=True)


# ---- the cache ----------------------------------------------------------------------------
def _cache_dir(cache_dir) -> Path:
    return Path(cache_dir or os.environ.get("MICROPULSE_CACHE_DIR") or CACHE_DIR)


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def _fresh(path: Path, key: dict) -> bool:
    meta = _meta_path(path)
    if not (path.exists() and meta.exists()):
        return False
    try:
        stored = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    return all(stored.get(k) == v for k, v in key.items())


def _write_atomic(gdf: gpd.GeoDataFrame, path: Path, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".parquet.tmp")
    os.close(fd)
    try:
        gdf.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    meta = {**meta, "bytes": path.stat().st_size, "rows": len(gdf)}
    _meta_path(path).write_text(json.dumps(meta, indent=2))


def _cache_key() -> dict:
    return {"data_version": reference_version(), "build_version": BUILD_VERSION,
            "clip_deg": CLIP_DEG}


def _read(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a corrupt cache is rebuilt by the caller
        raise GeoBuildError(f"Could not read the map polygons cache {path} ({exc}); delete "
                            f"it and it will be rebuilt.") from exc


_MEMO: dict[tuple, gpd.GeoDataFrame] = {}


def ensure_pin_cache(cache_dir=None) -> Path:
    """Path of the all-India PIN polygon GeoParquet, building it if missing or stale."""
    path = _cache_dir(cache_dir) / PIN_FILE
    key = _cache_key()
    if not _fresh(path, key):
        started = time.perf_counter()
        gdf = build_pin_polygons()
        _write_atomic(gdf, path, {**key, "build_seconds":
                                  round(time.perf_counter() - started, 2)})
        _MEMO.clear()
    return path


def ensure_area_cache(level: str, cache_dir=None) -> Path:
    """Path of the district/state polygon GeoParquet (simplified for maps), built if needed."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    pin_path = ensure_pin_cache(cache_dir)
    path = pin_path.with_name(f"{level}_polygons.parquet")
    key = {**_cache_key(), "tolerance": RENDER_TOLERANCE[level], "area_version": AREA_VERSION}
    if not _fresh(path, key):
        started = time.perf_counter()
        areas = dissolve_areas(_read(pin_path), level)
        geoms = areas.geometry.values
        if CLOSE_DEG[level]:
            geoms = shapely.buffer(shapely.buffer(geoms, CLOSE_DEG[level], quad_segs=2),
                                   -CLOSE_DEG[level], quad_segs=2)
        filled = [fill_holes(g, FILL_HOLES_DEG2[level]) for g in geoms]
        areas["geometry"] = gpd.GeoSeries(filled, crs=4326).simplify(RENDER_TOLERANCE[level])
        _write_atomic(areas, path, {**key, "build_seconds":
                                    round(time.perf_counter() - started, 2)})
    return path


def _load(path: Path) -> gpd.GeoDataFrame:
    stamp = (str(path), path.stat().st_mtime_ns)
    if stamp not in _MEMO:
        _MEMO[stamp] = _read(path)
    return _MEMO[stamp]


def pin_polygons(pins=None, simplify_tolerance: float | None = None,
                 cache_dir=None) -> gpd.GeoDataFrame:
    """All-India PIN polygons from the cache (built on first use), optionally only `pins`
    and simplified (degrees; e.g. RENDER_TOLERANCE['pin'] for maps)."""
    gdf = _load(ensure_pin_cache(cache_dir))
    if pins is not None:
        gdf = gdf[gdf["pin_code"].isin(list(pins))]
    gdf = gdf.copy()
    if simplify_tolerance:
        gdf["geometry"] = gdf.geometry.simplify(simplify_tolerance)
    return gdf.reset_index(drop=True)


def area_polygons(level: str, cache_dir=None) -> gpd.GeoDataFrame:
    """District (state, district, n_pins, geometry) or state (state, n_pins, geometry)
    polygons, simplified for maps; 'pin' returns `pin_polygons()` simplified."""
    if level == "pin":
        return pin_polygons(simplify_tolerance=RENDER_TOLERANCE["pin"], cache_dir=cache_dir)
    return _load(ensure_area_cache(level, cache_dir)).copy()


def cached_area_polygons(level: str, cache_dir=None) -> gpd.GeoDataFrame | None:
    """area_polygons(level) if its cache is already built and current, else None (never
    builds: for pages that can do without, such as the outlines under the Overview map)."""
    path = _cache_dir(cache_dir) / f"{level}_polygons.parquet"
    key = {**_cache_key(), "tolerance": RENDER_TOLERANCE[level], "area_version": AREA_VERSION}
    if not _fresh(path, key):
        return None
    try:
        return _load(path).copy()
    except GeoBuildError:
        return None


def cache_info(cache_dir=None) -> dict:
    """What the cache holds: {file name: its metadata (build_seconds, bytes, rows, ...)}."""
    out = {}
    for meta in sorted(_cache_dir(cache_dir).glob("*_polygons.json")):
        try:
            out[meta.with_suffix(".parquet").name] = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
    return out


def write_pin_polygons(path, cache_dir=None) -> dict:
    """Write the all-India PIN polygons (pin_code, locality, district, state, lat, lon,
    n_points, method, geometry; EPSG:4326) to `path` as GeoParquet."""
    started = time.perf_counter()
    src = ensure_pin_cache(cache_dir)
    gdf = _load(src)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf.to_parquet(path, index=False)
    return {"path": str(path), "rows": len(gdf), "bytes": path.stat().st_size,
            "crs": gdf.crs.to_string(), "seconds": round(time.perf_counter() - started, 2),
            "cache": str(src), "data_version": reference_version()}


def attach_polygons(values: pd.DataFrame, level: str, cache_dir=None) -> gpd.GeoDataFrame:
    """Join per-area values (from `engine.geo.rollup`) to map polygons simplified for
    rendering. Adds `name` and `place` (plain-words labels) and, at PIN level, locality,
    district, state, lat, lon. Areas without a polygon are dropped (see `unmapped`)."""
    if level == "pin":
        polys = pin_polygons(pins=values["pin_code"].astype(str),
                             simplify_tolerance=RENDER_TOLERANCE["pin"], cache_dir=cache_dir)
        polys = polys.drop(columns=["n_points", "method"])
        gdf = polys.merge(values.drop(columns=["district", "state", "locality"],
                                      errors="ignore"), on="pin_code", how="inner")
        gdf["name"] = "PIN " + gdf["pin_code"] + " · " + gdf["locality"].fillna("")
        gdf["place"] = gdf["district"].fillna("") + ", " + gdf["state"].fillna("")
    else:
        keys = ["state", "district"] if level == "district" else ["state"]
        polys = area_polygons(level, cache_dir=cache_dir).drop(columns=["n_pins"])
        gdf = polys.merge(values, on=keys, how="inner")
        if level == "district":
            gdf["name"] = gdf["district"] + " district"
            gdf["place"] = gdf["state"]
        else:
            gdf["name"] = gdf["state"]
            gdf["place"] = "State / union territory"
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=4326)
    gdf.attrs["unmapped"] = int(len(values) - len(gdf))
    return gdf.reset_index(drop=True)
