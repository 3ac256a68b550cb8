"""Festival calendar and festival demand signals.

Reference data: `data/festivals_curated.csv` (retail-relevant festivals 2023-2027 with the
states that celebrate them and their pre/post impact windows) and `data/festival_effects.csv`
(per-category peak multipliers). The `holidays` package supplies dates for the same
festivals in other years, and confirms the curated dates where it lists them.

Shape of one festival occurrence, as a function of the offset `k = date - festival day`:

* before the pre window (k < -pre_days): 0
* pre window (-pre_days <= k <= 0): quadratic ramp `(1 - (-k) / (pre_days + 1)) ** 2`,
  rising to 1 on the festival day (the `+ 1` makes the first pre-window day non-zero and
  the curve continuous with the zero before it)
* post window (1 <= k <= post_days): LINEAR decay `1 - k / (post_days + 1)`
* after the post window: 0

A row's factor for one occurrence is `1 + (multiplier - 1) * shape`, where the multiplier is
the festival's multiplier for the row's category (1.0 when the festival has none for it) and
the occurrence applies only when its `states` is 'ALL' or lists the row's state.
Overlapping festivals combine by the MAXIMUM of their factors (not the product): a week
that is both Dhanteras and pre-Diwali sells like the bigger of the two, not like both.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from engine.categories import CATEGORIES
from engine.errors import MicroPulseError

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
CURATED_CSV = DATA_DIR / "festivals_curated.csv"
EFFECTS_CSV = DATA_DIR / "festival_effects.csv"

FESTIVAL_TYPES = ("national", "regional", "religious")
CALENDAR_COLUMNS = ["name", "date", "festival_type", "states", "pre_days", "post_days",
                    "source"]
EFFECT_COLUMNS = ["name", "category", "multiplier"]
FEATURE_COLUMNS = ["festival_intensity", "days_to_next_festival", "days_since_last_festival",
                   "next_festival", "in_pre_window", "in_post_window", "festival_type_next"]
# days_to_next_festival / days_since_last_festival are capped here (also when there is none).
FEATURE_CAP_DAYS = 60

# Our canonical festival name -> names the `holidays` package uses for it, in priority
# order ("(estimated)" suffixes are stripped first). Only festivals listed here are taken
# from the package: civic days (Republic Day, Gandhi Jayanti, ...) are not retail festivals.
HOLIDAYS_NAMES: dict[str, tuple[str, ...]] = {
    "New Year": ("New Year's Day",),
    "Lohri": ("Lohri",),
    "Makar Sankranti": ("Makar Sankranti",),
    "Pongal": ("Pongal",),
    "Magh Bihu": ("Magh Bihu",),
    "Holi": ("Holi",),
    "Ugadi": ("Ugadi",),
    "Gudi Padwa": ("Gudi Padwa",),
    "Eid al-Fitr": ("Eid al-Fitr",),
    "Baisakhi": ("Vaisakhi", "Baisakhi"),
    "Bihu": ("Bahag Bihu",),
    "Akshaya Tritiya": ("Akshay Tritiya",),
    "Eid al-Adha": ("Eid al-Adha",),
    "Raksha Bandhan": ("Raksha Bandhan",),
    "Janmashtami": ("Janmashtami (Vaishnava)",),
    "Onam": ("Onam",),
    "Ganesh Chaturthi": ("Ganesh Chaturthi", "Ganesh Chaturthi / Vinayak Chaturthi"),
    "Navratri": ("Sharad Navratri",),
    "Durga Puja": ("Dussehra (Mahashtami)", "Mahashtami"),
    "Dussehra": ("Dussehra",),
    "Karwa Chauth": ("Karaka Chaturthi (Karwa Chouth)",),
    "Diwali": ("Diwali",),
    "Chhath Puja": ("Pratihar Shashthi or Surya Shashthi (Chhath Puja)", "Chhath Puja"),
    "Christmas": ("Christmas",),
}
# National list (public + optional/restricted holidays) plus the subdivisions that are the
# package's only source for a festival: Sharad Navratri (Rajasthan), Akshay Tritiya (Haryana).
HOLIDAYS_SUBDIVS = ("RJ", "HR")


class FestivalDataError(MicroPulseError, ValueError):
    """The festival reference tables are inconsistent; `rows` (the evidence) holds the
    offending rows. Shipped data: the server's fault, not the request's."""

    code = "festival_data_error"
    http_status = 500

    def __init__(self, message: str, rows: pd.DataFrame | None = None):
        super().__init__(message, rows)
        self.rows = rows


# ---- reference tables ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def _curated() -> pd.DataFrame:
    raw = pd.read_csv(CURATED_CSV, dtype=str, keep_default_na=False)
    missing = [c for c in CALENDAR_COLUMNS[:-1] if c not in raw.columns]
    if missing:
        raise FestivalDataError(f"{CURATED_CSV.name} lacks columns {missing}.")
    df = raw[CALENDAR_COLUMNS[:-1]].copy()
    df["name"] = df["name"].str.strip()
    dates = pd.to_datetime(df["date"], format="%Y-%m-%d", errors="coerce")
    bad = raw[dates.isna()]
    if len(bad):
        raise FestivalDataError(
            f"{CURATED_CSV.name} has {len(bad)} dates that are not YYYY-MM-DD, "
            f"e.g. {bad['date'].iloc[0]!r} for {bad['name'].iloc[0]}.", bad)
    df["date"] = dates.astype("datetime64[ns]")
    bad = raw[~df["festival_type"].isin(FESTIVAL_TYPES)]
    if len(bad):
        raise FestivalDataError(
            f"{CURATED_CSV.name} has festival types outside {FESTIVAL_TYPES}: "
            f"{sorted(bad['festival_type'].unique())}.", bad)
    for col in ("pre_days", "post_days"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = raw[values.isna() | (values < 0) | (values != values.round())]
        if len(bad):
            raise FestivalDataError(
                f"{CURATED_CSV.name} column {col} must be a whole number of days >= 0; "
                f"got {bad[col].iloc[0]!r} for {bad['name'].iloc[0]}.", bad)
        df[col] = values.astype("int64")
    df["states"] = df["states"].map(
        lambda s: "ALL" if s.strip().upper() == "ALL"
        else ",".join(p.strip() for p in s.split(";") if p.strip()))
    dup = df[df.duplicated(["name", "date"], keep=False)]
    if len(dup):
        raise FestivalDataError(f"{CURATED_CSV.name} lists a festival twice on one date.", dup)
    return df.sort_values(["date", "name"], kind="stable").reset_index(drop=True)


@lru_cache(maxsize=1)
def _effects() -> pd.DataFrame:
    df = pd.read_csv(EFFECTS_CSV, dtype={"name": str, "category": str})
    df = df[EFFECT_COLUMNS].copy()
    df["multiplier"] = pd.to_numeric(df["multiplier"], errors="coerce").astype(float)
    bad = df[~df["category"].isin(CATEGORIES)]
    if len(bad):
        raise FestivalDataError(
            f"{EFFECTS_CSV.name} names categories we do not sell: "
            f"{sorted(bad['category'].unique())}.", bad)
    bad = df[~(df["multiplier"] > 0)]
    if len(bad):
        raise FestivalDataError(f"{EFFECTS_CSV.name} has non-positive or missing multipliers.",
                                bad)
    dup = df[df.duplicated(["name", "category"], keep=False)]
    if len(dup):
        raise FestivalDataError(f"{EFFECTS_CSV.name} lists a festival x category twice.", dup)
    return df.sort_values(["name", "category"], kind="stable").reset_index(drop=True)


def festival_effects() -> pd.DataFrame:
    """Per-category peak multipliers: columns name, category, multiplier."""
    return _effects().copy()


@lru_cache(maxsize=8)
def _holidays_dates(start_year: int, end_year: int) -> pd.DataFrame:
    """One row per (canonical name, year) the `holidays` package lists: name, year, date."""
    import holidays

    years = range(start_year, end_year + 1)
    calendars = [holidays.India(years=years, categories=("public", "optional"))]
    calendars += [holidays.India(years=years, subdiv=s) for s in HOLIDAYS_SUBDIVS]
    lookup = {hname: (canon, prio) for canon, hnames in HOLIDAYS_NAMES.items()
              for prio, hname in enumerate(hnames)}
    rows = []
    for cal in calendars:
        for day, label in cal.items():
            for raw in label.split("; "):
                hit = lookup.get(raw.removesuffix(" (estimated)").strip())
                if hit is not None:
                    rows.append((hit[0], hit[1], pd.Timestamp(day)))
    df = pd.DataFrame(rows, columns=["name", "prio", "date"])
    df["year"] = df["date"].dt.year
    df = df[(df["year"] >= start_year) & (df["year"] <= end_year)]
    df = df.sort_values(["name", "year", "prio", "date"]).drop_duplicates(["name", "year"])
    df["date"] = df["date"].astype("datetime64[ns]")
    return df[["name", "year", "date"]].reset_index(drop=True)


def holidays_dates(start_year: int = 2023, end_year: int = 2027) -> pd.DataFrame:
    """Dates the `holidays` package gives our festivals: columns name, year, date."""
    return _holidays_dates(int(start_year), int(end_year)).copy()


@lru_cache(maxsize=8)
def _calendar(start_year: int, end_year: int) -> pd.DataFrame:
    curated = _curated()
    attrs = curated.groupby("name", sort=True).last()[
        ["festival_type", "states", "pre_days", "post_days"]].reset_index()
    cur = curated[curated["date"].dt.year.between(start_year, end_year)].copy()
    cur["year"] = cur["date"].dt.year
    hol = _holidays_dates(start_year, end_year)
    in_hol = cur.merge(hol[["name", "year"]], on=["name", "year"], how="left",
                       indicator=True)["_merge"].eq("both").to_numpy()
    cur["source"] = np.where(in_hol, "both", "curated")
    extra = hol.merge(cur[["name", "year"]], on=["name", "year"], how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
    extra = extra.merge(attrs, on="name", how="inner")
    extra["source"] = "holidays"
    out = pd.concat([cur[CALENDAR_COLUMNS], extra[CALENDAR_COLUMNS]], ignore_index=True)
    out["date"] = out["date"].astype("datetime64[ns]")
    out[["pre_days", "post_days"]] = out[["pre_days", "post_days"]].astype("int64")
    return out.sort_values(["date", "name"], kind="stable").reset_index(drop=True)


def festival_calendar(start_year: int = 2023, end_year: int = 2027) -> pd.DataFrame:
    """Every festival occurrence from start_year to end_year inclusive, sorted by date, name.

    Columns: name, date (datetime64[ns]), festival_type, states ('ALL' or comma-separated
    state names), pre_days, post_days, source ('curated' | 'holidays' | 'both'). Curated
    dates win where both list a festival; years outside the curated table come from the
    `holidays` package with the festival's curated states and windows.
    """
    if end_year < start_year:
        raise ValueError(f"end_year {end_year} is before start_year {start_year}.")
    return _calendar(int(start_year), int(end_year)).copy()


# ---- shape ------------------------------------------------------------------------------
def load_festival_reference(wh, start_year: int = 2023, end_year: int = 2027) -> int:
    """Replace the warehouse's festivals and festival_effects tables with the shipped
    reference data for start_year..end_year. Returns the number of festival occurrences
    written."""
    from engine.warehouse.festivals import write_festivals

    return write_festivals(wh, festival_calendar(start_year, end_year), festival_effects(),
                           f"{start_year}-{end_year}")


def festival_shape(offset_days, pre_days: int, post_days: int) -> np.ndarray:
    """Festival impact in [0, 1] at `offset_days = date - festival day` (see module doc)."""
    k = np.asarray(offset_days, dtype=float)
    out = np.zeros(k.shape)
    pre = (k <= 0) & (-k <= pre_days)
    out[pre] = (1.0 - (-k[pre]) / (pre_days + 1.0)) ** 2
    post = (k > 0) & (k <= post_days)
    out[post] = 1.0 - k[post] / (post_days + 1.0)
    return out


def applies_to(states: str, state: str | None) -> bool:
    """Does a calendar `states` value ('ALL' or 'A,B') cover `state`?"""
    if states.strip().upper() == "ALL":
        return True
    if state is None or (isinstance(state, float) and np.isnan(state)):
        return False
    wanted = str(state).strip().casefold()
    return any(p.strip().casefold() == wanted for p in states.split(","))


# ---- vectorised machinery -----------------------------------------------------------------
def _day_numbers(values) -> np.ndarray:
    dates = pd.to_datetime(pd.Series(values).reset_index(drop=True))
    if dates.isna().any():
        first = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise ValueError(f"{int(dates.isna().sum())} rows have no date (first at position "
                         f"{first}); festival signals need a date on every row.")
    return dates.to_numpy().astype("datetime64[D]").astype(np.int64)


class _Keys:
    """Rows reduced to codes: unique day index, state slot (last slot = unknown state)."""

    def __init__(self, frame: pd.DataFrame):
        missing = [c for c in ("date", "state") if c not in frame.columns]
        if missing:
            raise ValueError(f"frame needs columns date and state; missing {missing}.")
        days = _day_numbers(frame["date"])
        self.udays, self.day_idx = np.unique(days, return_inverse=True)
        codes, uniques = pd.factorize(frame["state"].to_numpy(), use_na_sentinel=True)
        self.states = [str(s) for s in uniques]
        self.n_slots = len(self.states) + 1
        self.state_idx = np.where(codes < 0, len(self.states), codes)
        self._masks: dict[str, np.ndarray] = {}

    def mask(self, states: str) -> np.ndarray:
        """Which state slots a calendar `states` value covers."""
        if states not in self._masks:
            m = np.array([applies_to(states, s) for s in self.states]
                         + [states.strip().upper() == "ALL"], dtype=bool)
            self._masks[states] = m
        return self._masks[states]

    def window(self, day: int, pre: int, post: int) -> tuple[int, int]:
        lo = int(np.searchsorted(self.udays, day - pre, side="left"))
        hi = int(np.searchsorted(self.udays, day + post, side="right"))
        return lo, hi


def _occurrences(calendar: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in CALENDAR_COLUMNS[:-1] if c not in calendar.columns]
    if missing:
        raise ValueError(f"calendar lacks columns {missing}.")
    occ = calendar.sort_values(["date", "name"], kind="stable").reset_index(drop=True)
    occ = occ.assign(day=_day_numbers(occ["date"]) if len(occ) else np.zeros(0, np.int64))
    return occ


def _uplift(frame: pd.DataFrame, keys: _Keys, occ: pd.DataFrame,
            effects: pd.DataFrame) -> np.ndarray:
    if "category" not in frame.columns:
        raise ValueError("frame needs a category column for festival uplift.")
    cat_codes, cats = pd.factorize(frame["category"].to_numpy(), use_na_sentinel=True)
    n_cats = len(cats) + 1  # last slot: unknown category, never uplifted
    cat_codes = np.where(cat_codes < 0, len(cats), cat_codes)
    cat_pos = {str(c): i for i, c in enumerate(cats)}
    mult: dict[str, np.ndarray] = {}
    for row in effects.itertuples(index=False):
        i = cat_pos.get(str(row.category))
        if i is not None:
            mult.setdefault(str(row.name), np.ones(n_cats))[i] = float(row.multiplier)
    grid = np.ones((len(keys.udays), keys.n_slots, n_cats))
    for f in occ.itertuples(index=False):
        vec = mult.get(str(f.name))
        if vec is None:
            continue
        lo, hi = keys.window(f.day, f.pre_days, f.post_days)
        slots = np.flatnonzero(keys.mask(f.states))
        if lo >= hi or not len(slots):
            continue
        shape = festival_shape(keys.udays[lo:hi] - f.day, f.pre_days, f.post_days)
        factor = 1.0 + (vec[None, :] - 1.0) * shape[:, None]          # (days, cats)
        grid[lo:hi, slots, :] = np.maximum(grid[lo:hi, slots, :], factor[:, None, :])
    return grid[keys.day_idx, keys.state_idx, cat_codes]


def festival_uplift(frame: pd.DataFrame, calendar: pd.DataFrame,
                    effects: pd.DataFrame) -> np.ndarray:
    """Multiplicative festival factor per row of `frame` (columns date, state, category).

    1.0 means no festival effect; on a festival day in a celebrating state the factor is
    the festival's multiplier for the row's category. Overlaps combine by MAX.
    """
    if len(frame) == 0:
        return np.ones(0)
    return _uplift(frame, _Keys(frame), _occurrences(calendar), effects)


def festival_features(frame: pd.DataFrame, calendar: pd.DataFrame,
                      effects: pd.DataFrame) -> pd.DataFrame:
    """Festival features aligned with `frame.index` (columns date, state, category).

    - festival_intensity: log(festival_uplift) (0 outside every window)
    - days_to_next_festival / days_since_last_festival: days to the next / since the last
      festival celebrated in the row's state (0 on a festival day), capped at
      FEATURE_CAP_DAYS, which is also the value when there is none
    - next_festival / festival_type_next: the next festival on or after the date within the
      cap (ties on one day: first by name), else None
    - in_pre_window: inside some applicable festival's pre window, festival day included
    - in_post_window: inside some applicable festival's post window (after the day)
    """
    if len(frame) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            FEATURE_COLUMNS, [float, "int64", "int64", object, bool, bool, object])},
            index=frame.index)
    keys = _Keys(frame)
    occ = _occurrences(calendar)
    uplift = _uplift(frame, keys, occ, effects)
    n_days, n_slots = len(keys.udays), keys.n_slots
    pre = np.zeros((n_days, n_slots), dtype=bool)
    post = np.zeros((n_days, n_slots), dtype=bool)
    masks = np.array([keys.mask(s) for s in occ["states"]], dtype=bool).reshape(
        len(occ), n_slots)
    for i, f in enumerate(occ.itertuples(index=False)):
        slots = np.flatnonzero(masks[i])
        lo, mid = keys.window(f.day, f.pre_days, 0)
        if mid > lo:
            pre[lo:mid, slots] = True
        lo2, hi2 = keys.window(f.day + 1, 0, f.post_days - 1)
        if f.post_days > 0 and hi2 > lo2:
            post[lo2:hi2, slots] = True

    to_next = np.full((n_days, n_slots), FEATURE_CAP_DAYS, dtype=np.int64)
    since = np.full((n_days, n_slots), FEATURE_CAP_DAYS, dtype=np.int64)
    next_pos = np.full((n_days, n_slots), -1, dtype=np.int64)
    occ_days = occ["day"].to_numpy()
    for s in range(n_slots):
        idx = np.flatnonzero(masks[:, s])  # applicable occurrences, in (date, name) order
        if not len(idx):
            continue
        fdays = occ_days[idx]
        j = np.searchsorted(fdays, keys.udays, side="left")
        has = j < len(fdays)
        gap = np.where(has, fdays[np.minimum(j, len(fdays) - 1)] - keys.udays, np.iinfo(
            np.int64).max)
        near = has & (gap <= FEATURE_CAP_DAYS)
        to_next[near, s] = gap[near]
        next_pos[near, s] = idx[j[near]]
        k = np.searchsorted(fdays, keys.udays, side="right") - 1
        has = k >= 0
        back = np.where(has, keys.udays - fdays[np.maximum(k, 0)], np.iinfo(np.int64).max)
        since[:, s] = np.minimum(back, FEATURE_CAP_DAYS)

    at = (keys.day_idx, keys.state_idx)
    pos = next_pos[at]
    names = np.append(occ["name"].to_numpy(dtype=object), None)
    types = np.append(occ["festival_type"].to_numpy(dtype=object), None)
    return pd.DataFrame({
        "festival_intensity": np.log(uplift),
        "days_to_next_festival": to_next[at],
        "days_since_last_festival": since[at],
        "next_festival": names[pos],          # pos == -1 picks the trailing None
        "in_pre_window": pre[at],
        "in_post_window": post[at],
        "festival_type_next": types[pos],
    }, index=frame.index)


def festivals_in_range(calendar: pd.DataFrame, start, end,
                       state: str | None = None) -> pd.DataFrame:
    """Festival occurrences dated start..end inclusive (for chart markers), optionally only
    those celebrated in `state`; same columns as the calendar, sorted by date, name."""
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    dates = pd.to_datetime(calendar["date"])
    keep = (dates >= lo) & (dates <= hi)
    if state is not None:
        keep &= calendar["states"].map(lambda s: applies_to(s, state)).astype(bool)
    out = calendar[keep.to_numpy()]
    return out.sort_values(["date", "name"], kind="stable").reset_index(drop=True)
