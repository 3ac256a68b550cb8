"""PIN-code catchment polygons (Voronoi of India Post post offices), roll-ups and the
`geo` CLI. Property tests run on a 3-state subset build; the all-India cache (built once,
~20-40 s on 2 cores, reused from data/cache/) is checked in one session fixture."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from engine import geo_polygons as gp
from engine.geo import pin_reference, post_offices, rollup

SUBSET = ("Delhi", "Goa", "Chandigarh")
OVERLAP_TOL_DEG2 = 1e-9   # ~0.01 m^2: floating-point noise along shared edges


@pytest.fixture(scope="module")
def subset():
    return gp.build_pin_polygons(states=SUBSET)


@pytest.fixture(scope="session")
def all_india():
    return gp.pin_polygons()


def _centroids(gdf):
    return shapely.points(gdf["lon"].to_numpy(), gdf["lat"].to_numpy())


def _max_overlap(geoms: np.ndarray, sample: np.ndarray) -> float:
    tree = shapely.STRtree(geoms)
    worst = 0.0
    for i in sample:
        for j in tree.query(geoms[i], predicate="intersects"):
            if j != i:
                worst = max(worst, shapely.intersection(geoms[i], geoms[j]).area)
    return worst


def test_every_pin_with_coordinates_in_the_subset_gets_exactly_one_polygon(subset):
    ref = pin_reference()
    expected = set(ref[ref["state"].isin(SUBSET) & ref["lat"].notna()]["pin_code"])
    assert subset["pin_code"].is_unique
    assert set(subset["pin_code"]) == expected
    assert set(subset.geom_type) <= {"Polygon", "MultiPolygon"}
    assert subset.geometry.is_valid.all() and not subset.geometry.is_empty.any()
    assert subset.crs.to_epsg() == 4326


def test_subset_polygons_contain_their_centroid(subset):
    pts = _centroids(subset)
    own = subset["method"].eq("voronoi").to_numpy()
    assert shapely.contains(subset.geometry.values[own], pts[own]).all()
    # PINs India Post geocoded to one shared point split it: each touches the point.
    assert shapely.covers(subset.geometry.values, pts).all()


def test_subset_polygons_do_not_overlap(subset):
    geoms = subset.geometry.values
    assert _max_overlap(geoms, np.arange(len(geoms))) < OVERLAP_TOL_DEG2


def test_pin_without_post_office_points_gets_a_cell_around_its_centroid():
    ref = pin_reference()
    ref = ref[ref["state"] == "Goa"]
    offices = post_offices()
    lonely = "403001"
    gdf = gp.build_pin_polygons(ref=ref, offices=offices[(offices["state"] == "Goa")
                                                         & (offices["pin_code"] != lonely)])
    row = gdf.set_index("pin_code").loc[lonely]
    assert row["n_points"] == 0
    assert row.geometry.contains(shapely.Point(row["lon"], row["lat"]))
    assert _max_overlap(gdf.geometry.values, np.arange(len(gdf))) < OVERLAP_TOL_DEG2


def test_pins_sharing_one_centroid_split_it_into_wedges_without_overlap():
    ref = pd.DataFrame({
        "pin_code": ["400001", "400002", "400003", "400004"],
        "locality": ["A", "B", "C", "D"], "district": ["Mumbai"] * 4,
        "state": ["Maharashtra"] * 4, "region": ["West"] * 4,
        "lat": [19.0, 19.0, 19.0, 19.2], "lon": [72.8, 72.8, 72.8, 72.9], "n_offices": 1})
    offices = post_offices().iloc[:0]
    gdf = gp.build_pin_polygons(ref=ref, offices=offices).set_index("pin_code")
    shared = gdf.loc[["400001", "400002", "400003"]]
    assert (shared["method"] == "shared-centroid").all()
    point = shapely.Point(72.8, 19.0)
    assert all(g.covers(point) and g.area > 0 for g in shared.geometry)
    assert gdf.loc["400004"].geometry.contains(shapely.Point(72.9, 19.2))
    assert _max_overlap(gdf.geometry.values, np.arange(len(gdf))) < OVERLAP_TOL_DEG2


def test_all_india_cache_gives_every_pin_one_polygon_covering_its_centroid(all_india):
    ref = pin_reference()
    assert all_india["pin_code"].is_unique
    assert set(all_india["pin_code"]) == set(ref.dropna(subset=["lat", "lon"])["pin_code"])
    pts = _centroids(all_india)
    own = all_india["method"].eq("voronoi").to_numpy()
    assert shapely.contains(all_india.geometry.values[own], pts[own]).all()
    assert shapely.covers(all_india.geometry.values, pts).all()
    assert own.mean() > 0.95


def test_all_india_polygons_do_not_overlap_on_a_sample(all_india):
    geoms = all_india.geometry.values
    sample = np.random.default_rng(7).choice(len(geoms), size=1500, replace=False)
    assert _max_overlap(geoms, sample) < OVERLAP_TOL_DEG2


def test_district_and_state_shapes_cover_every_state(all_india):
    states = gp.area_polygons("state")
    assert set(states["state"]) == set(all_india["state"].dropna())
    districts = gp.area_polygons("district")
    assert not districts.duplicated(["state", "district"]).any()
    mumbai = districts[(districts["district"] == "Mumbai") & (districts["state"] == "Maharashtra")]
    assert mumbai.geometry.iloc[0].contains(shapely.Point(72.835, 18.935))  # Fort, 400001


def test_cache_is_rebuilt_when_the_reference_data_version_changes(tmp_path, monkeypatch):
    builds = []
    real = gp.build_pin_polygons

    def tiny_build(**kwargs):
        builds.append(1)
        return real(states=("Chandigarh",))

    monkeypatch.setattr(gp, "build_pin_polygons", tiny_build)
    gp.ensure_pin_cache(tmp_path)
    gp.ensure_pin_cache(tmp_path)
    assert len(builds) == 1
    monkeypatch.setattr(gp, "reference_version", lambda: "2099.01.01")
    assert len(gp.pin_polygons(cache_dir=tmp_path)) > 0
    assert len(builds) == 2  # rebuilt once for the new version
    assert gp.cache_info(tmp_path)["pin_polygons.parquet"]["data_version"] == "2099.01.01"


def test_geo_cli_writes_geoparquet_with_pin_district_state(tmp_path, monkeypatch):
    import geopandas as gpd

    from engine.__main__ import main

    monkeypatch.setenv("MICROPULSE_CACHE_DIR", str(tmp_path / "cache"))
    goa = _goa_builder()
    monkeypatch.setattr(gp, "build_pin_polygons", goa)
    out = tmp_path / "pins.parquet"
    assert main(["geo", "--out", str(out)]) == 0
    gdf = gpd.read_parquet(out)
    assert {"pin_code", "district", "state", "geometry"} <= set(gdf.columns)
    assert gdf.crs.to_epsg() == 4326
    assert set(gdf["state"]) == {"Goa"} and gdf["pin_code"].str.fullmatch(r"[1-9]\d{5}").all()


def _goa_builder():
    real = gp.build_pin_polygons

    def build(**kwargs):
        return real(states=("Goa",))
    return build


def test_rollup_adds_pins_up_to_district_and_state():
    df = pd.DataFrame({"pin_code": ["400001", "400002", "110001", "999999"],
                       "revenue": [10.0, 5.0, 7.0, 1.0], "units": [1, 2, 3, 4]})
    by_district = rollup(df, "district", ["revenue", "units"]).set_index(["state", "district"])
    assert by_district.loc[("Maharashtra", "Mumbai"), "revenue"] == 15.0
    assert by_district.loc[("Maharashtra", "Mumbai"), "n_pins"] == 2
    assert by_district.loc[("Unknown", "Unknown"), "units"] == 4
    by_state = rollup(df, "state", ["revenue"], how="max").set_index("state")
    assert by_state.loc["Maharashtra", "revenue"] == 10.0
    assert rollup(df, "pin", ["revenue"])["pin_code"].tolist() == sorted(df["pin_code"])


def test_rollup_of_every_indian_pin_keeps_the_national_total():
    ref = pin_reference()
    df = pd.DataFrame({"pin_code": ref["pin_code"],
                       "revenue": np.arange(len(ref), dtype=float)})
    by_state = rollup(df, "state", ["revenue"])
    assert by_state["revenue"].sum() == df["revenue"].sum()
    assert by_state["n_pins"].sum() == len(ref)
    with pytest.raises(ValueError, match="level must be one of"):
        rollup(df, "city", ["revenue"])


def test_geo_cli_cache_builds_the_maps_cache_and_cached_lookup_never_builds(
        tmp_path, monkeypatch):
    from engine.__main__ import main

    monkeypatch.setenv("MICROPULSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(gp, "build_pin_polygons", _goa_builder())
    assert gp.cached_area_polygons("state") is None          # nothing built yet...
    assert not (tmp_path / "cache").exists()                 # ...and nothing was built
    assert main(["geo", "--cache"]) == 0
    assert set(gp.cache_info()) == {"pin_polygons.parquet", "district_polygons.parquet",
                                    "state_polygons.parquet"}
    states = gp.cached_area_polygons("state")
    assert list(states["state"]) == ["Goa"]
    monkeypatch.setattr(gp, "reference_version", lambda: "2099.01.01")
    assert gp.cached_area_polygons("state") is None          # stale: not used, not rebuilt
    assert main(["geo"]) == 2                                 # neither --out nor --cache
