"""Market trends: which categories, brands, SKUs, PIN codes or cities are really growing or
shrinking, and what changed in a category between two periods.

Trend (per item of a level, over the last `weeks` weeks of weekly revenue, a week without
sales counting as zero):
- growth vs last year: the window's revenue against the same weeks 52 weeks earlier, only
  when the data reaches back over all of them (else None: never a misleading figure);
- recent trend: Sen's slope (the median of all pairwise slopes, robust to festival spikes)
  as a share of the window's mean weekly revenue ("+1.2% a week"), tested with the
  Mann-Kendall test with a Hamed-Rao variance correction (autocorrelated weeks do not
  pass for a trend); p-values are adjusted across all items of the level with
  Benjamini-Hochberg, so at `alpha` = 5% about 5% of flagged items are expected to be
  noise however many items are tested;
- status: 'emerging' = significant rise and not below last year (or no last year),
  'declining' = significant fall and not above last year, else 'steady'; items with
  fewer than `min_weeks` selling weeks are 'too little data' and not tested.

What changed (`what_changed`): a category's revenue change between period A and period
B, split so the parts add up exactly (to the rupee, up to float rounding):
  volume     (units of SKU x PIN pairs sold in both periods) x A's average price
  SKU mix    selling more of dearer / cheaper SKUs (at A's SKU prices)
  place mix  selling a SKU more in dearer / cheaper PIN codes
  shelf price change in the regular (pre-promotion) price, on B's units
  promotion  change in the promotion discount per unit, on B's units
  new        SKU x PIN pairs that sold in B but not in A (their B revenue)
  lost       pairs that sold in A but not in B (minus their A revenue)
and the same change per SKU and per place (PIN code or city), each row split into
units, price & promotion, new and lost, rows adding up to the total.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import stats

from engine.intel import IntelError
from engine.textfmt import dd_mmm, inr_compact, pct
from engine.warehouse import sales_summary
from engine.warehouse.sales_summary import date_bounds, filter_options
from engine.warehouse.sql import Filters

LEVEL_NAMES = {"category": "category", "brand": "brand", "sku": "SKU",
               "pin_code": "PIN code", "city": "city"}
STATUSES = ("emerging", "declining", "steady", "too little data")
YEAR = timedelta(days=364)          # 52 weeks: each week meets the same week last year
TREND_COLUMNS = ["item", "label", "weeks", "selling_weeks", "revenue", "revenue_ly",
                 "growth_yoy", "slope_pct_week", "p_value", "q_value", "significant",
                 "status", "reason"]


@dataclass(frozen=True)
class TrendConfig:
    level: str = "category"
    weeks: int = 26            # the recent window tested for a trend
    alpha: float = 0.05        # false-discovery rate across the level's items
    min_weeks: int = 8         # selling weeks needed to test an item

    def __post_init__(self):
        if self.level not in sales_summary.LEVELS:
            raise IntelError("bad_level", "Level must be one of "
                             f"{', '.join(sales_summary.LEVELS)}, "
                             f"not '{self.level}'.", self.level)
        if not 8 <= int(self.weeks) <= 104:
            raise IntelError("bad_weeks", f"The trend window must be 8 to 104 weeks, not "
                             f"{self.weeks}.", self.weeks)
        if not 0 < float(self.alpha) < 0.5:
            raise IntelError("bad_alpha", "The significance level must be between 0 and "
                             f"0.5 (e.g. 0.05), not {self.alpha}.", self.alpha)


# ---- the statistics (pure) ------------------------------------------------------------------
def mann_kendall(y, max_lag: int = 2) -> tuple[float, float, float]:
    """(Sen's slope per step, Mann-Kendall S, two-sided p-value) of a series. The variance
    of S is corrected for ties and inflated for autocorrelation as Hamed & Rao (1998) do,
    from the autocorrelation of the ranks of the Sen-detrended series at lags 1..`max_lag`
    (all of them: with 26 weeks a 'significant lags only' screen misses an AR(1) of 0.4
    and let 16% of trendless series through), never below the plain variance (negative
    autocorrelation would make the test liberal). On simulated 26-week series: white noise
    5.3% rejected at 5%, AR(1) 0.4 noise 8-15% (uncorrected: about 25%), a 1.5%-a-week
    trend in 10% noise 100%."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 4 or np.ptp(y) == 0:
        return 0.0, 0.0, 1.0
    i, j = np.triu_indices(n, 1)
    s = float(np.sign(y[j] - y[i]).sum())
    slope = float(np.median((y[j] - y[i]) / (j - i)))
    _, counts = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float((counts * (counts - 1) * (2 * counts + 5)).sum())) / 18
    r = stats.rankdata(y - slope * np.arange(n))
    r = r - r.mean()
    lags = np.arange(1, min(max_lag, n - 3) + 1)
    acf = np.array([(r[:-k] * r[k:]).sum() for k in lags]) / float((r * r).sum())
    ratio = 1 + 2 / (n * (n - 1) * (n - 2)) * float(
        ((n - lags) * (n - lags - 1) * (n - lags - 2) * acf).sum())
    var *= max(ratio, 1.0)
    z = (s - np.sign(s)) / np.sqrt(var) if var > 0 else 0.0
    return slope, s, float(2 * stats.norm.sf(abs(z)))


