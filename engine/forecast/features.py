"""The feature panel: one row per series x period from each series' first sale to the end of
the horizon, built once per run (vectorised numpy; no per-series Python loops). A period
without a row is zero sales, except a period in which a whole PIN code (or the whole file)
has no rows at all between periods where it has rows: that is missing data (an outage, a
feed gap), and it is left out of the panel (`data_gaps`), so the series continue across it.

Leak rules: the input history is cut at the cutoff before anything is computed; every
lag / rolling statistic of demand at period t only uses demand at t - horizon or earlier,
so one model serves every step of the horizon; prices after the cutoff are the last known
regular price (no promotion) unless the caller supplies planned prices; weather after the
cutoff is the observed weather when the warehouse has it, else the climate normal.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from engine.errors import offending_rows
from engine.forecast.config import ForecastConfig, ForecastError
from engine.signals.weather import weather_for, weather_response

KEYS = ["sku_id", "pin_code"]
REQUIRED = ["sku_id", "pin_code", "date", "quantity"]

# Feature groups; drivers.py sums LightGBM contributions by these groups.
CALENDAR = ["dow", "dom", "month", "weekofyear", "doy", "is_weekend", "month_start",
            "month_end", "payday"]
FESTIVAL = ["festival_intensity", "days_to_next_festival",
            "days_since_last_festival", "in_pre_window", "in_post_window"]
WEATHER = ["temp_c", "rainfall_mm", "humidity", "temp_anom", "rain_anom", "weather_resp",
           "temp_vs_recent"]
PRICE = ["price_ratio", "discount_depth", "promo_flag", "price_index", "promo_share",
         "category_promo_share", "feature_flag", "display_flag", "tpr_flag"]
# promotion kinds a sales file (and a plan) may carry; a plan's promo_type maps onto them
PROMO_KINDS = ("feature", "display", "tpr")
PLAN_TYPE_KIND = {"feature": "feature", "display": "display", "price_cut": "tpr"}


def plan_type_has(ptype, kind: str) -> np.ndarray:
    """1.0 where a plan's promotion type (possibly several kinds, 'feature+display': see
    engine.ingest.mapping.choice_of) names the promotion kind `kind` (a PROMO_KINDS column
    or a promotion type such as 'price_cut'), else 0.0."""
    from engine.ingest.mapping import choice_parts

    names = {kind} | {t for t, k in PLAN_TYPE_KIND.items() if k == kind}
    return np.array([bool(names & choice_parts(t)) if isinstance(t, str) else False
                     for t in ptype], dtype=float)


# periods before the cutoff whose promotions say how often (and how) a series is promoted
# when no plan says (`_expected_promotion`): the last quarter, not the last year, since
# promotion calendars change from one quarter to the next (dunnhumby: the test quarter ran
# 20.6% of its sales rows promoted against 32.4% the year before; the last quarter's rate
# forecast it at 34.8% WAPE and +0.6% bias instead of 35.1% and +2.6%; the demo, whose
# rates are constant, scores the same: see README, Forecasting item 2)
PROMO_RATE_PERIODS = {"W": 13, "D": 91}
ATTRIBUTES = ["category_code", "city_code", "state_code", "log_mrp"]
CATEGORICAL = ["category_code", "city_code", "state_code"]


@dataclass(frozen=True)
class Signals:
    """Side information for features. Every part is optional (uploaded data may have none).

    skus: sku_id, category, mrp, ...; locations: pin_code, city, state, ...;
    weather: city, date, temp_c, rainfall_mm, humidity; festivals: the calendar
    (name, date, festival_type, states, pre_days, post_days); festival_effects: name,
    category, multiplier.
    """

    skus: pd.DataFrame | None = None
    locations: pd.DataFrame | None = None
    weather: pd.DataFrame | None = None
    festivals: pd.DataFrame | None = None
    festival_effects: pd.DataFrame | None = None
    # category / city / state -> every value of the whole run, sorted: the integer codes
    # LightGBM reads then mean the same in every partition of a distributed run (None:
    # codes of the values among the panel's own series)
    vocabularies: dict | None = None


@dataclass
class Panel:
    frame: pd.DataFrame          # every row, sorted by series then date; `future` marks t >
    # the cutoff; demand and attributes only (sku_id, pin_code, date, sid, pos, quantity,
    # category, city, state; the text columns are Categoricals: read them with .iloc)
    rows: pd.DataFrame           # the featurised rows (same order), `lgb_row` = LightGBM's
    features: list[str]
    categorical: list[str]
    cutoff: pd.Timestamp
    grain: str
    horizon: int
    groups: dict[str, list[str]] = field(default_factory=dict)
    gaps: pd.DataFrame | None = None   # periods treated as missing data (data_gaps)

    @property
    def history(self) -> pd.DataFrame:
        """Every history row (demand and attributes; no features)."""
        return self.frame[~self.frame["future"].to_numpy()]

    @cached_property
    def future(self) -> pd.DataFrame:
        """Future rows with all features (computed once; treat as read-only)."""
        return self.rows[self.rows["future"].to_numpy()]

    @property
    def train(self) -> pd.DataFrame:
        """History rows with features that LightGBM trains on (attrs['cutoff'] set)."""
        t = self.rows[self.rows["lgb_row"].to_numpy() & ~self.rows["future"].to_numpy()]
        t.attrs["cutoff"] = self.cutoff
        return t

    @property
    def featured_history(self) -> pd.DataFrame:
        """Every featurised history row (training rows and full-history series)."""
        return self.rows[~self.rows["future"].to_numpy()]


# ---- input checks and grain ------------------------------------------------------------
def normalize_history(history: pd.DataFrame) -> pd.DataFrame:
    """Check columns and types; one row per series x date (duplicates summed). Never
    mutates the input. Only the model's columns are copied, and duplicates are found on
    integer codes (SKU, PIN, day), not on the string keys."""
    missing = [c for c in REQUIRED if c not in history.columns]
    if missing:
        raise ForecastError(
            f"The sales history is missing the column(s) {', '.join(missing)}; a forecast "
            f"needs {', '.join(REQUIRED)}.", evidence={"missing": missing}, code="missing_columns")
    text = {c: _as_text(history[c]) for c in KEYS}
    cols = {"sku_id": text["sku_id"][1], "pin_code": text["pin_code"][1],
            "date": pd.to_datetime(history["date"]).dt.normalize(),
            "quantity": pd.to_numeric(history["quantity"], errors="coerce")}
    bad = (cols["quantity"].isna() | (cols["quantity"] < 0)).to_numpy()
    if bad.any():
        first = history[bad].iloc[0]
        raise ForecastError(
            f"{int(bad.sum())} sales rows have a missing or negative quantity (first: SKU "
            f"{first['sku_id']} at PIN {first['pin_code']} on "
            f"{pd.Timestamp(first['date']):%d-%b-%Y}); fix or remove them before forecasting.",
            evidence=offending_rows(history, bad, REQUIRED, limit=20), code="bad_quantity")
    for col in ("price", "regular_price"):
        cols[col] = pd.to_numeric(history[col], errors="coerce") if col in history.columns \
            else pd.Series(np.nan, index=history.index)
    cols["promo"] = history["promo"].fillna(False).astype(bool) if "promo" in history.columns \
        else pd.Series(False, index=history.index)
    for col in PROMO_KINDS:    # feature / display / tpr shares 0..1 when the file has them
        if col in history.columns:
            cols[col] = pd.to_numeric(history[col], errors="coerce").clip(0, 1)
    h = pd.DataFrame(cols, index=history.index)
    if len(h):
        codes = [text[c][0] for c in KEYS] + [pd.factorize(h["date"].to_numpy().view(np.int64))[0]]
        series, n_series = pd.factorize(codes[0] * (int(codes[1].max()) + 1) + codes[1])
        key = series.astype(np.int64) * (int(codes[2].max()) + 1) + codes[2]
        space = len(n_series) * (int(codes[2].max()) + 1)
        # a count per (series, day) cell when the lattice is small enough, else a hash
        dup = (np.bincount(key, minlength=space).max() > 1 if space <= 4 * len(key) + 10**7
               else len(pd.unique(key)) < len(key))
        if dup:
            h = (h.groupby(KEYS + ["date"], as_index=False)
                 .agg(quantity=("quantity", "sum"), price=("price", "mean"),
                      regular_price=("regular_price", "max"), promo=("promo", "max"),
                      **{c: (c, "max") for c in PROMO_KINDS if c in h}))
    return h      # columns: KEYS, date, quantity, price, regular_price, promo (+ PROMO_KINDS)


def _as_text(col: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(integer codes, the column as text): str() of each distinct value once, not of
    every row (values that print alike, e.g. 110001 and "110001", share a code)."""
    codes, uni = pd.factorize(col.to_numpy())            # a missing value -> -1
    t_codes, t_uni = pd.factorize(np.asarray([str(v) for v in uni] + ["nan"], dtype=object))
    codes = t_codes[codes].astype(np.int64)               # -1 picks the "nan" text
    return codes, pd.Series(np.asarray(t_uni, dtype=object)[codes], index=col.index)


