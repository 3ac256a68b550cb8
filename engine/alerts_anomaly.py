"""Demand anomalies: a period's sales far from the series' usual level, in the grain of the
data (pure: frames in, candidate alerts out; see `engine.alerts_rules` for the shape).

Both grains build one panel per SKU x PIN over the periods of the data (calendar days, or
the weekly dates of a weekly upload), work out each checked period's expected sales and
the series' usual spread, and share one decision:

- robust z = (actual - expected) / spread; an alert needs |z| >= `z_threshold` and a gap
  of at least `min_units` units;
- a spike in a period the series was on promotion is explained by the promotion, not
  flagged (a drop during a promotion still is);
- a period in which the PIN reported no sales at all is missing data (the freshness rule
  reports it), not a drop; a zero spell (an item delisted or out of stock) is flagged on
  its first period only, not again on every later one while the usual level catches up;
- alerts are dated by the period's own date, so never on a day the data does not have.

*Daily* (choice and why): per series (zero-filled days, from its first sale), STL (period
7, statsmodels) is fitted on the baseline history *before* the checked days. The usual
level is the median of the deseasonalised last 28 baseline days; a checked day's expected
value is that level plus the STL seasonal value of the same weekday, and its spread is
1.4826 x MAD of the deseasonalised residuals of those 28 days, floored at the Poisson
spread sqrt(level). Fitting on the baseline keeps a spike from bending its own trend at
the series' end (STL's boundary effect); a non-robust fit costs ~2-6 ms per series. Only
series that sold at least `min_mean` units a day over the last 28 baseline days are
checked.

*Weekly*: a week in which the PIN reported but the series has no row sold zero; weeks
before its first sale and weeks the PIN did not report are missing. Promotion weeks are
not "usual". The usual level is the median of the last 13 usual weeks before the checked
weeks (at least 4 of them), the spread 1.4826 x MAD of the last 26 usual weeks, floored
at sqrt(expected). The yearly pattern (period 52) is taken from the category, not the
series: two or three years of one series give each week of the year one or two noisy
values, and STL(52) on them flagged 5-10x more weeks of the real dunnhumby panel than no
seasonal term at all. For each of the last two years, each series' usual sales in the
same week a year (52 weeks, the same weekday) earlier over its level then gives a ratio;
the category's factor is the median over its series (at least 10). The factor is used
only when both years are there and agree within 25% (their geometric mean), so a one-off
week (a data glitch, last year's promotion calendar) does not become "the time of year";
otherwise there is no seasonal term. Expected = level x factor, spread x factor. Series
selling less than 7 x `min_mean` units a week over the last 13 weeks are not checked. The
whole panel is computed with array operations, so a few thousand series take well under a
second.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.alerts_detect import series_prices
from engine.alerts_rules import (RuleConfig, RuleSkipped, candidates, details_json, num,
                                 on_period, rupees, series_entity, shown_rupees, shown_units,
                                 sku_label, stake, units)
from engine.textfmt import inr_compact
from engine.warehouse.grain import DAILY, WEEKLY, normalise_grain, periods_for

KEY = ["sku_id", "pin_code"]
DAILY_WINDOW = 28          # baseline days for the daily level and spread
LEVEL_WEEKS = 13           # usual weeks behind the weekly level
MIN_USUAL_WEEKS = 4        # fewest usual weeks a weekly level needs
SPREAD_WEEKS = 26          # weeks behind the weekly spread
SEASON_WEEKS = 52
YEARS_AGREE = 1.25         # the two years' category factors may differ by this ratio at most
MIN_POOL = 10              # fewest series behind a category's yearly factor
SEASON_NOTE = 0.05         # a yearly factor this far from 1 is worth saying in the reason


@dataclass(frozen=True)
class Panel:
    """SKU x PIN series over the periods: `qty` NaN where the series has no row,
    `promo` True where it was on promotion, `reported` True where its PIN has any row."""
    index: pd.MultiIndex
    periods: pd.DatetimeIndex
    qty: np.ndarray
    promo: np.ndarray
    reported: np.ndarray


def build_panel(sales: pd.DataFrame, periods: pd.DatetimeIndex) -> Panel:
    s = sales.assign(date=pd.to_datetime(sales["date"]).dt.normalize())
    s = s[s["date"].isin(periods)]
    promo_col = s["promo"].fillna(False).astype(bool) if "promo" in s else False
    s = s.assign(promo=promo_col)
    g = s.groupby(KEY + ["date"], sort=True).agg(quantity=("quantity", "sum"),
                                                promo=("promo", "max"))
    qty = g["quantity"].unstack("date").reindex(columns=periods)
    promo = g["promo"].astype(float).unstack("date").reindex(columns=periods)
    pins = pd.crosstab(s["pin_code"], s["date"]).reindex(columns=periods, fill_value=0) > 0
    reported = pins.reindex(qty.index.get_level_values("pin_code"), fill_value=False)
    return Panel(index=qty.index, periods=periods, qty=qty.to_numpy(float),
                 promo=promo.fillna(0.0).to_numpy() > 0, reported=reported.to_numpy(bool))


def _nanmedian(values: np.ndarray, axis: int = 1) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN rows give NaN
        return np.nanmedian(values, axis=axis)


def _nanmean(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=1)


# ---- daily ----------------------------------------------------------------------------------
def _daily_checks(panel: Panel, cfg: RuleConfig, look: int) -> pd.DataFrame:
    from statsmodels.tsa.seasonal import STL

    p = cfg.params
    values = np.nan_to_num(panel.qty, nan=0.0)
    base_end = values.shape[1] - look
    started = (np.cumsum(values, axis=1) > 0).argmax(axis=1)    # first day with a sale
    rows = []
    for i, (sku, pin) in enumerate(panel.index):
        base = values[i, started[i]:base_end]
        if len(base) < DAILY_WINDOW or base[-DAILY_WINDOW:].mean() < p["min_mean"]:
            continue
        seasonal = STL(base, period=7).fit().seasonal
        deseason = base[-DAILY_WINDOW:] - seasonal[-DAILY_WINDOW:]
        level = float(np.median(deseason))
        resid = deseason - level
        scale = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))),
                    float(np.sqrt(max(level, 1.0))))
        for k in range(look):
            weekday_pos = len(base) + k - 7 * (1 + k // 7)          # same weekday, last cycle
            t = base_end + k
            rows.append((sku, pin, panel.periods[t], values[i, t], values[i, t - 1],
                         max(level + seasonal[weekday_pos], 0.0), scale, 1.0,
                         panel.promo[i, t], panel.reported[i, t]))
    return pd.DataFrame(rows, columns=KEY + ["day", "actual", "previous", "expected", "scale",
                                             "factor", "promo", "reported"])


# ---- weekly ---------------------------------------------------------------------------------
def _level_at(usual: np.ndarray, t: int) -> np.ndarray:
    """Median of the LEVEL_WEEKS usual weeks before period t, per series."""
    return _nanmedian(usual[:, max(t - LEVEL_WEEKS, 0):t])


def yearly_factor(usual: np.ndarray, t: int, groups: np.ndarray) -> np.ndarray:
    """Per series, its group's yearly factor for period t (1.0 where there is none): see
    the module docstring."""
    factor = np.ones(usual.shape[0])
    per_year = []
    for years_back in (1, 2):
        u = t - SEASON_WEEKS * years_back
        if u - LEVEL_WEEKS < 0:
            return factor
        with np.errstate(divide="ignore", invalid="ignore"):
            per_year.append(usual[:, u] / _level_at(usual, u))
    for group in np.unique(groups):
        mask = groups == group
        found = []
        for r in per_year:
            v = r[mask]
            v = v[np.isfinite(v)]
            if len(v) < MIN_POOL:
                break
            found.append(float(np.median(v)))
        if len(found) == 2 and min(found) > 0 and max(found) / min(found) <= YEARS_AGREE:
            factor[mask] = float(np.exp(np.mean(np.log(found))))
    return factor


def _weekly_checks(panel: Panel, cfg: RuleConfig, look: int, groups: np.ndarray
                   ) -> pd.DataFrame:
    x = panel.qty.copy()
    x[np.isnan(x) & panel.reported] = 0.0         # the PIN reported; this series sold nothing
    started = np.cumsum(np.nan_to_num(x, nan=0.0) > 0, axis=1) > 0
    x[~started] = np.nan
    usual = np.where(panel.promo, np.nan, x)
    base_end = x.shape[1] - look
    recent = usual[:, max(base_end - LEVEL_WEEKS, 0):base_end]
    level = _nanmedian(recent)
    spread = usual[:, max(base_end - SPREAD_WEEKS, 0):base_end]
    mad = 1.4826 * _nanmedian(np.abs(spread - _nanmedian(spread)[:, None]))
    volume = _nanmean(x[:, max(base_end - LEVEL_WEEKS, 0):base_end])
    ok = ((np.isfinite(recent).sum(axis=1) >= MIN_USUAL_WEEKS)
          & (np.nan_to_num(volume) >= 7 * cfg.params["min_mean"]))
    parts = []
    for k in range(look):
        t = base_end + k
        factor = yearly_factor(usual, t, groups)
        expected = np.maximum(level * factor, 0.0)
        scale = np.maximum(np.nan_to_num(mad) * factor, np.sqrt(np.maximum(expected, 1.0)))
        keep = ok & np.isfinite(x[:, t])
        parts.append(pd.DataFrame({
            "sku_id": panel.index.get_level_values("sku_id")[keep],
            "pin_code": panel.index.get_level_values("pin_code")[keep],
            "day": panel.periods[t], "actual": x[keep, t], "previous": x[keep, t - 1],
            "expected": expected[keep],
            "scale": scale[keep], "factor": factor[keep], "promo": panel.promo[keep, t],
            "reported": panel.reported[keep, t]}))
    return pd.concat(parts, ignore_index=True)


# ---- the rule -------------------------------------------------------------------------------
def demand_anomalies(sales: pd.DataFrame, cfg: RuleConfig, as_of,
                     names: pd.DataFrame | None = None, grain: str = DAILY) -> pd.DataFrame:
    """Spikes and drops in the last `lookback_days` days (whole weeks for weekly data),
    checked against the history before them; `names` (sku_id, name[, category]) names
    the SKUs and groups weekly series for the yearly pattern."""
    if sales.empty:
        raise RuleSkipped("no sales in the checked period")
    p = cfg.params
    grain = normalise_grain(grain)
    as_of = pd.Timestamp(as_of).normalize()
    dates = pd.to_datetime(sales["date"]).dt.normalize()
    if grain == WEEKLY:
        as_of = dates[dates <= as_of].max()          # the newest week on or before as_of
        look = periods_for(p["lookback_days"], WEEKLY)
        periods = pd.date_range(end=as_of, periods=int(p["history_weeks"]), freq="7D")
    else:
        look = int(p["lookback_days"])
        periods = pd.date_range(as_of - pd.Timedelta(days=int(p["history_days"]) - 1), as_of)
    panel = build_panel(sales, periods)
    info = (names if names is not None else pd.DataFrame(columns=["sku_id", "name"]))
    info = info.drop_duplicates("sku_id").set_index("sku_id")
    if grain == WEEKLY:
        category = info["category"] if "category" in info else pd.Series(dtype=object)
        groups = (panel.index.get_level_values("sku_id").map(category).fillna("")
                  .astype(str).to_numpy())
        checks = _weekly_checks(panel, cfg, look, groups)
    else:
        checks = _daily_checks(panel, cfg, look)
    prices = series_prices(sales, info.reset_index() if len(info) else None)
    return _alerts(checks, cfg, grain, info["name"] if "name" in info else pd.Series(), prices)


def _gap_stake(gap: float, kind: str, price, source) -> dict:
    """Revenue gap of an anomaly: |actual - expected| units x the series' price."""
    what = "Revenue above the usual level" if kind == "spike" else "Revenue lost against the " \
        "usual level"
    if price is None or not np.isfinite(price):
        return stake(None, f"{what}: {units(gap)}; no price to value them at.")
    value = shown_units(gap) * shown_rupees(price)
    return stake(value, f"{what}: {units(gap)} x {rupees(price)} ({source}) = "
                        f"{inr_compact(value)}.")