def bh_adjust(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), NaN kept as NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        from statsmodels.stats.multitest import multipletests

        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


def _status(significant: bool, slope: float, growth) -> str:
    if not significant:
        return "steady"
    against_year = growth is None or pd.isna(growth)
    if slope > 0 and (against_year or growth >= 0):
        return "emerging"
    if slope < 0 and (against_year or growth <= 0):
        return "declining"
    return "steady"


def _reason(r: dict, alpha: float) -> str:
    if r["status"] == "too little data":
        return (f"Sold in only {r['selling_weeks']} of the {r['weeks']} weeks; a trend needs "
                "at least 8 selling weeks.")
    if pd.isna(r["revenue_ly"]):
        yoy = "the data does not reach back to the same weeks last year"
    elif pd.isna(r["growth_yoy"]):
        yoy = "no sales in the same weeks last year (new since then)"
    else:
        yoy = f"{pct(r['growth_yoy'])} vs the same weeks last year"
    trend = f"revenue moving {pct(r['slope_pct_week'])} a week"
    if r["significant"]:
        sure = f"a real trend (adjusted p = {r['q_value']:.3f} < {alpha:g})"
    else:
        sure = f"could be noise (adjusted p = {r['q_value']:.2f})"
    tail = ""
    if r["significant"] and r["status"] == "steady":
        tail = "; the recent trend runs against last year's level, so it may be seasonal"
    return f"{trend}, {sure}; {yoy}{tail}."


def trend_table(weekly: pd.DataFrame, weeks: pd.DatetimeIndex, prior: pd.DataFrame | None,
                cfg: TrendConfig) -> pd.DataFrame:
    """One row per item (TREND_COLUMNS), emerging first (steepest rise), then declining
    (steepest fall), steady and too little data. `weekly`: item, label, week, revenue
    for the window's `weeks`; `prior`: item, revenue for the same weeks last year (None
    when the data does not reach back over all of them)."""
    if weekly.empty:
        return pd.DataFrame(columns=TREND_COLUMNS)
    grid = (weekly.pivot_table(index="item", columns="week", values="revenue", aggfunc="sum")
            .reindex(columns=weeks).fillna(0.0))
    labels = weekly.groupby("item")["label"].first()
    ly = prior.groupby("item")["revenue"].sum() if prior is not None else None
    rows = []
    for item, values in grid.iterrows():
        y = values.to_numpy(dtype=float)
        selling = int((y > 0).sum())
        revenue = float(y.sum())
        rev_ly = float(ly.get(item, 0.0)) if ly is not None else np.nan
        growth = revenue / rev_ly - 1 if rev_ly and rev_ly > 0 else np.nan
        row = {"item": item, "label": labels.get(item, item), "weeks": len(y),
               "selling_weeks": selling, "revenue": revenue, "revenue_ly": rev_ly,
               "growth_yoy": growth, "slope_pct_week": np.nan, "p_value": np.nan}
        if selling >= cfg.min_weeks:
            slope, _, p = mann_kendall(y)
            mean = y.mean()
            row["slope_pct_week"] = slope / mean if mean > 0 else 0.0
            row["p_value"] = p
        rows.append(row)
    out = pd.DataFrame(rows)
    out["q_value"] = bh_adjust(out["p_value"])
    out["significant"] = (out["q_value"] < cfg.alpha).fillna(False).astype(bool)
    out["status"] = [
        "too little data" if pd.isna(r.p_value) else
        _status(r.significant, r.slope_pct_week, r.growth_yoy) for r in out.itertuples()]
    out["reason"] = [_reason(r, cfg.alpha) for r in out.to_dict("records")]
    order = out["status"].map({s: i for i, s in enumerate(STATUSES)})
    key = np.where(out["status"] == "declining", out["slope_pct_week"],
                   -out["slope_pct_week"].fillna(0))
    out = out.assign(_o=order, _k=key).sort_values(["_o", "_k", "revenue"],
                                                   ascending=[True, True, False])
    return out.drop(columns=["_o", "_k"]).reset_index(drop=True)[TREND_COLUMNS]