def segment_text(col: pd.Series) -> np.ndarray:
    """A category-like column as text per row, "unknown" where missing: str() of each
    distinct value once (the same as col.fillna("unknown").astype(str), without a
    str() call per row on frames of millions of rows)."""
    codes, uni = pd.factorize(col.to_numpy())            # a missing value -> -1
    names = np.asarray([str(v) for v in uni] + ["unknown"], dtype=object)
    return names[codes]


def cut_history(h: pd.DataFrame, cutoff) -> pd.DataFrame:
    """Rows of a normalised history on or before `cutoff` (the frame itself, uncopied,
    when nothing is later)."""
    dates = h["date"].to_numpy()
    cut = pd.Timestamp(cutoff).to_datetime64()
    if len(dates) == 0 or dates.max() <= cut:
        return h
    return h[dates <= cut]


def detect_grain(history: pd.DataFrame) -> str:
    """'W' when every date falls on one weekday and consecutive dates of a series are
    mostly 7 days apart (weekly exports); otherwise 'D'."""
    dates = pd.to_datetime(history["date"])
    if dates.dt.dayofweek.nunique() != 1 or dates.nunique() < 2:
        return "D"
    gaps = (history.assign(date=dates).sort_values(KEYS + ["date"])
            .groupby(KEYS)["date"].diff().dt.days.dropna())
    return "W" if len(gaps) and gaps.median() == 7 else "D"


# ---- gaps in the data (not in the sales) ----------------------------------------------
# A store (PIN code) whose selling periods usually hold at least this many rows cannot
# plausibly sell nothing at all in a period: a period with no rows at all is a feed gap
# or an outage. A store with one or two series can have all-zero periods for real.
GAP_MIN_ROWS = 3


@dataclass(frozen=True)
class WholeFile:
    """What the data-gap rule and the chain-wide promotion rule read about the whole
    sales file, not just the series a panel fits: small per-day sums (a PIN code's rows
    per day; a SKU's sales rows, promoted rows, their prices and promotion kinds per day
    with a promotion), from engine.warehouse.sales_history.whole_file_sums. A local run
    takes them from its own history (`of`); a distributed run computes them once with
    DuckDB over the warehouse and hands them to every partition, so both judge a gap and
    a chain-wide promotion on the same rows. Every reader cuts them at its own cutoff.
    Exact at a daily grain and for weekly files (one row per series and week); a daily
    file forced to a weekly grain counts a series' days, not its weeks."""

    pins: pd.DataFrame           # pin_code, date, rows
    promotions: pd.DataFrame     # sku_id, date, rows, promoted, paid, paid_rows, PROMO_KINDS
    share_kinds: dict            # kind -> first date with a value other than 0 / 1 (NaT)

    @staticmethod
    def of(history: pd.DataFrame) -> "WholeFile":
        """The sums of a normalised history frame (all its rows)."""
        from engine.warehouse.sales_history import whole_file_sums

        return WholeFile(**whole_file_sums(history))

    @staticmethod
    def of_warehouse(wh, cutoff=None) -> "WholeFile":
        """The sums of the warehouse's sales history up to `cutoff`, by DuckDB."""
        from engine.warehouse.sales_history import whole_file_sums

        return WholeFile(**whole_file_sums(wh, cutoff))

    def promoted(self, cut) -> bool:
        """Whether the file records a promotion on or before `cut`."""
        d = self.promotions["date"].to_numpy()
        return bool((d <= np.datetime64(pd.Timestamp(cut))).any())

    def yes_no(self, cut) -> dict[str, bool]:
        """Per promotion kind: only 0 / 1 values on or before `cut` (a yes/no kind)."""
        return {k: pd.isna(d) or d > pd.Timestamp(cut) for k, d in self.share_kinds.items()}


def _period_index(days: np.ndarray, cut_day: int, step: int) -> np.ndarray:
    """Each day's period on the cutoff's lattice (0 = the period ending at the cutoff,
    negative before it; a week is the 7 days ending on its label)."""
    return -((cut_day - days) // step)


def data_gaps(history: pd.DataFrame | None, cut, grain: str,
              whole: WholeFile | None = None) -> pd.DataFrame:
    """Periods that are missing data, not zero sales: for each PIN code, the periods with
    no rows at all for that PIN between periods where it has rows, and the periods with
    no rows at all in the whole file between periods where it has rows (for every PIN),
    each only where the PIN (or the file) usually has at least GAP_MIN_ROWS rows in a
    selling period, judged on the rows on or before `cut`. `whole`: the file's sums
    (WholeFile; None: those of `history`, a normalised history). Returns pin_code,
    period (on the cutoff's lattice: see _period_index), date (the period's label)."""
    empty = pd.DataFrame({"pin_code": pd.Series(dtype=object),
                          "period": pd.Series(dtype=np.int64),
                          "date": pd.Series(dtype="datetime64[ns]")})
    if whole is None and (history is None or history.empty):
        return empty
    pins_rows = (whole if whole is not None else WholeFile.of(history)).pins
    pins_rows = pins_rows[pins_rows["date"].to_numpy() <= np.datetime64(pd.Timestamp(cut))]
    if pins_rows.empty:
        return empty
    step = 7 if grain == "W" else 1
    cut_day = int(np.datetime64(pd.Timestamp(cut), "D").astype(np.int64))
    days = pins_rows["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    k = _period_index(days, cut_day, step)
    k0 = int(k.min())
    n_k = int(k.max()) - k0 + 1
    pin_c, pins = pd.factorize(pins_rows["pin_code"].to_numpy())
    counts = np.bincount(pin_c.astype(np.int64) * n_k + (k - k0),
                         weights=pins_rows["rows"].to_numpy(dtype=float),
                         minlength=len(pins) * n_k).reshape(len(pins), n_k)

    def inner_empty(c: np.ndarray) -> np.ndarray:
        """Rows x periods: empty periods between the row's first and last non-empty one,
        for rows whose non-empty periods hold GAP_MIN_ROWS rows or more (median)."""
        has = c > 0
        first = np.where(has.any(1), has.argmax(1), n_k)
        last = n_k - 1 - has[:, ::-1].argmax(1)
        col = np.arange(n_k)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            typical = np.nanmedian(np.where(has, c, np.nan), axis=1)
        busy = np.nan_to_num(typical) >= GAP_MIN_ROWS
        return (~has & (col >= first[:, None]) & (col <= last[:, None]) & busy[:, None])

    gap = inner_empty(counts) | inner_empty(counts.sum(0, keepdims=True))
    p, j = np.nonzero(gap)
    if not len(p):
        return empty
    period = (j + k0).astype(np.int64)
    return pd.DataFrame({"pin_code": np.asarray(pins, dtype=object)[p], "period": period,
                         "date": (cut_day + period * step).astype("datetime64[D]")
                         .astype("datetime64[ns]")})


def gap_runs(gaps: pd.DataFrame | None, grain: str) -> list[dict]:
    """One record per run of consecutive missing periods of a PIN code: pin_code, periods,
    first and last day (ISO) and `note`, the sentence a run report shows."""
    if gaps is None or gaps.empty:
        return []
    from engine.textfmt import dd_mmm

    unit = "week" if grain == "W" else "day"
    g = gaps.sort_values(["pin_code", "period"])
    new_run = (g["pin_code"].ne(g["pin_code"].shift()) | g["period"].diff().ne(1)).cumsum()
    out = []
    for _, run in g.groupby(new_run.to_numpy(), sort=False):
        n = len(run)
        first, last = run["date"].iloc[0], run["date"].iloc[-1]
        if grain == "W":                 # a week is labelled by its last day
            first = first - pd.Timedelta(days=6)
        pin = str(run["pin_code"].iloc[0])
        out.append({"pin_code": pin, "periods": n, "first": first.date().isoformat(),
                    "last": last.date().isoformat(),
                    "note": f"{n} {unit}{'s' if n != 1 else ''} with no rows at all for PIN "
                            f"{pin} ({dd_mmm(first, True)} .. {dd_mmm(last, True)}) were "
                            f"treated as missing data, not zero sales"})
    return out


def gap_notes(gaps: pd.DataFrame | None, grain: str) -> list[str]:
    """The sentences of gap_runs."""
    return [r["note"] for r in gap_runs(gaps, grain)]


# ---- series-contiguous array helpers ----------------------------------------------------
def _lag_at(values: np.ndarray, pos: np.ndarray, k, at: np.ndarray) -> np.ndarray:
    """values[t - k] within the series, at the rows `at` (NaN when pos < k). `k` is one
    lag for every row or an array with one lag per row of `at`."""
    p = pos[at]
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), p.shape)
    ok = p >= k
    out = np.full(len(at), np.nan)
    out[ok] = values[at[ok] - k[ok]]
    return out


