"""What a price change does to units, revenue and margin over the forecast horizon.

units(price) = baseline_units x (new_price / current_price) ^ elasticity, per SKU x PIN x
day of the baseline. The baseline is the latest stored forecast when one exists, else a
naive one computed here (the last 28 days' average by day of week) -- the result says which.

Bands: the elasticity's 95% interval is treated as systematic (every row at the same end),
the baseline's per-row 95% interval as independent across days and PINs; the two are added.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from engine.pricing.elasticity import Z95, PricingError
from engine.tracing import traced

NAIVE_LABEL = "naive baseline (last 28 days' average by day of week; no stored forecast)"


@dataclass(frozen=True)
class Baseline:
    frame: pd.DataFrame      # sku_id, pin_code, date, forecast, lo, hi
    source: str              # "forecast" | "naive"
    label: str               # human-readable, shown next to every simulated number
    run_id: str | None = None
    horizon_days: int = 28   # calendar days the frame covers (weekly rows count 7)


@dataclass(frozen=True)
class PriceChange:
    """A rule: change price by `pct` (-0.10 = 10% cut) for the rows it matches. Empty
    filters match everything; later rules override earlier ones where they overlap."""
    pct: float
    sku_ids: tuple[str, ...] = ()
    category: str | None = None
    state: str | None = None
    start: date | None = None
    end: date | None = None

    def describe(self) -> str:
        where = [f"{len(self.sku_ids)} SKU(s)" if self.sku_ids else None, self.category,
                 f"in {self.state}" if self.state else None]
        when = ""
        if self.start or self.end:
            fmt = (lambda d: pd.Timestamp(d).strftime("%d-%b-%Y") if d else "the end")  # noqa: E731
            when = f" from {fmt(self.start) if self.start else 'the start'} to {fmt(self.end)}"
        return f"{self.pct:+.0%} on " + (" ".join(w for w in where if w) or "all SKUs") + when


@dataclass(frozen=True)
class SimulationResult:
    totals: dict                       # baseline/scenario units, revenue, margin with bands
    by_sku: pd.DataFrame               # one row per SKU touched by a change
    baseline_label: str
    changes: tuple[PriceChange, ...] = field(default_factory=tuple)
    scope_totals: dict = field(default_factory=dict)   # the same, over the rows changed
    scope_label: str = ""                              # what those rows are, in words


def naive_baseline(sales: pd.DataFrame, horizon: int = 28, window: int = 28,
                   end: pd.Timestamp | None = None) -> Baseline:
    """Average of the last `window` days by day of week per SKU x PIN (zeros included),
    projected `horizon` days past `end` (default: last sales date)."""
    if sales.empty:
        raise PricingError("There is no sales history to build a baseline from.")
    s = sales[["sku_id", "pin_code", "date", "quantity"]].copy()
    s["date"] = pd.to_datetime(s["date"])
    end = pd.Timestamp(end) if end is not None else s["date"].max()
    start = end - pd.Timedelta(days=window - 1)
    recent = s[(s["date"] >= start) & (s["date"] <= end)]
    series = recent[["sku_id", "pin_code"]].drop_duplicates()
    days = pd.DataFrame({"date": pd.date_range(start, end, freq="D")})
    grid = series.merge(days, how="cross").merge(recent, on=["sku_id", "pin_code", "date"], how="left")
    grid["quantity"] = grid["quantity"].fillna(0.0)
    grid["dow"] = grid["date"].dt.dayofweek
    by_dow = grid.groupby(["sku_id", "pin_code", "dow"], as_index=False)["quantity"].mean()
    resid = grid.merge(by_dow, on=["sku_id", "pin_code", "dow"], suffixes=("", "_mean"))
    resid["r2"] = (resid["quantity"] - resid["quantity_mean"]) ** 2
    sd = resid.groupby(["sku_id", "pin_code"], as_index=False)["r2"].mean()
    sd["sd"] = np.sqrt(sd["r2"] * window / max(window - 7, 1))
    future = pd.DataFrame({"date": pd.date_range(end + pd.Timedelta(days=1), periods=horizon, freq="D")})
    future["dow"] = future["date"].dt.dayofweek
    out = series.merge(future, how="cross").merge(by_dow, on=["sku_id", "pin_code", "dow"], how="left")
    out = out.merge(sd[["sku_id", "pin_code", "sd"]], on=["sku_id", "pin_code"], how="left")
    out["forecast"] = out["quantity"].fillna(0.0)
    out["lo"] = np.maximum(out["forecast"] - Z95 * out["sd"].fillna(0.0), 0.0)
    out["hi"] = out["forecast"] + Z95 * out["sd"].fillna(0.0)
    frame = out[["sku_id", "pin_code", "date", "forecast", "lo", "hi"]]
    return Baseline(frame.sort_values(["sku_id", "pin_code", "date"]).reset_index(drop=True),
                    "naive", NAIVE_LABEL, horizon_days=horizon)


def prepare(baseline: Baseline, catalog: pd.DataFrame, elasticities: pd.DataFrame,
            locations: pd.DataFrame, regional: pd.DataFrame | None = None) -> pd.DataFrame:
    """The frame `simulate` works on (build once, simulate many times): baseline rows with
    category, state, region, current price, unit_cost and the elasticity with its interval.

    With `regional` (engine.pricing.regional.estimate_regional_elasticities), a row in a
    region whose SKU x region estimate is `sufficient` uses that value; every other row uses
    the SKU's national value. `elasticity_source` ('region' | 'sku') and `elasticity_label`
    record which one."""
    cat = catalog[["sku_id", "category", "price", "unit_cost"]]
    el = elasticities[["sku_id", "elasticity", "lo", "hi"]].rename(
        columns={"lo": "e_lo", "hi": "e_hi"})
    f = baseline.frame.merge(cat, on="sku_id", how="inner").merge(el, on="sku_id", how="inner")
    loc_cols = [c for c in ("pin_code", "state", "region") if c in locations.columns]
    f = f.merge(locations[loc_cols].drop_duplicates("pin_code"), on="pin_code", how="left")
    if "region" not in f.columns:
        f["region"] = None
    f["elasticity_source"] = "sku"
    if regional is not None and len(regional) and f["region"].notna().any():
        reg = regional.loc[regional["sufficient"].astype(bool),
                           ["sku_id", "region", "elasticity", "lo", "hi"]].rename(
            columns={"elasticity": "_r", "lo": "_r_lo", "hi": "_r_hi"})
        f = f.merge(reg, on=["sku_id", "region"], how="left")
        use = f["_r"].notna()
        f.loc[use, "elasticity"] = f.loc[use, "_r"]
        f.loc[use, "e_lo"] = f.loc[use, "_r_lo"]
        f.loc[use, "e_hi"] = f.loc[use, "_r_hi"]
        f.loc[use, "elasticity_source"] = "region"
        f = f.drop(columns=["_r", "_r_lo", "_r_hi"])
    regional_row = f["elasticity_source"] == "region"
    label = f["elasticity"].map("{:.2f}".format)
    f["elasticity_label"] = pd.Categorical(np.where(
        regional_row, f["region"].astype(str) + " " + label + " (regional)", label + " (SKU)"))
    f["date"] = pd.to_datetime(f["date"])
    lo = f["lo"].fillna(f["forecast"])
    hi = f["hi"].fillna(f["forecast"])
    f["sigma"] = ((hi - lo) / (2 * Z95)).clip(lower=0.0)
    f["unit_cost"] = f["unit_cost"].fillna(0.0)
    f.attrs["baseline_label"] = baseline.label
    return f.reset_index(drop=True)


def _row_pct(base: pd.DataFrame, changes: tuple[PriceChange, ...]
             ) -> tuple[np.ndarray, np.ndarray]:
    """(price change per row, rows any rule covers). A rule covers its rows even at 0%."""
    pct = np.zeros(len(base))
    covered = np.zeros(len(base), dtype=bool)
    for ch in changes:
        mask = np.ones(len(base), dtype=bool)
        if ch.sku_ids:
            mask &= base["sku_id"].isin(ch.sku_ids).to_numpy()
        if ch.category:
            mask &= (base["category"] == ch.category).to_numpy()
        if ch.state:
            mask &= (base["state"] == ch.state).to_numpy()
        if ch.start is not None:
            mask &= (base["date"] >= pd.Timestamp(ch.start)).to_numpy()
        if ch.end is not None:
            mask &= (base["date"] <= pd.Timestamp(ch.end)).to_numpy()
        if ch.pct <= -1:
            raise PricingError(f"A price change of {ch.pct:+.0%} would make the price zero or negative.")
        pct[mask] = ch.pct
        covered |= mask
    return pct, covered


def _totals(f, sigma, price, cost, pct, m, m_lo, m_hi, sku_ids) -> dict:
    """Units, revenue and margin against the baseline with 95% bands, over the given rows."""
    new_price = price * (1.0 + pct)
    unit_margin = new_price - cost
    units = f * m
    units_sd = np.sqrt(np.sum((sigma * m) ** 2))

    def band(weights: np.ndarray) -> tuple[float, float]:
        pos = weights >= 0
        lo_sys = np.sum(np.where(pos, f * m_lo, f * m_hi) * weights)
        hi_sys = np.sum(np.where(pos, f * m_hi, f * m_lo) * weights)
        sd = np.sqrt(np.sum((sigma * m * weights) ** 2))
        return float(lo_sys - Z95 * sd), float(hi_sys + Z95 * sd)

    totals = {
        "baseline_units": float(f.sum()), "units": float(units.sum()),
        "baseline_revenue": float(np.sum(f * price)), "revenue": float(np.sum(units * new_price)),
        "baseline_margin": float(np.sum(f * (price - cost))), "margin": float(np.sum(units * unit_margin)),
        "rows_changed": int(np.count_nonzero(pct)),
        "skus_changed": int(len(np.unique(sku_ids[pct != 0]))),
    }
    u_lo = float(np.sum(f * m_lo) - Z95 * units_sd)
    totals["units_lo"], totals["units_hi"] = max(u_lo, 0.0), float(np.sum(f * m_hi) + Z95 * units_sd)
    totals["revenue_lo"], totals["revenue_hi"] = band(new_price)
    totals["margin_lo"], totals["margin_hi"] = band(unit_margin)
    totals["revenue_lo"] = max(totals["revenue_lo"], 0.0)
    for k in ("units", "revenue", "margin"):
        b = totals[f"baseline_{k}"]
        totals[f"{k}_change_pct"] = (totals[k] - b) / abs(b) if b else 0.0
    return totals


def scope_label(changes: tuple[PriceChange, ...]) -> str:
    """What the rules cover, in words: 'Snacks in Maharashtra, 05-Nov-2026 to 02-Dec-2026'."""
    if not changes:
        return "nothing"
    parts = []
    for ch in changes:
        what = (f"{len(ch.sku_ids)} SKU(s)" if ch.sku_ids else "") + \
            (f"{' in ' if ch.sku_ids else ''}{ch.category}" if ch.category else "")
        what = what or "all SKUs"
        if ch.state:
            what += f" in {ch.state}"
        if ch.start or ch.end:
            fmt = (lambda d: pd.Timestamp(d).strftime("%d-%b-%Y"))  # noqa: E731
            what += (f", {fmt(ch.start) if ch.start else 'the start'} to "
                     f"{fmt(ch.end) if ch.end else 'the end'}")
        parts.append(what)
    return "; ".join(parts)


@traced("pricing.simulate", lambda a: {"changes": len(a["changes"]), "rows": len(a["base"])},
        lambda r: {"skus_changed": len(r.by_sku)})
def simulate(base: pd.DataFrame, changes: list[PriceChange] | tuple[PriceChange, ...]
             ) -> SimulationResult:
    """Units, revenue and margin vs baseline over the horizon, with 95% bands: `totals` over
    the whole baseline (every SKU and store), `scope_totals` over the rows the changes cover
    (their SKUs / category, state and dates), which is what the user changed."""
    changes = tuple(changes)
    pct, covered = _row_pct(base, changes)
    f = base["forecast"].to_numpy(float)
    sigma = base["sigma"].to_numpy(float)
    price = base["price"].to_numpy(float)
    cost = base["unit_cost"].to_numpy(float)
    log_r = np.log(1.0 + pct)
    m = np.exp(base["elasticity"].to_numpy(float) * log_r)
    m_a = np.exp(base["e_lo"].to_numpy(float) * log_r)
    m_b = np.exp(base["e_hi"].to_numpy(float) * log_r)
    m_lo, m_hi = np.minimum(m_a, m_b), np.maximum(m_a, m_b)
    sku_ids = base["sku_id"].to_numpy()
    totals = _totals(f, sigma, price, cost, pct, m, m_lo, m_hi, sku_ids)
    c = covered
    scope = _totals(f[c], sigma[c], price[c], cost[c], pct[c], m[c], m_lo[c], m_hi[c],
                    sku_ids[c])
    scope["rows"] = int(np.count_nonzero(c))
    scope["skus"] = int(len(np.unique(sku_ids[c])))
    scope["whole_store"] = bool(c.all())
    units = f * m
    new_price = price * (1.0 + pct)
    unit_margin = new_price - cost
    changed = pct != 0
    by = pd.DataFrame({"sku_id": sku_ids[changed],
                       "category": base["category"].to_numpy()[changed],
                       "baseline_units": f[changed], "units": units[changed],
                       "baseline_revenue": (f * price)[changed],
                       "revenue": (units * new_price)[changed],
                       "baseline_margin": (f * (price - cost))[changed],
                       "margin": (units * unit_margin)[changed]})
    by_sku = by.groupby(["sku_id", "category"], as_index=False).sum() if len(by) else by
    if "elasticity_label" in base.columns:
        totals["regional_rows"] = int(np.count_nonzero(
            changed & (base["elasticity_source"] == "region").to_numpy()))
        if len(by):
            used = pd.DataFrame({"sku_id": sku_ids[changed],
                                 "label": base["elasticity_label"].to_numpy()[changed]})
            used = used.drop_duplicates().sort_values(["sku_id", "label"])
            by_sku = by_sku.merge(used.groupby("sku_id")["label"].agg("; ".join)
                                  .rename("elasticity_used"), on="sku_id", how="left")
    return SimulationResult(totals, by_sku, base.attrs.get("baseline_label", ""), changes,
                            scope, scope_label(changes))