# ---- from the warehouse ---------------------------------------------------------------------
@dataclass(frozen=True)
class TrendResult:
    config: TrendConfig
    start: date
    end: date
    prior_start: date | None          # None: no full year of history for the window
    prior_end: date | None
    table: pd.DataFrame = field(repr=False)

    def by_status(self, status: str, n: int | None = None) -> pd.DataFrame:
        t = self.table[self.table["status"] == status]
        return t if n is None else t.head(n)

    def summary(self) -> str:
        counts = self.table["status"].value_counts()
        noun = LEVEL_NAMES[self.config.level]
        return (f"{len(self.table)} {noun} items, {dd_mmm(self.start, True)} to "
                f"{dd_mmm(self.end, True)} ({self.config.weeks} weeks): "
                f"{counts.get('emerging', 0)} emerging, {counts.get('declining', 0)} "
                f"declining at a {self.config.alpha:.0%} false-discovery rate.")


def window(wh, f: Filters, weeks: int) -> tuple[date, date, date | None]:
    """(start, end, first sales date) of the last `weeks` weeks up to the filter's end (or
    the last sales date); IntelError when there are no sales."""
    lo, hi = date_bounds(wh, f.pin_scope)
    if hi is None:
        raise IntelError("no_sales", "No sales in the warehouse for your selection yet: load "
                         "the demo or upload sales on the Data page.")
    end = min(f.end, hi) if f.end else hi
    start = end - timedelta(days=7 * weeks - 1)
    return start, end, lo


def trends(wh, f: Filters, cfg: TrendConfig) -> TrendResult:
    """The trend table of `cfg.level` for the window ending at the filter's end date (the
    sidebar's start date is ignored: the window is `cfg.weeks` weeks)."""
    start, end, first = window(wh, f, cfg.weeks)
    weekly = sales_summary.weekly_by_level(wh, f, cfg.level, start, end)
    weeks = pd.DatetimeIndex([pd.Timestamp(end) - pd.Timedelta(days=7 * k)
                              for k in range(cfg.weeks)][::-1])
    p_start, p_end = start - YEAR, end - YEAR
    prior = None
    if first is not None and first <= p_start + timedelta(days=6):
        prior = sales_summary.weekly_by_level(wh, f, cfg.level, p_start, p_end)
    else:
        p_start = p_end = None
    return TrendResult(cfg, start, end, p_start, p_end, trend_table(weekly, weeks, prior, cfg))