def _window_mean_at(csum: np.ndarray, pos: np.ndarray, end_lag, window: int,
                    at: np.ndarray) -> np.ndarray:
    """Mean of values over [t-end_lag-window+1, t-end_lag] within the series, at the rows
    `at` (partial windows at the series start use the periods available). `end_lag` is
    one lag or one per row of `at`."""
    p = pos[at]
    end_lag = np.broadcast_to(np.asarray(end_lag, dtype=np.int64), p.shape)
    a = _lag_at(csum, pos, end_lag, at)
    b = np.where(p >= end_lag + window, _lag_at(csum, pos, end_lag + window, at),
                 np.where(p >= end_lag, 0.0, np.nan))
    count = np.clip(p - end_lag + 1, 0, window).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (a - b) / np.maximum(count, 1), np.nan)


def _series_cumsum(values: np.ndarray, starts: np.ndarray, pos: np.ndarray) -> np.ndarray:
    c = np.cumsum(values)
    base = np.concatenate([[0.0], c])[starts]          # cumsum before each series' start
    return c - np.repeat(base, np.diff(np.append(starts, len(values))))


def _fast_join(left: pd.DataFrame, right: pd.DataFrame, on: list[str], cols: list[str]
               ) -> pd.DataFrame:
    """Left join of `right[cols]` onto `left` by `on` (right unique on `on`), via integer
    codes instead of a hash merge of string keys: ~5x faster on million-row panels."""
    codes_l, codes_r = [], []
    for key in on:
        both = pd.concat([left[key], right[key]], ignore_index=True)
        c, _ = pd.factorize(both, use_na_sentinel=False)
        codes_l.append(c[:len(left)].astype(np.int64))
        codes_r.append(c[len(left):].astype(np.int64))
    kl = np.zeros(len(left), np.int64)
    kr = np.zeros(len(right), np.int64)
    for cl, cr in zip(codes_l, codes_r):
        base = int(max(cl.max(initial=0), cr.max(initial=0))) + 1
        kl = kl * base + cl
        kr = kr * base + cr
    order = np.argsort(kr, kind="stable")
    pos = np.searchsorted(kr[order], kl)
    pos = np.clip(pos, 0, max(len(kr) - 1, 0))
    hit = (kr[order][pos] == kl) if len(kr) else np.zeros(len(kl), bool)
    rows = order[pos]
    out = pd.DataFrame(index=left.index)
    for col in cols:
        vals = right[col].to_numpy()
        if vals.dtype.kind in "fiub":
            got = np.where(hit, vals[rows].astype(float), np.nan)
        else:
            got = np.where(hit, vals[rows], None)
        out[col] = got
    return out


# ---- panel ----------------------------------------------------------------------------
def _per_row(per_series: pd.Series, sid: np.ndarray) -> pd.Categorical:
    """A per-series text attribute spread over the panel's rows as a Categorical (integer
    codes, not tens of millions of Python strings); missing values stay missing."""
    codes, uniques = pd.factorize(per_series.to_numpy(), use_na_sentinel=True)
    return pd.Categorical.from_codes(codes[sid], categories=pd.Index(uniques, dtype=object))


