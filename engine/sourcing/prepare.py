"""Cleaning Agmarknet-shaped mandi price frames and locating the markets.

Real mandi files are messy: prices are blank or 'NR' (not reported), the same market is
spelt 'Azadpur', 'AZADPUR ' and 'Azad pur', some markets have no coordinates. Everything
here is a pure function on DataFrames; nothing is silently dropped without a count.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from engine import geo
from engine.errors import MicroPulseError
from engine.textfmt import title_case


class SourcingError(MicroPulseError, ValueError):
    """A sourcing request a user can fix (unknown commodity, bad PIN, no data).

    `evidence` holds the offending value(s) or the valid choices.
    """

    code = "sourcing_error"


STATE_ALIASES = {
    "NCT OF DELHI": "Delhi", "NEW DELHI": "Delhi", "ORISSA": "Odisha",
    "PONDICHERRY": "Puducherry", "CHATTISGARH": "Chhattisgarh",
    "UTTRAKHAND": "Uttarakhand", "UTTARANCHAL": "Uttarakhand",
    "JAMMU & KASHMIR": "Jammu and Kashmir", "TAMILNADU": "Tamil Nadu",
}
NOT_REPORTED = {"", "NR", "N.R.", "NA", "N/A", "-", "--", "NIL", "NULL", "NAN", "NONE"}
PRICE_COLUMNS = ("min_price", "max_price", "modal_price")


def name_key(value) -> str:
    """Matching key that ignores case, spacing and punctuation: ' Azad pur ' -> 'AZADPUR'."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return re.sub(r"[^A-Z0-9]", "", str(value).upper())


def commodity_key(value) -> str:
    """'Mustard Oil', 'mustard_oil', 'MUSTARD OIL' -> 'mustardoil'."""
    return name_key(value).lower()


def clean_state(value) -> str | None:
    """Agmarknet state spellings -> the title case used by engine.geo ('Delhi', 'Tamil Nadu')."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip():
        return None
    text = re.sub(r"\s+", " ", str(value).strip())
    return STATE_ALIASES.get(text.upper(), title_case(text))


def display_name(value: str) -> str:
    """Collapse spacing; shout-case names ('LASALGAON(NIPHAD)') become title case."""
    text = re.sub(r"\s+", " ", str(value).strip())
    return text.title() if text.isupper() else text


def map_unique(series: pd.Series, fn) -> pd.Series:
    """Apply `fn` once per distinct value (names repeat thousands of times in price files)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=object)
    return pd.Series(mapped[codes], index=series.index)


def parse_number(series: pd.Series) -> pd.Series:
    """Numbers from text: blanks, 'NR', '-' and non-positive values become NaN."""
    if pd.api.types.is_numeric_dtype(series):
        out = series.astype(float)
    else:
        text = series.astype("string").str.strip().str.replace(",", "", regex=False)
        text = text.mask(text.str.upper().isin(NOT_REPORTED))
        out = pd.to_numeric(text, errors="coerce").astype(float)
    return out.where(out > 0)