# ---- what changed ---------------------------------------------------------------------------
BRIDGE_STEPS = [  # (key, label, help)
    ("volume", "More / fewer units", "Units of the SKUs sold in the same PIN codes in both "
     "periods, at the first period's average price."),
    ("sku_mix", "SKU mix", "Selling more of dearer or cheaper SKUs (at the first period's "
     "SKU prices)."),
    ("place_mix", "Place mix", "Selling a SKU more in PIN codes where it sells dearer or "
     "cheaper."),
    ("shelf_price", "Shelf price", "Change in the regular (pre-promotion) price, on the "
     "second period's units."),
    ("promotion", "Promotion", "Change in the promotion discount per unit, on the second "
     "period's units."),
    ("new", "Newly sold", "SKU x PIN code pairs that sold only in the second period."),
    ("lost", "No longer sold", "SKU x PIN code pairs that sold only in the first period."),
]
PART_COLUMNS = ["revenue_a", "revenue_b", "change", "units_effect", "price_promo_effect",
                "new", "lost"]


@dataclass(frozen=True)
class WhatChanged:
    category: str | None
    periods: dict                     # {'a': (start, end), 'b': (start, end)}
    bridge: pd.DataFrame              # step, label, amount, help (first/last: revenue)
    by_sku: pd.DataFrame              # sku_id, name + PART_COLUMNS
    by_place: pd.DataFrame            # place + PART_COLUMNS
    place_level: str

    @property
    def total_change(self) -> float:
        return float(self.bridge["amount"].iloc[-1] - self.bridge["amount"].iloc[0])

    def headline(self) -> str:
        a, b = self.periods["a"], self.periods["b"]
        what = self.category or "All categories"
        steps = self.bridge.iloc[1:-1]
        top = steps.reindex(steps["amount"].abs().sort_values(ascending=False).index).head(2)
        drivers = ", ".join(f"{r.label} {inr_compact(r.amount)}"
                            for r in top.itertuples() if abs(r.amount) > 0)
        return (f"{what}: revenue {inr_compact(self.bridge['amount'].iloc[0])} "
                f"({dd_mmm(a[0])} to {dd_mmm(a[1], True)}) -> "
                f"{inr_compact(self.bridge['amount'].iloc[-1])} ({dd_mmm(b[0])} to "
                f"{dd_mmm(b[1], True)}), change {inr_compact(self.total_change)}"
                + (f"; biggest parts: {drivers}." if drivers else "."))