def build_panel(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
                cutoff=None, future_prices: pd.DataFrame | None = None,
                full_top_n: int = 0, normalized: bool = False,
                whole: WholeFile | None = None) -> Panel:
    """Dense series x period panel, history cut at `cutoff` (default cfg.cutoff, else the
    last date in the history). `frame` holds every row with demand and attributes;
    `rows` the rows with features (see `_feature_rows`: every future row, LightGBM's
    training rows, all history of the `full_top_n` largest series). Lags and rolling
    statistics are computed over the whole panel, so a row's features do not depend on
    which other rows were featurised. `normalized=True` says `history` already went
    through normalize_history (the pipeline normalises once per run). `whole`: the whole
    file's sums the data-gap and chain-wide promotion rules read (None: those of
    `history`; a partition of a distributed run gets the whole file's)."""
    signals = signals or Signals()
    h = history if normalized else normalize_history(history)
    grain = cfg.grain or detect_grain(h)
    cfg = cfg.for_grain(grain)
    step = 7 if grain == "W" else 1
    cut = pd.Timestamp(cutoff if cutoff is not None else (cfg.cutoff or h["date"].max()))
    h = cut_history(h, cut)
    if h.empty:
        raise ForecastError(
            f"There is no sales history on or before the cutoff {cut:%d-%b-%Y}.",
            evidence={"cutoff": cut.date()}, code="no_history")
    H = cfg.horizon
    end = cut + pd.Timedelta(days=step * H)

    # series by integer codes (sorted like a groupby on the keys), not a string groupby
    sku_c, sku_u = pd.factorize(h["sku_id"].to_numpy(), sort=True)
    pin_c, pin_u = pd.factorize(h["pin_code"].to_numpy(), sort=True)
    skey = sku_c.astype(np.int64) * (len(pin_u) + 1) + pin_c
    day = h["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    ukey, row_sid = np.unique(skey, return_inverse=True)
    first_day = np.full(len(ukey), np.iinfo(np.int64).max)
    np.minimum.at(first_day, row_sid, day)
    series = pd.DataFrame({"sku_id": np.asarray(sku_u, dtype=object)[ukey // (len(pin_u) + 1)],
                           "pin_code": np.asarray(pin_u, dtype=object)[ukey % (len(pin_u) + 1)],
                           "start": first_day.astype("datetime64[D]").astype("datetime64[ns]")})
    if grain == "W":   # align each series' start to the cutoff's weekday lattice
        lag = ((cut - series["start"]).dt.days // 7) * 7
        series["start"] = cut - pd.to_timedelta(lag, unit="D")
    n_per = ((end - series["start"]).dt.days // step + 1).to_numpy()
    starts = np.concatenate([[0], np.cumsum(n_per)[:-1]])
    n = int(n_per.sum())
    sid = np.repeat(np.arange(len(series), dtype=np.int32 if n < 2**31 else np.int64), n_per)
    pos = (np.arange(n) - np.repeat(starts, n_per)).astype(sid.dtype)
    dates = (np.repeat(series["start"].to_numpy(), n_per)
             + (pos * step).astype("timedelta64[D]"))
    # periods a whole PIN code (or the file) has no rows for, between periods with rows,
    # are missing data: they leave the panel, so each series continues across the gap
    # (its lags, windows and baselines read the periods before and after it)
    whole = whole if whole is not None else WholeFile.of(h)
    gaps = data_gaps(h, cut, grain, whole)
    dense_starts, to_kept = starts, None
    if len(gaps):
        keep = ~in_gaps(series["pin_code"].to_numpy(), sid, dates, gaps, cut, step)
        sid, dates, to_kept = sid[keep], dates[keep], np.cumsum(keep) - 1
        n_per = np.bincount(sid, minlength=len(series))
        starts = np.concatenate([[0], np.cumsum(n_per)[:-1]])
        n = len(sid)
        pos = (np.arange(n) - np.repeat(starts, n_per)).astype(sid.dtype)
    frame = pd.DataFrame({"sku_id": _per_row(series["sku_id"], sid),
                          "pin_code": _per_row(series["pin_code"], sid),
                          "date": dates, "sid": sid, "pos": pos})
    frame["future"] = frame["date"].to_numpy() > cut.to_datetime64()

    # attach observed sales by (sid, period index)
    if grain == "W":
        h = h.assign(date=cut - pd.to_timedelta(((cut - h["date"]).dt.days // 7) * 7, unit="D"))
        h = h.groupby(KEYS + ["date"], as_index=False).agg(
            quantity=("quantity", "sum"), price=("price", "mean"),
            regular_price=("regular_price", "max"), promo=("promo", "max"),
            **{c: (c, "max") for c in PROMO_KINDS if c in h})
    if grain == "W":    # weekly rows were re-aggregated: recompute their series
        row_sid = np.searchsorted(ukey, pd.Index(sku_u).get_indexer(h["sku_id"]).astype(
            np.int64) * (len(pin_u) + 1) + pd.Index(pin_u).get_indexer(h["pin_code"]))
    hs = h
    start_day = series["start"].to_numpy().astype("datetime64[D]").astype(np.int64)
    offset = h["date"].to_numpy().astype("datetime64[D]").astype(np.int64) - start_day[row_sid]
    idx = dense_starts[row_sid] + offset // step
    if to_kept is not None:     # a sales row is never in a gap (a gap has no rows)
        idx = to_kept[idx]
    qty = np.where(frame["future"].to_numpy(), np.nan, 0.0)
    qty[idx] = hs["quantity"].to_numpy(dtype=float)
    frame["quantity"] = qty
    prices = {}
    for col in ("price", "regular_price"):
        prices[col] = np.full(n, np.nan)
        prices[col][idx] = hs[col].to_numpy(dtype=float)
    promo = np.zeros(n, bool)
    promo[idx] = hs["promo"].to_numpy(dtype=bool)
    kinds = {}
    for col in PROMO_KINDS:           # 0 where not recorded: "no such promotion known"
        kinds[col] = np.zeros(n)
        if col in hs:
            kinds[col][idx] = np.nan_to_num(hs[col].to_numpy(dtype=float))
    del hs, h
    sku_of_series = pd.factorize(series["sku_id"].to_numpy(), use_na_sentinel=False)[0]
    flagged = whole.promoted(cut)     # the file records promotions (else: the price rule)
    if flagged:
        _shared_promotions(promo, prices, kinds, idx, series["sku_id"].to_numpy(), sid,
                           frame["date"].to_numpy(), frame["future"].to_numpy(), whole, cut,
                           step)
    attrs = _series_attributes(series, signals)
    for col in ("category", "city", "state"):
        frame[col] = _per_row(attrs[col], sid)

    fut = frame["future"].to_numpy()
    rows, lgb_row = _feature_rows(frame, cfg, cut, grain, H, full_top_n)
    R = frame.iloc[rows].reset_index(drop=True)
    for col in (*KEYS, "category", "city", "state"):   # plain values on the featurised rows
        R[col] = R[col].astype(object)
    R["lgb_row"] = lgb_row
    feats: dict[str, list[str]] = {}
    step = _origin_steps(rows, lgb_row, fut, pos, sid, n_per, H, cfg.seed)
    demand = _demand_features(frame["quantity"].to_numpy(), pos, starts, grain, step, rows)
    pin_of_series = pd.factorize(series["pin_code"].to_numpy(), use_na_sentinel=False)[0]
    demand.update(_cross_series_features(frame, grain, step, rows,
                                         {"sku": sku_of_series[sid], "pin": pin_of_series[sid]}))
    for col, values in demand.items():
        R[col] = values
    feats["recent_demand"] = list(demand)
    del demand
    feats["trend_seasonality"] = _calendar_features(R, grain) + ["age"]
    R["age"] = R["pos"].to_numpy().astype(float)
    regular = _regular_price(prices, fut, starts, n_per, 8 if grain == "W" else 56)
    if not flagged:
        # a history without promotion flags: a period 5% or more under the regular price,
        # or with a display / feature / tpr share of a half or more, was a promotion
        with np.errstate(invalid="ignore"):
            below = np.nan_to_num(prices["price"] < 0.95 * regular).astype(bool)
        shown = np.zeros(len(promo), dtype=bool)
        for k in kinds.values():
            shown |= k >= 0.5
        promo = ~fut & (below | shown)
    feats["price"] = _price_features(R, rows, fut, sid, regular, prices, promo,
                                     sku_of_series, future_prices, kinds)
    _expected_promotion(R, rows, fut, sid, starts, n_per, prices["price"], regular, promo,
                        frame["quantity"].to_numpy(), H, PROMO_RATE_PERIODS[grain], kinds)
    # how often the series was on promotion in the window before its forecast origin
    R["promo_share"] = _window_mean_at(_series_cumsum(promo.astype(float), starts, pos), pos,
                                       step, 13 if grain == "W" else 28, rows)
    R["category_promo_share"] = _category_promo_share(
        R, rows, frame["date"].to_numpy(), fut, promo,
        attrs["category_code"].to_numpy()[sid], pin_of_series[sid])
    del prices, promo, kinds
    for col in ATTRIBUTES:
        R[col] = attrs[col].to_numpy()[R["sid"].to_numpy()]
    feats["trend_seasonality"] += ATTRIBUTES
    feats["weather"] = _weather_features(R, signals, cut, grain)
    feats["festival"] = _festival_features(R, signals, grain)
    features = [c for group in feats.values() for c in group]
    categorical = [c for c in CATEGORICAL if c in features]
    return Panel(frame=frame, rows=R, features=features, categorical=categorical, cutoff=cut,
                 grain=grain, horizon=H, groups=feats, gaps=gaps)


def in_gaps(pins, which: np.ndarray, dates: np.ndarray, gaps: pd.DataFrame, cut,
            step: int) -> np.ndarray:
    """Whether each row falls in a data gap of its PIN code: `pins` the PIN codes of the
    rows' units (series, or the rows themselves), `which` each row's unit, `dates` each
    row's period label on the lattice of `cut` (data_gaps' output)."""
    out = np.zeros(len(which), dtype=bool)
    if gaps is None or gaps.empty or not len(which):
        return out
    gap_pins = pd.Index(pd.unique(gaps["pin_code"]))
    gp = gap_pins.get_indexer(np.asarray(pins, dtype=object))[which]
    k0 = int(gaps["period"].min())
    width = int(gaps["period"].max()) - k0 + 1
    grid = np.zeros((len(gap_pins), width), dtype=bool)
    grid[gap_pins.get_indexer(gaps["pin_code"]), gaps["period"].to_numpy() - k0] = True
    cut_day = int(np.datetime64(pd.Timestamp(cut), "D").astype(np.int64))
    days = np.asarray(dates).astype("datetime64[D]").astype(np.int64)
    k = _period_index(days, cut_day, step) - k0
    inside = (gp >= 0) & (k >= 0) & (k < width)
    out[inside] = grid[gp[inside], k[inside]]
    return out


def _shared_promotions(promo: np.ndarray, prices: dict, kinds: dict, idx: np.ndarray,
                       series_sku: np.ndarray, sid: np.ndarray, dates: np.ndarray,
                       fut: np.ndarray, whole: WholeFile, cut, step: int) -> None:
    """A promotion is only recorded on a sales row, so a period without sales looks
    unpromoted even when the SKU was on promotion chain-wide. For a slow seller almost
    every promoted period is then a selling one, and the model reads 'promotion' as 'a
    sale happened' (3-15x lifts instead of 1.2x on the demo). Where the SKU was promoted
    chain-wide in a period (chain_wide_at over the whole file's rows of the SKU and
    period, `whole`), its periods without a sales row take the promotion too.
    `series_sku`: each series' SKU, `sid`: each panel row's series. In place."""
    has_row = np.zeros(len(promo), dtype=bool)
    has_row[idx] = True
    rows = np.flatnonzero(~fut & ~has_row)
    if not len(rows):
        return
    fill, paid, kind = chain_wide_at(whole, cut, step, series_sku[sid[rows]], dates[rows],
                                     list(kinds), last=cut)
    if not fill.any():
        return
    rows = rows[fill]
    promo[rows] = True
    prices["price"][rows] = paid[fill]
    for col, values in kinds.items():
        values[rows] = kind[col][fill]


def chain_wide_at(whole: WholeFile, cut, step: int, skus: np.ndarray, dates: np.ndarray,
                  kinds: list[str], first=None, last=None
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """For each (SKU, date) asked: whether the SKU was promoted chain-wide in the date's
    period on the cutoff's lattice (chain_wide_sums over the whole file's per-day sums,
    `whole`, of the days in (`first`, `last`] (None: no bound), summed per SKU x period),
    the mean price paid on its promoted rows and each promotion kind of `kinds` (yes/no
    as the file's kinds were on or before `last`). The panel's history (periods up to
    the cutoff) and a backtest fold's plan (the periods after it) read the same sums, so
    a partition of the file judges a chain-wide promotion as the whole file does."""
    n = len(skus)
    none = (np.zeros(n, dtype=bool), np.full(n, np.nan), {c: np.zeros(n) for c in kinds})
    p = whole.promotions
    d = p["date"].to_numpy()
    keep = np.ones(len(p), dtype=bool)
    if first is not None:
        keep &= d > np.datetime64(pd.Timestamp(first))
    if last is not None:
        keep &= d <= np.datetime64(pd.Timestamp(last))
    p = p[keep]
    if not n or p.empty:
        return none
    cut_day = int(np.datetime64(pd.Timestamp(cut), "D").astype(np.int64))

    def period(d: np.ndarray) -> np.ndarray:
        return _period_index(np.asarray(d).astype("datetime64[D]").astype(np.int64),
                             cut_day, step)

    index = pd.Index(pd.unique(p["sku_id"].to_numpy()))
    k = period(p["date"].to_numpy())
    k0 = int(k.min())
    width = int(k.max()) - k0 + 1
    cell = index.get_indexer(p["sku_id"].to_numpy()).astype(np.int64) * width + (k - k0)
    cells, inv = np.unique(cell, return_inverse=True)    # SKU x period (weekly: summed days)

    def total(col: str) -> np.ndarray:
        return np.bincount(inv, weights=p[col].to_numpy(dtype=float), minlength=len(cells))

    shared, paid, kind = chain_wide_sums(
        total("rows"), total("promoted"), total("paid"), total("paid_rows"),
        {c: total(c) for c in kinds},
        whole.yes_no(last if last is not None else p["date"].max()))
    s = index.get_indexer(np.asarray(skus, dtype=object)).astype(np.int64)
    kr = period(dates) - k0
    at = np.minimum(np.searchsorted(cells, s * width + kr), len(cells) - 1)
    found = (s >= 0) & (kr >= 0) & (kr < width) & (cells[at] == s * width + kr)
    on = found & shared[at]
    return (on, np.where(on, paid[at], np.nan),
            {c: np.where(on, kind[c][at], 0.0) for c in kinds})


def chain_wide_sums(rows: np.ndarray, promoted: np.ndarray, paid: np.ndarray,
                    paid_rows: np.ndarray, kinds: dict[str, np.ndarray],
                    yes_no: dict[str, bool]
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Which SKU x period cells were promotions chain-wide, from per-cell sums: sales
    `rows`, `promoted` rows, the sum of the promoted rows' prices (`paid`, over
    `paid_rows` of them with a price) and of each promotion kind over the promoted rows:
    more than half of the cell's sales rows (at least one) promoted; a store-by-store
    promotion (a minority of the SKU's stores) is not. Per cell: (chain-wide?, the mean
    price paid on its promoted rows, and each promotion kind of them: a yes/no kind
    (`yes_no`: feature, display, price cut) when most of them had it, a share kind
    (display share of the week) at its mean). A mean of yes/no flags (0.67 display)
    would be a value only the imputed rows carry: the trees learnt 'a fractional display
    sells nothing', and the no-plan forecast, which probes the series' usual
    (fractional) promotion, ran 10% low on the real weekly backtest."""
    shared = (promoted >= 1) & (2 * promoted > rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_paid = paid / paid_rows
    out = {}
    for col, total in kinds.items():
        share = total / np.maximum(promoted, 1)
        if yes_no.get(col, False):       # a yes/no kind: the majority's
            share = (share >= 0.5).astype(float)
        out[col] = share
    return shared, mean_paid, out


def _feature_rows(frame: pd.DataFrame, cfg: ForecastConfig, cut: pd.Timestamp, grain: str,
                  H: int, full_top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (sorted) of the panel rows that get features, and which of them LightGBM
    trains on: every future row; the history rows LightGBM's training window holds
    (the last cfg.train_periods periods with a demand lag; all history when fewer than 50),
    reduced to a seeded sample of cfg.lgb_max_rows rows when larger (the same draw the
    model makes, so training rows are identical to featurising every row); and all history
    of the `full_top_n` largest series (Prophet's regressors)."""
    fut = frame["future"].to_numpy()
    pos = frame["pos"].to_numpy()
    start = cut - pd.Timedelta(days=cfg.train_periods * (7 if grain == "W" else 1))
    cand = np.flatnonzero(~fut & (frame["date"].to_numpy() > start.to_datetime64())
                          & (pos >= H))
    if len(cand) < 50:
        cand = np.flatnonzero(~fut)
    if len(cand) > cfg.lgb_max_rows:
        keep = np.random.default_rng(cfg.seed).choice(len(cand), cfg.lgb_max_rows,
                                                      replace=False)
        cand = cand[np.sort(keep)]
    parts = [cand, np.flatnonzero(fut)]
    if full_top_n > 0:
        from engine.forecast.runner import top_series

        hist = frame.loc[~fut, ["sid", "pos", "quantity"]]
        top = top_series(hist, full_top_n, 13 if grain == "W" else 91)
        parts.append(np.flatnonzero(~fut & np.isin(frame["sid"].to_numpy(), top)))
    rows = np.unique(np.concatenate(parts))
    return rows, np.isin(rows, cand)


def _demand_features(quantity: np.ndarray, pos: np.ndarray, starts: np.ndarray, grain: str,
                     step: np.ndarray, at: np.ndarray) -> dict[str, np.ndarray]:
    """Lags and rolling statistics of demand at the rows `at`, as known at each row's
    forecast origin t - step (step = periods ahead: 1..horizon for future rows, a seeded
    draw from 1..horizon for training rows), from per-series cumulative sums over the
    whole panel, so a row's values do not depend on which rows are asked. One model then
    serves every step and still sees last week's demand when forecasting next week."""
    y = np.nan_to_num(quantity.astype(float))
    cs = _series_cumsum(y, starts, pos)
    cz = _series_cumsum((y == 0).astype(float), starts, pos)
    out = {"step": step.astype(float), "lag_origin": _lag_at(y, pos, step, at)}
    windows = (4, 13, 26) if grain == "W" else (7, 28, 91)
    for w in windows:
        out[f"roll_mean_{w}"] = _window_mean_at(cs, pos, step, w, at)
    wz = windows[1]
    out["zero_frac"] = _window_mean_at(cz, pos, step, wz, at)
    del cz
    p = pos[at]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["momentum"] = out[f"roll_mean_{windows[0]}"] / (out[f"roll_mean_{wz}"] + 0.1)
        out["expanding_mean"] = np.where(p >= step, _lag_at(cs, pos, step, at)
                                         / (p - step + 1), np.nan)
    if grain == "D":
        hw = (np.ceil(step / 7) * 7).astype(np.int64)   # same weekday, last 4 known weeks
        total, count = np.zeros(len(at)), np.zeros(len(at))
        for i in range(4):
            lag = _lag_at(y, pos, hw + 7 * i, at)
            ok = np.isfinite(lag)
            total += np.where(ok, lag, 0.0)
            count += ok
        with np.errstate(invalid="ignore", divide="ignore"):
            out["same_dow_mean"] = np.where(count > 0, total / count, np.nan)
        yoy = _window_mean_at(cs, pos, 357, 15, at)       # same season last year
        out["yoy_mean"] = np.where(step <= 357, yoy, np.nan)
    else:
        yoy = _window_mean_at(cs, pos, 51, 3, at)
        out["yoy_mean"] = np.where(step <= 51, yoy, np.nan)
    return out


def _cross_series_features(frame: pd.DataFrame, grain: str, step: np.ndarray,
                           at: np.ndarray, groups: dict[str, np.ndarray]
                           ) -> dict[str, np.ndarray]:
    """Demand of the row's SKU across all its PIN codes, and of its PIN code across all
    its SKUs, as known at the row's forecast origin: mean units per active series over
    the last short and long window (4 / 13 weeks, 7 / 28 days). A chain-wide promotion
    or a store's footfall moves every series of the SKU or the store together; one
    series alone is too noisy to see it. `groups`: name -> integer code of every frame
    row's SKU / PIN."""
    days = 7 if grain == "W" else 1
    short, long_ = (4, 13) if grain == "W" else (7, 28)
    d = frame["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    period = (d - d.min()) // days if len(d) else d
    n_p = int(period.max()) + 1 if len(period) else 1
    hist = ~frame["future"].to_numpy()
    qty = np.nan_to_num(frame["quantity"].to_numpy(dtype=float))
    origin = period[at] - step                     # the period each row is forecast from
    out = {}
    for name, g in groups.items():
        n_g = int(g.max()) + 1 if len(g) else 1
        cell = g[hist].astype(np.int64) * n_p + period[hist]
        tot = np.bincount(cell, weights=qty[hist], minlength=n_g * n_p).reshape(-1, n_p)
        cnt = np.bincount(cell, minlength=n_g * n_p).reshape(-1, n_p).astype(float)
        ctot = np.concatenate([np.zeros((n_g, 1)), np.cumsum(tot, axis=1)], axis=1)
        ccnt = np.concatenate([np.zeros((n_g, 1)), np.cumsum(cnt, axis=1)], axis=1)
        ga = g[at]
        hi = np.clip(origin + 1, 0, n_p)           # cumulative index just past the origin
        levels = {}
        for w in (short, long_):
            lo = np.clip(hi - w, 0, n_p)
            units = ctot[ga, hi] - ctot[ga, lo]
            series = ccnt[ga, hi] - ccnt[ga, lo]
            with np.errstate(invalid="ignore", divide="ignore"):
                levels[w] = np.where(series > 0, units / np.maximum(series, 1), np.nan)
        out[f"{name}_level"] = levels[long_]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{name}_momentum"] = levels[short] / (levels[long_] + 0.1)
    return out


def _origin_steps(rows: np.ndarray, lgb_row: np.ndarray, fut: np.ndarray, pos: np.ndarray,
                  sid: np.ndarray, n_per: np.ndarray, H: int, seed: int) -> np.ndarray:
    """Periods between each featurised row and its forecast origin: future rows count from
    the cutoff (1..H); LightGBM's training rows draw a step uniformly from 1..H (seeded,
    a hash of the row), so training sees every step as often as the forecast does; other
    history rows use H."""
    step = np.full(len(rows), H, dtype=np.int64)
    f = fut[rows]
    last_hist = n_per[sid[rows[f]]] - H - 1
    step[f] = pos[rows[f]] - last_hist
    train = lgb_row & ~f
    step[train] = 1 + _row_hash(sid[rows[train]], pos[rows[train]], seed) % H
    return step


def _row_hash(sid: np.ndarray, pos: np.ndarray, seed: int) -> np.ndarray:
    """A seeded pseudo-random integer per (series, period) that depends on nothing else
    (splitmix64 of the pair), so a row's drawn step is the same whichever rows are
    featurised or sampled."""
    with np.errstate(over="ignore"):
        x = (sid.astype(np.uint64) << np.uint64(32)) ^ pos.astype(np.uint64) \
            ^ np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x % np.uint64(2**31)).astype(np.int64)


def _calendar_features(frame: pd.DataFrame, grain: str) -> list[str]:
    d = pd.DatetimeIndex(frame["date"])
    frame["month"] = d.month
    frame["weekofyear"] = d.isocalendar().week.to_numpy().astype(int)
    frame["doy"] = d.dayofyear
    if grain == "W":
        return ["month", "weekofyear", "doy"]
    dom = d.day
    last = d.days_in_month
    frame["dow"] = d.dayofweek
    frame["dom"] = dom
    frame["is_weekend"] = (d.dayofweek >= 5).astype(int)
    frame["month_start"] = (dom <= 3).astype(int)
    frame["month_end"] = (last - dom <= 2).astype(int)
    frame["payday"] = ((dom <= 5) | (dom == last)).astype(int)   # salaries land 1st-5th
    return CALENDAR


def _fill_within(values: np.ndarray, starts: np.ndarray, n_per: np.ndarray) -> np.ndarray:
    """Forward fill, then backward fill, NaNs within each series (contiguous blocks)."""
    n = len(values)
    ar = np.arange(n)
    valid = ~np.isnan(values)
    seg_start = np.repeat(starts, n_per)
    seg_end = np.repeat(starts + n_per, n_per)
    prev = np.maximum.accumulate(np.where(valid, ar, -1))
    nxt = np.minimum.accumulate(np.where(valid, ar, n)[::-1])[::-1]
    src = np.where(prev >= seg_start, prev, np.where(nxt < seg_end, nxt, -1))
    return np.where(src >= 0, values[np.clip(src, 0, max(n - 1, 0))], np.nan)


def _regular_price(prices: dict, fut: np.ndarray, starts: np.ndarray, n_per: np.ndarray,
                   window: int) -> np.ndarray:
    """Regular price on every panel row: observed up to the cutoff; where the file has no
    regular price, the highest price paid over the last `window` periods (a shelf price
    that a promotion cuts for a few weeks; the price paid itself would make every
    discount invisible), carried forward / back within each series, so future rows hold
    the last known one. A series whose regular price equals the price paid in every
    period carries no regular price: the upload fills a missing one with the day's price
    (sales_daily), which made every discount of a file without regular prices (tuna,
    cheese) invisible, so a planned price cut was a price ratio never seen in training."""
    reg = np.where(fut, np.nan, prices["regular_price"])
    paid = np.where(fut, np.nan, prices["price"])
    sid = np.repeat(np.arange(len(starts)), n_per)
    with np.errstate(invalid="ignore"):
        differs = np.abs(reg - paid) > 1e-9 * np.abs(paid)
    informative = np.bincount(sid[differs], minlength=len(starts)) > 0
    reg = np.where(informative[sid], reg, np.nan)
    need = np.isnan(reg) & ~np.isnan(paid)
    if need.any():
        rows = np.flatnonzero(np.isin(sid, np.unique(sid[need])))
        ref = (pd.Series(paid[rows]).groupby(sid[rows]).rolling(window, min_periods=1).max()
               .to_numpy())
        reg[rows] = np.where(np.isnan(reg[rows]), ref, reg[rows])
    return _fill_within(reg, starts, n_per)


def _price_features(R: pd.DataFrame, rows: np.ndarray, fut: np.ndarray, sid: np.ndarray,
                    reg_all: np.ndarray, prices: dict, promo_all: np.ndarray,
                    sku_of_series: np.ndarray, future_prices: pd.DataFrame | None,
                    kinds: dict[str, np.ndarray] | None = None) -> list[str]:
    """Regular price carried forward / back within each series over the whole panel
    (observed prices only up to the cutoff); on the featurised rows: price (planned prices
    after the cutoff when given, else the regular price), price ratio, discount depth,
    promotion flag and price index (regular price / the SKU's typical regular price)."""
    fr = fut[rows]
    reg = reg_all[rows]
    price = np.where(fr, np.nan, prices["price"][rows])
    promo = promo_all[rows] & ~fr
    R["planned"] = False
    kind = {c: np.where(fr, 0.0, (kinds or {}).get(c, np.zeros(len(fut)))[rows])
            for c in PROMO_KINDS}
    if future_prices is not None and len(future_prices):
        # a plan (engine.forecast.plan.resolve / actual_plan): price, discount %, promotion
        # flag and the share of the period it covers, for future rows only
        fp = future_prices.assign(date=pd.to_datetime(future_prices["date"]))
        cols = [c for c in ("price", "discount_pct", "promo", "plan_share") if c in fp]
        extra = [c for c in ("promo_type", *PROMO_KINDS) if c in fp]
        m = R[KEYS + ["date"]].merge(fp[KEYS + ["date", *cols, *extra]].drop_duplicates(
            KEYS + ["date"]), on=KEYS + ["date"], how="left")
        in_plan = fr & m[cols].notna().any(axis=1).to_numpy() if cols else fr & False
        ptype = m["promo_type"].astype(object).to_numpy() if "promo_type" in m else None
        for col in PROMO_KINDS:       # the plan's kinds: given, else from the promo type
            if col in m:
                given = np.nan_to_num(m[col].to_numpy(dtype=float))
            elif ptype is not None:
                given = plan_type_has(ptype, col)
            else:
                continue
            kind[col] = np.where(in_plan, given, kind[col])
        p = m["price"].to_numpy(dtype=float) if "price" in m else np.full(len(m), np.nan)
        if "discount_pct" in m:
            d = m["discount_pct"].to_numpy(dtype=float)
            # a row with both a price and a discount names its regular (list) price too:
            # the discount is off that price, whatever the history's regular price was
            listed = in_plan & ~np.isnan(p) & ~np.isnan(d) & (d < 100) & (p > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                reg = np.where(listed, p / (1 - d / 100.0), reg)
            p = np.where(np.isnan(p) & ~np.isnan(d), reg * (1 - d / 100.0), p)
        p = np.where(np.isnan(p), reg, p)
        share = np.clip(np.nan_to_num(m["plan_share"].to_numpy(dtype=float), nan=1.0), 0, 1) \
            if "plan_share" in m else np.ones(len(m))
        p = share * p + (1 - share) * np.where(np.isnan(reg), p, reg)
        flag = m["promo"].to_numpy(dtype=float) if "promo" in m else np.full(len(m), np.nan)
        with np.errstate(invalid="ignore"):
            flag = np.where(np.isnan(flag), p < 0.98 * reg, flag > 0)
        price = np.where(in_plan, p, price)
        promo = np.where(in_plan, flag.astype(bool), promo)
        R["planned"] = in_plan
    price = np.where(np.isnan(price), reg, price)
    R["regular_price"] = reg
    R["price"] = price
    R["promo"] = promo
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = price / reg
    R["price_ratio"] = np.where(np.isfinite(ratio), ratio, 1.0)
    R["discount_depth"] = np.clip(1.0 - R["price_ratio"], 0, 1)
    R["promo_flag"] = promo.astype(int)
    for col in PROMO_KINDS:
        R[f"{col}_flag"] = kind[col]
    R["price_index"] = reg / _sku_typical_price(reg_all, fut, sid, sku_of_series,
                                                R["sid"].to_numpy())
    return PRICE


def _expected_promotion(R: pd.DataFrame, rows: np.ndarray, fut: np.ndarray, sid: np.ndarray,
                        starts: np.ndarray, n_per: np.ndarray, price: np.ndarray,
                        regular: np.ndarray, promo_all: np.ndarray, quantity: np.ndarray,
                        H: int, window: int, kinds: dict[str, np.ndarray] | None = None
                        ) -> None:
    """What the future holds when no plan says: per series, the share of selling periods
    on promotion over the last `window` periods before the cutoff (`exp_promo_rate`) and
    the average price / regular price in those promoted periods (`exp_price_ratio`).
    Models that take price and promotion as inputs forecast an unplanned period as that
    mixture (rate x promoted + (1 - rate) x regular), not as a period that is certainly
    without promotion: promotions will happen, we only do not know in which weeks."""
    last_hist = np.repeat(starts + n_per - H - 1, n_per)     # every series ends with H
    recent = ~fut & (np.arange(len(fut)) > last_hist - window)   # future rows
    sold = recent & (np.nan_to_num(quantity) > 0)
    on_promo = sold & promo_all
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = price / regular
    ratio = np.where(np.isfinite(ratio), np.clip(ratio, 0.2, 1.0), np.nan)
    n_series = len(starts)
    sold_n = np.bincount(sid[sold], minlength=n_series)
    promo_n = np.bincount(sid[on_promo], minlength=n_series)
    ok = on_promo & ~np.isnan(ratio)
    ratio_sum = np.bincount(sid[ok], weights=ratio[ok], minlength=n_series)
    ratio_n = np.bincount(sid[ok], minlength=n_series)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(sold_n > 0, promo_n / np.maximum(sold_n, 1), 0.0)
        mean_ratio = np.where(ratio_n > 0, ratio_sum / np.maximum(ratio_n, 1), 1.0)
    row_sid = sid[rows]
    fr = fut[rows]
    R["exp_promo_rate"] = np.where(fr, rate[row_sid], 0.0)
    for col in PROMO_KINDS:       # how the series' promotions usually look (exp_feature...)
        k = (kinds or {}).get(col)
        mean = (np.bincount(sid[on_promo], weights=k[on_promo], minlength=n_series)
                / np.maximum(promo_n, 1)) if k is not None else np.zeros(n_series)
        R[f"exp_{col}"] = np.where(fr, mean[row_sid], 0.0)
    R["exp_price_ratio"] = np.where(fr, mean_ratio[row_sid], 1.0)


def _category_promo_share(R: pd.DataFrame, rows: np.ndarray, dates: np.ndarray,
                          fut: np.ndarray, promo_all: np.ndarray, category: np.ndarray,
                          pin: np.ndarray) -> np.ndarray:
    """Cannibalisation and halo inside a category: for each featurised row, the share of
    the OTHER series of its category at its PIN code on promotion in the same period
    (history: the recorded flags; the future: the plan where planned, else each series'
    usual promotion rate). When rivals are promoted a SKU usually sells less; the trees
    learn how much from the history, and a plan that promotes some SKUs moves their
    neighbours. Counted over every panel row (category, PIN and period per row of the
    frame), so a row's value does not depend on which rows were sampled for training."""
    v = promo_all.astype(float)
    fr = R["future"].to_numpy(dtype=bool)
    planned = R["planned"].to_numpy(dtype=bool) if "planned" in R else np.zeros(len(R), bool)
    rate = R["exp_promo_rate"].to_numpy(dtype=float) if "exp_promo_rate" in R else \
        np.zeros(len(R))
    v[rows[fr]] = np.where(planned[fr], R["promo"].to_numpy(dtype=float)[fr], rate[fr])
    if not len(v):
        return np.zeros(len(R))
    day = dates.astype("datetime64[D]").astype(np.int64)
    cat = np.nan_to_num(np.asarray(category, dtype=float), nan=-1.0).astype(np.int64) + 1
    p = np.asarray(pin, dtype=np.int64)
    d = day - day.min()
    n_p, n_d = int(p.max()) + 1, int(d.max()) + 1
    key = (cat * n_p + p) * n_d + d
    if int(key.max()) + 1 > 4 * len(key) + 10**7:     # a sparse lattice: count by hash
        key = pd.factorize(key)[0]
    total = np.bincount(key, weights=v)
    count = np.bincount(key)
    k = key[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (total[k] - v[rows]) / (count[k] - 1)
    return np.where(count[k] > 1, share, 0.0)


def _sku_typical_price(reg_all: np.ndarray, fut: np.ndarray, sid: np.ndarray,
                       sku_of_series: np.ndarray, row_sid: np.ndarray) -> np.ndarray:
    """Each row's SKU's typical regular price: the median of the regular price over all
    history rows of the SKU's series. The regular price is carried forward within a
    series, so it is a few runs of equal values: the median is taken over the runs,
    weighted by their lengths (the same number as a median over the rows, at a fraction
    of the cost on a 100,000-series panel)."""
    hist_rows = np.flatnonzero(~fut)
    v, s = reg_all[hist_rows], sid[hist_rows]
    ok = ~np.isnan(v)
    v, s = v[ok], s[ok]
    n_sku = int(sku_of_series.max(initial=-1)) + 1
    full = np.full(n_sku, np.nan)
    if len(v):
        start = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (v[1:] != v[:-1])])
        vals, weight = v[start], np.diff(np.r_[start, len(v)])
        sku = sku_of_series[s[start]]
        order = np.lexsort((vals, sku))
        vals, weight, sku = vals[order], weight[order], sku[order]
        cum = np.cumsum(weight)                       # rows up to and including each run
        first = np.flatnonzero(np.r_[True, sku[1:] != sku[:-1]])
        base = np.r_[0, cum[first[1:] - 1]]           # rows before each SKU's runs
        total = np.r_[cum[first[1:] - 1], cum[-1]] - base
        end = np.r_[first[1:], len(vals)]

        def at_rank(k: np.ndarray) -> np.ndarray:     # the SKU's k-th row (0-based)
            pos = np.searchsorted(cum, base + k, side="right")
            return vals[np.minimum(pos, end - 1)]

        full[sku[first]] = (at_rank((total - 1) // 2) + at_rank(total // 2)) / 2
    with np.errstate(invalid="ignore"):
        return full[sku_of_series[row_sid]]


def _series_attributes(series: pd.DataFrame, signals: Signals) -> pd.DataFrame:
    """Per series (row = sid): category, city, state, log_mrp and integer codes of
    category, city and state (sorted values, as pandas.Categorical gives)."""
    skus = signals.skus
    locs = signals.locations
    out = pd.DataFrame(index=series.index)
    cat = series["sku_id"].map(skus.set_index("sku_id")["category"]) if skus is not None \
        and "category" in skus else pd.Series(np.nan, index=series.index)
    out["category"] = cat.to_numpy()
    mrp = series["sku_id"].map(skus.set_index("sku_id")["mrp"]) if skus is not None \
        and "mrp" in skus else pd.Series(np.nan, index=series.index)
    out["log_mrp"] = np.log(mrp.astype(float).clip(lower=0.01)).to_numpy()
    for col in ("city", "state"):
        src = locs.set_index("pin_code")[col] if locs is not None and col in locs else None
        out[col] = series["pin_code"].map(src).to_numpy() if src is not None else None
    vocab = signals.vocabularies or {}
    for col in ("category", "city", "state"):
        codes = pd.Categorical(out[col], categories=vocab.get(col)).codes.astype(float)
        out[f"{col}_code"] = np.where(codes < 0, np.nan, codes)
    return out


def _weather_features(frame: pd.DataFrame, signals: Signals, cut: pd.Timestamp,
                      grain: str) -> list[str]:
    weather = signals.weather
    if weather is not None and len(weather) and grain == "W":
        w = weather.assign(date=pd.to_datetime(weather["date"]))
        w["date"] = cut - pd.to_timedelta(((cut - w["date"]).dt.days // 7) * 7, unit="D")
        agg = {v: "mean" for v in ("temp_c", "humidity") if v in w}
        if "rainfall_mm" in w:
            agg["rainfall_mm"] = "mean"
        weather = w.groupby(["city", "date"], as_index=False).agg(agg)
    # the weather at each row's date, and how far it is from the weather of the window the
    # recent-demand features cover (the `window` periods up to the forecast origin t - step):
    # recent demand already holds that weather, so the difference is what moves demand.
    # Looked up on a PIN x period lattice that holds every row's date and window.
    days = 7 if grain == "W" else 1
    window = 13 if grain == "W" else 28
    d_all = frame["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    origin = d_all - frame["step"].to_numpy().astype(np.int64) * days
    last = int(d_all.max()) if len(d_all) else 0
    n_cal = (last - (int(origin.min()) if len(origin) else last)) // days + window
    first = last - (n_cal - 1) * days                  # the lattice ends on the last date
    pins = pd.Index(frame["pin_code"].unique())
    grid = pd.DataFrame({"pin_code": np.repeat(pins.to_numpy(), n_cal),
                         "date": np.tile(first + days * np.arange(n_cal), len(pins))
                         .astype("datetime64[D]").astype("datetime64[ns]")})
    wx = weather_for(grid, weather, signals.locations, cutoff=cut)
    p = pins.get_indexer(frame["pin_code"]).astype(np.int64)
    cell = p * n_cal + (d_all - first) // days
    for col in ("temp_c", "rainfall_mm", "humidity", "temp_anom", "rain_anom"):
        frame[col] = wx[col].to_numpy(dtype=float)[cell]
    frame["weather_source"] = wx["weather_source"].to_numpy()[cell]
    frame["weather_resp"] = weather_response(frame["category"], frame["temp_c"])
    g = wx["temp_c"].to_numpy(dtype=float).reshape(len(pins), n_cal)
    ok = np.isfinite(g)
    csum = np.concatenate([np.zeros((len(pins), 1)), np.cumsum(np.where(ok, g, 0), 1)], 1)
    ccnt = np.concatenate([np.zeros((len(pins), 1)), np.cumsum(ok, 1)], 1)
    hi = np.clip((origin - first) // days + 1, 0, n_cal)
    lo = np.clip(hi - window, 0, n_cal)
    with np.errstate(invalid="ignore", divide="ignore"):
        recent = (csum[p, hi] - csum[p, lo]) / (ccnt[p, hi] - ccnt[p, lo])
    frame["temp_vs_recent"] = frame["temp_c"].to_numpy() - recent
    return WEATHER


def _festival_features(frame: pd.DataFrame, signals: Signals, grain: str) -> list[str]:
    for col in FESTIVAL:
        frame[col] = 0.0
    frame["festival_uplift"] = 1.0
    cal = signals.festivals
    if cal is None or len(cal) == 0:
        return FESTIVAL
    keys = frame[["date", "state", "category"]].drop_duplicates().reset_index(drop=True)
    effects = signals.festival_effects
    if effects is None:
        effects = pd.DataFrame({"name": pd.Series(dtype=object),
                                "category": pd.Series(dtype=object),
                                "multiplier": pd.Series(dtype=float)})
    if grain == "W":   # a week (label = its last day) carries its strongest festival day
        days = keys.loc[keys.index.repeat(7)].reset_index(drop=True)
        days["week"] = days["date"]
        days["date"] = days["date"] + pd.to_timedelta(np.tile(np.arange(-6, 1), len(keys)),
                                                       unit="D")   # a week label is its last day
        fx = _festival_rows(days, cal, effects)
        agg = {c: ("min" if c.startswith("days_") else "max") for c in FESTIVAL}
        fx = (fx.drop(columns="date").rename(columns={"week": "date"})
              .groupby(["date", "state", "category"], dropna=False, as_index=False).agg(agg))
    else:
        fx = _festival_rows(keys, cal, effects)
    m = _fast_join(frame[["date", "state", "category"]], fx, ["date", "state", "category"],
                   FESTIVAL)
    for col in FESTIVAL:
        frame[col] = m[col].astype(float).fillna(0.0).to_numpy()
    frame["festival_uplift"] = np.exp(frame["festival_intensity"].to_numpy())
    return FESTIVAL


def _festival_rows(keys: pd.DataFrame, cal: pd.DataFrame, effects: pd.DataFrame
                   ) -> pd.DataFrame:
    from engine.signals.festivals import festival_features

    feats = festival_features(keys[["date", "state", "category"]], cal, effects)
    out = keys.copy()
    for col in FESTIVAL:
        if col in feats.columns:
            out[col] = feats[col].to_numpy(dtype=float)
    return out