def _alerts(checks: pd.DataFrame, cfg: RuleConfig, grain: str, names: pd.Series,
            prices: pd.DataFrame | None = None) -> pd.DataFrame:
    p = cfg.params
    if checks.empty:
        return candidates([])
    if prices is not None and len(prices):
        checks = checks.merge(prices, on=KEY, how="left")
    else:
        checks = checks.assign(unit_price=np.nan, price_source=None)
    z = (checks["actual"] - checks["expected"]) / checks["scale"]
    gap = (checks["actual"] - checks["expected"]).abs()
    zero_spell = (checks["actual"] == 0) & (checks["previous"] == 0)
    hit = (checks["reported"] & ~(checks["promo"] & (z > 0)) & ~zero_spell
           & (z.abs() >= p["z_threshold"]) & (gap >= p["min_units"]))
    rows = []
    for r, zr in zip(checks[hit].itertuples(index=False), z[hit]):
        kind = "spike" if zr > 0 else "drop"
        ratio = r.actual / r.expected if r.expected > 0 else np.inf
        level_txt = (f"{ratio:.1f}x the usual level" if kind == "spike" and np.isfinite(ratio)
                     else f"{1 - ratio:.0%} below the usual level" if kind == "drop"
                     else "far above the usual level")
        season = " for the time of year" if abs(r.factor - 1.0) >= SEASON_NOTE else ""
        rows.append(dict(
            rule=cfg.rule, severity=cfg.severity, entity=series_entity(r.sku_id, r.pin_code),
            day=r.day,
            reason=(f"Sales of {sku_label(names.get(r.sku_id), r.sku_id)} at {r.pin_code} "
                    f"were {level_txt} {on_period(r.day, grain)}: {num(r.actual)} units vs "
                    f"about {num(r.expected)} expected{season} (robust z {zr:+.1f})."),
            details=details_json("Forecast", {"sku_id": r.sku_id, "pin_code": r.pin_code},
                                 r.pin_code, r.sku_id, kind=kind, actual=float(r.actual),
                                 expected=float(r.expected), z=float(zr),
                                 yearly_factor=float(r.factor), grain=grain,
                                 **_gap_stake(abs(r.actual - r.expected), kind, r.unit_price,
                                              r.price_source))))
    return candidates(rows)