def _most_common(keys: pd.Series, values: pd.Series) -> pd.Series:
    """Per key, its most frequent non-missing value (ties: alphabetical first)."""
    f = pd.DataFrame({"k": keys.to_numpy(), "v": values.astype(object).to_numpy()})
    f = f[f["v"].notna()]
    counts = f.groupby(["k", "v"], sort=False).size().reset_index(name="n")
    counts = counts.sort_values(["k", "n", "v"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("k").set_index("k")["v"]


@dataclass(frozen=True)
class CleanReport:
    rows_in: int
    rows_used: int
    rows_without_price: int
    exact_duplicates: int
    merged_names: int

    def sentence(self) -> str:
        parts = [f"{self.rows_used:,} of {self.rows_in:,} price rows used"]
        if self.rows_without_price:
            parts.append(f"{self.rows_without_price:,} had no usable price (blank/NR)")
        if self.exact_duplicates:
            parts.append(f"{self.exact_duplicates:,} exact duplicates ignored")
        if self.merged_names:
            parts.append(f"{self.merged_names:,} market spellings merged")
        return "; ".join(parts) + "."


def clean_prices(prices: pd.DataFrame) -> tuple[pd.DataFrame, CleanReport]:
    """Normalise a mandi_prices-shaped frame to one row per mandi x commodity x day.

    Output columns: mandi_id, market, state, district, commodity, date, min_price,
    max_price, modal_price, arrivals_tonnes, n_rows, graded_share. `mandi_id` is
    'MARKETKEY|State' so the same name in two states stays two mandis. A missing modal
    price is taken as the mid of min/max when both exist. Several rows on one day
    (varieties, grades, re-sent reports) are combined arrival-weighted.
    """
    need = {"market", "commodity", "date"}
    missing = need - set(prices.columns)
    if missing:
        raise SourcingError(f"Mandi prices are missing column(s): {', '.join(sorted(missing))}.",
                            evidence=sorted(missing))
    df = pd.DataFrame({
        "market_raw": prices["market"].astype("string"),
        "state": map_unique(prices["state"] if "state" in prices
                            else pd.Series(None, index=prices.index, dtype=object), clean_state),
        "district": (prices["district"] if "district" in prices
                     else pd.Series(None, index=prices.index)),
        "commodity": prices["commodity"].astype("string").str.strip(),
        "date": pd.to_datetime(prices["date"], errors="coerce").dt.normalize()
        .astype("datetime64[ns]"),
        "grade": prices["grade"] if "grade" in prices else pd.Series(None, index=prices.index),
        "variety": (prices["variety"] if "variety" in prices
                    else pd.Series(None, index=prices.index)),
    })
    for col in PRICE_COLUMNS:
        df[col] = parse_number(prices[col]) if col in prices else np.nan
    arrivals = parse_number(prices["arrivals_tonnes"]) if "arrivals_tonnes" in prices else np.nan
    df["arrivals_tonnes"] = arrivals
    rows_in = len(df)
    df = df[df["market_raw"].notna() & df["date"].notna() & df["commodity"].notna()].copy()
    df["market_key"] = map_unique(df["market_raw"], name_key)
    df = df[df["market_key"] != ""]
    mid = (df["min_price"] + df["max_price"]) / 2
    df["modal_price"] = df["modal_price"].fillna(mid)
    no_price = int(df["modal_price"].isna().sum())
    df = df[df["modal_price"].notna()]
    # Fill a missing state from another row of the same market (files often omit it).
    df["state"] = df["state"].fillna(df.groupby("market_key")["state"].transform("first"))
    df["mandi_id"] = df["market_key"] + "|" + df["state"].fillna("")
    df["commodity_key"] = map_unique(df["commodity"], commodity_key)

    spelt = map_unique(df["market_raw"], lambda v: re.sub(r"\s+", " ", v.strip())
                       if isinstance(v, str) else None)
    spellings = pd.DataFrame({"m": df["mandi_id"], "s": spelt}).dropna().drop_duplicates() \
        .groupby("m").size()
    merged = int((spellings - 1).clip(lower=0).sum())
    dedup_cols = ["mandi_id", "commodity_key", "date", "variety", "grade", *PRICE_COLUMNS,
                  "arrivals_tonnes"]
    before = len(df)
    df = df.drop_duplicates(subset=dedup_cols)
    exact_dupes = before - len(df)

    names = _most_common(df["mandi_id"],
                         map_unique(df["market_raw"], lambda v: display_name(v or "")))
    district_text = df["district"].astype("string").str.strip()
    districts = _most_common(df["mandi_id"], district_text.where(district_text != ""))
    commodity_names = _most_common(df["commodity_key"], df["commodity"]).map(display_name)

    w = df["arrivals_tonnes"].fillna(0.0)
    df["_w"] = np.where(w > 0, w, 1e-9)
    graded = df["grade"].astype("string").str.upper().str.strip()
    df["_graded"] = graded.isin(["FAQ", "A", "GRADE A", "GRADE-A", "LARGE", "SUPER", "MEDIUM"])
    df["_has_grade"] = graded.notna() & (graded != "")
    for col in PRICE_COLUMNS:
        df[f"_{col}_w"] = df[col] * df["_w"]
        df[f"_{col}_wn"] = df[col].notna() * df["_w"]
    g = df.groupby(["mandi_id", "commodity_key", "date"], sort=True)
    agg = g.agg(state=("state", "first"), arrivals_tonnes=("arrivals_tonnes", "sum"),
                n_rows=("market_raw", "size"), graded=("_graded", "sum"),
                has_grade=("_has_grade", "sum"),
                **{f"_{c}_w": (f"_{c}_w", "sum") for c in PRICE_COLUMNS},
                **{f"_{c}_wn": (f"_{c}_wn", "sum") for c in PRICE_COLUMNS}).reset_index()
    for col in PRICE_COLUMNS:
        agg[col] = agg[f"_{col}_w"] / agg[f"_{col}_wn"].replace(0, np.nan)
    agg["graded_share"] = np.where(agg["has_grade"] > 0, agg["graded"] / agg["has_grade"], np.nan)
    any_arrivals = g["arrivals_tonnes"].count().to_numpy() > 0
    agg["arrivals_tonnes"] = agg["arrivals_tonnes"].where(any_arrivals)
    agg["market"] = agg["mandi_id"].map(names)
    agg["district"] = agg["mandi_id"].map(districts)
    agg["commodity"] = agg["commodity_key"].map(commodity_names)
    out = agg[["mandi_id", "market", "state", "district", "commodity", "commodity_key", "date",
               "min_price", "max_price", "modal_price", "arrivals_tonnes", "n_rows",
               "graded_share"]]
    report = CleanReport(rows_in=rows_in, rows_used=len(df), rows_without_price=no_price,
                         exact_duplicates=exact_dupes, merged_names=merged)
    return out.reset_index(drop=True), report


@lru_cache(maxsize=1)
def district_centroids() -> pd.DataFrame:
    """Mean post-office lat/lon per district x state, keyed case/space-insensitively."""
    po = geo.post_offices()
    out = (po.assign(district_key=map_unique(po["district"], name_key),
                     state_key=map_unique(po["state"], name_key))
           .groupby(["district_key", "state_key"], as_index=False)[["lat", "lon"]].mean())
    return out[(out["district_key"] != "") & (out["state_key"] != "")].reset_index(drop=True)


# Where a mandi's coordinates came from (`location_source`).
SOURCES = {"mandis": "the mandis table", "post office": "an India Post office of its name",
           "district name": "the district it is named after",
           "district": "the centre of its district", "": "not placed"}


def locate_mandis(clean: pd.DataFrame, mandis: pd.DataFrame | None,
                  locator=None) -> pd.DataFrame:
    """One row per mandi_id in `clean` with lat, lon, quality_index, reliability_index, a
    `location_note` and a `location_source` (a key of SOURCES). Coordinates come from, in
    order: the mandis table (matched by normalised name, same state preferred); the India
    Post office or district the market is named after (engine.sourcing.places; Agmarknet
    files carry no coordinates); the centre of the district given in the data; else NaN,
    with the reason in the note. `locator` is a places.Locator (a shared one by default)."""
    base = (clean.groupby("mandi_id", as_index=False)
            .agg(market=("market", "first"), state=("state", "first"),
                 district=("district", "first")))
    base["market_key"] = base["mandi_id"].str.split("|").str[0]
    base["state_key"] = base["state"].fillna("").map(name_key)
    cols = ["lat", "lon", "quality_index", "reliability_index"]
    if mandis is not None and len(mandis):
        m = mandis.copy()
        for col in cols + ["district", "state"]:
            if col not in m:
                m[col] = np.nan
        m["market_key"] = m["market"].map(name_key)
        m["m_state_key"] = m["state"].map(clean_state).fillna("").map(name_key)
        m["has_xy"] = m["lat"].notna() & m["lon"].notna()
        m = m.sort_values(["market_key", "has_xy"], ascending=[True, False], kind="stable")
        same_state = base.merge(
            m.drop_duplicates(["market_key", "m_state_key"]),
            left_on=["market_key", "state_key"], right_on=["market_key", "m_state_key"],
            how="left", suffixes=("", "_m"))
        any_state = base.merge(m.drop_duplicates("market_key"), on="market_key", how="left",
                               suffixes=("", "_m"))
        # Fall back to a same-name mandi in another state only when ours has no state.
        use_any = same_state["lat"].isna() & base["state_key"].eq("").to_numpy()
        for col in cols:
            base[col] = same_state[col].where(~use_any, any_state[col]).to_numpy()
        base["district"] = base["district"].fillna(
            same_state["district_m"].where(~use_any, any_state["district_m"]))
    else:
        for col in cols:
            base[col] = np.nan
    base["location_note"] = ""
    base["location_source"] = np.where(base["lat"].notna() & base["lon"].notna(), "mandis", "")
    need = base.index[base["lat"].isna() | base["lon"].isna()]
    why: dict[int, str] = {}
    if len(need):
        from engine.sourcing.places import shared_locator

        loc = locator if locator is not None else shared_locator()
        for i in need:
            p = loc.locate(base.at[i, "market"], base.at[i, "state"], base.at[i, "district"])
            if p.placed:
                base.loc[i, ["lat", "lon"]] = [p.lat, p.lon]
                base.at[i, "location_note"] = p.note
                base.at[i, "location_source"] = ("post office" if p.method == "post office"
                                                 else "district name")
            else:
                why[i] = p.note
    need = base.index[base["lat"].isna() | base["lon"].isna()]
    if len(need):
        cent = district_centroids()
        keyed = base.loc[need, ["district", "state"]].assign(
            district_key=lambda d: d["district"].map(name_key),
            state_key=lambda d: d["state"].fillna("").map(name_key))
        hit = keyed.reset_index().merge(cent, on=["district_key", "state_key"], how="left") \
            .set_index("index")
        found = hit["lat"].notna()
        idx_found = hit.index[found]
        base.loc[idx_found, "lat"] = hit.loc[found, "lat"]
        base.loc[idx_found, "lon"] = hit.loc[found, "lon"]
        base.loc[idx_found, "location_source"] = "district"
        base.loc[idx_found, "location_note"] = [
            f"location approximated by the centre of {display_name(d)} district" for d in
            base.loc[idx_found, "district"]]
        for i in hit.index[~found]:
            d = base.at[i, "district"]
            parts = [why.get(i) or "no coordinates"]
            if pd.notna(d) and str(d).strip():
                parts.append(f"district '{display_name(d)}' not found in the PIN reference")
            base.at[i, "location_note"] = "not placed: " + "; ".join(parts)
    return base.drop(columns=["market_key", "state_key"])


def placement_summary(locs: pd.DataFrame) -> dict:
    """How the mandis were placed: {'mandis': n, 'post office': n, 'district name': n,
    'district': n, 'unplaced': [market (state), ...], 'share_placed': 0-1, 'sentence'}."""
    src = locs["location_source"].fillna("")
    counts = {k: int((src == k).sum()) for k in ("mandis", "post office", "district name",
                                                  "district")}
    unplaced = [f"{m} ({s})" if isinstance(s, str) and s else str(m)
                for m, s in zip(locs.loc[src == "", "market"], locs.loc[src == "", "state"])]
    n = len(locs)
    placed = n - len(unplaced)
    parts = [f"{v} from {SOURCES[k]}" for k, v in counts.items() if v]
    sentence = (f"{placed} of {n} mandis placed on the map" +
                (f" ({', '.join(parts)})" if parts else "") + ".")
    if unplaced:
        sentence += (f" Not placed ({len(unplaced)}): " + ", ".join(unplaced[:12]) +
                     (f" and {len(unplaced) - 12} more" if len(unplaced) > 12 else "") + ".")
    return {**counts, "unplaced": unplaced, "share_placed": placed / n if n else 1.0,
            "sentence": sentence}