def _parts(items: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per `keys`: revenue in A and B, change = units + price/promotion + new + lost."""
    g = items.assign(
        units_effect=np.where(items["both"], (items["units_b"] - items["units_a"])
                              * items["price_a"], 0.0),
        price_promo_effect=np.where(items["both"], items["units_b"]
                                    * (items["price_b"] - items["price_a"]), 0.0),
        new=np.where(items["units_a"] <= 0, items["revenue_b"], 0.0),
        lost=np.where(items["units_b"] <= 0, -items["revenue_a"], 0.0))
    out = g.groupby(keys, as_index=False, dropna=False)[
        ["revenue_a", "revenue_b", "units_effect", "price_promo_effect", "new", "lost"]].sum()
    out["change"] = out["revenue_b"] - out["revenue_a"]
    out = out.reindex(out["change"].abs().sort_values(ascending=False).index)
    return out[[*keys, *PART_COLUMNS]].reset_index(drop=True)


def decompose(items: pd.DataFrame, place: str = "city") -> tuple[pd.DataFrame, pd.DataFrame,
                                                                   pd.DataFrame]:
    """(bridge, by_sku, by_place) from per-period SKU x PIN rows (period 'a' / 'b', sku_id,
    name, pin_code, city, units, revenue, regular_revenue); see the module doc."""
    cols = ["units", "revenue", "regular_revenue"]
    wide = items.pivot_table(index=["sku_id", "pin_code"], columns="period", values=cols,
                             aggfunc="sum").fillna(0.0)
    wide.columns = [f"{c}_{p}" for c, p in wide.columns]
    for c in cols:
        for p in "ab":
            if f"{c}_{p}" not in wide:
                wide[f"{c}_{p}"] = 0.0
    wide = wide.reset_index()
    names = items.drop_duplicates("sku_id").set_index("sku_id")["name"]
    cities = items.drop_duplicates("pin_code").set_index("pin_code")["city"]
    wide["name"] = wide["sku_id"].map(names)
    wide["city"] = wide["pin_code"].map(cities)
    both = (wide["units_a"] > 0) & (wide["units_b"] > 0)
    wide["both"] = both
    for p in "ab":
        u = wide[f"units_{p}"].where(wide[f"units_{p}"] > 0)
        wide[f"price_{p}"] = (wide[f"revenue_{p}"] / u).fillna(0.0)
        wide[f"regular_{p}"] = (wide[f"regular_revenue_{p}"] / u).fillna(0.0)
    c = wide[both]
    q_a, q_b = c["units_a"].sum(), c["units_b"].sum()
    r_a = c["revenue_a"].sum()
    avg_a = r_a / q_a if q_a > 0 else 0.0
    volume = (q_b - q_a) * avg_a
    sku = c.groupby("sku_id")[["units_a", "units_b", "revenue_a"]].sum()
    sku_price_a = sku["revenue_a"] / sku["units_a"]
    sku_mix = float(q_b * ((sku["units_b"] / q_b if q_b else 0) - sku["units_a"] / q_a)
                    .mul(sku_price_a).sum()) if q_a > 0 and q_b > 0 else 0.0
    at_a_prices = float((c["units_b"] * c["price_a"]).sum())
    place_mix = at_a_prices - r_a - volume - sku_mix
    shelf = float((c["units_b"] * (c["regular_b"] - c["regular_a"])).sum())
    promo = float((c["units_b"] * ((c["price_b"] - c["regular_b"])
                                   - (c["price_a"] - c["regular_a"]))).sum())
    new = float(wide.loc[wide["units_a"] <= 0, "revenue_b"].sum())
    lost = -float(wide.loc[wide["units_b"] <= 0, "revenue_a"].sum())
    amounts = {"volume": volume, "sku_mix": sku_mix, "place_mix": place_mix,
               "shelf_price": shelf, "promotion": promo, "new": new, "lost": lost}
    total_a, total_b = float(wide["revenue_a"].sum()), float(wide["revenue_b"].sum())
    bridge = pd.DataFrame(
        [("revenue_a", "First period revenue", total_a, "Revenue in the first period.")]
        + [(k, lbl, float(amounts[k]), h) for k, lbl, h in BRIDGE_STEPS]
        + [("revenue_b", "Second period revenue", total_b, "Revenue in the second period.")],
        columns=["step", "label", "amount", "help"])
    return bridge, _parts(wide, ["sku_id", "name"]), _parts(wide, [place])


def default_periods(end: date, weeks: int = 4) -> dict:
    """The last `weeks` weeks up to `end` (B) against the `weeks` weeks before them (A)."""
    b = (end - timedelta(days=7 * weeks - 1), end)
    a = (b[0] - timedelta(days=7 * weeks), b[0] - timedelta(days=1))
    return {"a": a, "b": b}


def what_changed(wh, f: Filters, category: str | None, periods: dict | None = None,
                 weeks: int = 4, place: str = "city") -> WhatChanged:
    """The decomposition of `category`'s revenue change (None = every category) between
    periods A and B (default: the last `weeks` weeks vs the `weeks` before)."""
    if place not in ("city", "pin_code"):
        raise IntelError("bad_place", f"Place must be 'city' or 'pin_code', not '{place}'.",
                         place)
    if category is not None:
        known = filter_options(wh, f.pin_scope)["categories"]
        if category not in known:
            raise IntelError("unknown_category", f"There is no category called '{category}' "
                             f"in your sales; choose one of {', '.join(known)}.", category)
    if periods is None:
        _, end, _ = window(wh, f, weeks)
        periods = default_periods(end, weeks)
    for name, (s, e) in periods.items():
        if s > e:
            raise IntelError("bad_period", f"Period {name.upper()} starts "
                             f"({dd_mmm(s, True)}) after it ends ({dd_mmm(e, True)}).",
                             [str(s), str(e)])
    items = sales_summary.period_items(wh, f, category, periods)
    if items.empty:
        raise IntelError("no_sales_in_periods", f"No sales of {category or 'any category'} "
                         "in either period for your selection; pick other dates or "
                         "another category.", category)
    bridge, by_sku, by_place = decompose(items, place)
    return WhatChanged(category, periods, bridge, by_sku, by_place, place)
