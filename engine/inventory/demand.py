"""Demand models for reorder planning: expected daily demand per line plus its error.

Two builders, one shape (`DemandModel`):

* `demand_from_forecast` uses a forecast run; the daily error sigma comes from the
  backtest residuals of that series (RMSE of actual - forecast, so bias counts as error),
  else from the width of the forecast's prediction interval.
* `demand_from_sales` is the fallback when no forecast run exists: the mean of daily
  demand over the last 8 weeks by day of week, with the spread around those day-of-week
  means as sigma, and upcoming festival uplift applied. It is labelled as such.

Weekly data (`grain` 'W', `engine.warehouse.grain`): a weekly forecast row dated d is the
demand of the 7 days ending d, so each day gets a seventh of it; the no-forecast fallback
takes the weekly average of the last 8 weeks / 7 per day (a day-of-week average means
nothing when every row falls on one weekday). Weekly errors become daily ones by / sqrt(7),
so that the lead-time spread sigma_daily x sqrt(7) over a week is the weekly error again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from engine.errors import MicroPulseError
from engine.textfmt import indian_grouping
from engine.warehouse.grain import WEEKLY, grain_of_dates, normalise_grain

KEY = ["sku_id", "pin_code"]
Z95, Z80 = 1.959964, 1.281552
MIN_RESIDUALS = 14          # fewer backtest points than this: use the interval instead


class InventoryInputError(MicroPulseError, ValueError):
    """Planning input a user can fix (bad service level, missing columns, ...)."""

    code = "inventory_input"
    http_status = 409


@dataclass(frozen=True)
class DemandModel:
    path: pd.DataFrame      # sku_id, pin_code, date, forecast (expected units per day)
    sigma: pd.DataFrame     # sku_id, pin_code, sigma_daily, error_source
    source: str             # 'forecast' | 'empirical'
    label: str              # sentence shown with the plan
    as_of: date             # last day of known demand; the path starts the day after


def _require(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InventoryInputError(f"The {what} is missing columns {missing}.")


def keys_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with sku_id and pin_code as strings, so frames read from
    different sources join on the same key types."""
    out = frame.copy()
    out["sku_id"] = out["sku_id"].astype(str)
    out["pin_code"] = out["pin_code"].astype(str)
    return out


def _spread_weeks(fc: pd.DataFrame) -> pd.DataFrame:
    """Weekly forecast rows become 7 daily rows each (the 7 days ending the row's date)
    with a seventh of the value."""
    rows = []
    for k in range(7):
        part = fc.copy()
        part["date"] = pd.to_datetime(part["date"]) - pd.Timedelta(days=6 - k)
        part["forecast"] = part["forecast"] / 7.0
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def demand_from_forecast(forecasts: pd.DataFrame, residuals: pd.DataFrame | None = None,
                         run_label: str = "", grain: str | None = None) -> DemandModel:
    """Demand model from a forecast frame (sku_id, pin_code, date, forecast, lo, hi,
    lo80, hi80) and optional backtest residual rows (sku_id, pin_code, actual, forecast).
    `grain` is the run's ('D' or 'W'; detected from the forecast dates when None)."""
    _require(forecasts, KEY + ["date", "forecast"], "forecast table")
    if forecasts.empty:
        raise InventoryInputError("The forecast run has no rows to plan from.")
    fc = keys_as_text(forecasts)
    fc["date"] = pd.to_datetime(fc["date"])
    weekly = normalise_grain(grain or grain_of_dates(fc["date"])) == WEEKLY
    per_day = 1.0 / np.sqrt(7.0) if weekly else 1.0     # a period's error as a day's error
    fc["forecast"] = fc["forecast"].astype(float).clip(lower=0.0)

    # Interval-implied sigma of one period (95% first, then 80%), per series.
    width = pd.Series(np.nan, index=fc.index)
    if {"lo", "hi"} <= set(fc.columns):
        width = (fc["hi"] - fc["lo"]) / (2 * Z95)
    if {"lo80", "hi80"} <= set(fc.columns):
        width = width.fillna((fc["hi80"] - fc["lo80"]) / (2 * Z80))
    fc["_sig_int"] = width.clip(lower=0.0)
    daily = _spread_weeks(fc) if weekly else fc
    path = daily[KEY + ["date", "forecast"]].sort_values(KEY + ["date"]).reset_index(drop=True)
    sig = fc.groupby(KEY, as_index=False).agg(sig_int=("_sig_int", "mean"))
    sig = sig.merge(path.groupby(KEY, as_index=False).agg(level=("forecast", "mean")), on=KEY)
    sig["sig_res"], sig["n_res"] = np.nan, 0
    if residuals is not None and len(residuals):
        _require(residuals, KEY + ["actual", "forecast"], "backtest table")
        res = keys_as_text(residuals)
        res = res.assign(err2=(res["actual"].astype(float) - res["forecast"].astype(float)) ** 2)
        agg = res.groupby(KEY, as_index=False).agg(mse=("err2", "mean"), n=("err2", "size"))
        sig = sig.drop(columns=["sig_res", "n_res"]).merge(agg, on=KEY, how="left")
        sig["sig_res"] = np.sqrt(sig["mse"])
        sig["n_res"] = sig["n"].fillna(0).astype(int)
    use_res = (sig["n_res"] >= MIN_RESIDUALS) & sig["sig_res"].notna()
    use_int = ~use_res & sig["sig_int"].notna() & (sig["sig_int"] > 0)
    sig["sigma_daily"] = np.where(use_res, sig["sig_res"] * per_day,
                                  np.where(use_int, sig["sig_int"] * per_day,
                                           np.sqrt(sig["level"])))
    sig["error_source"] = np.where(use_res, "backtest residuals",
                                   np.where(use_int, "forecast interval", "Poisson (no error data)"))
    as_of = (path["date"].min() - pd.Timedelta(days=1)).date()
    spread = " (weekly forecast, a seventh of each week a day)" if weekly else ""
    sources = [(int(use_res.sum()), "backtest residuals"), (int(use_int.sum()),
               "forecast intervals"), (int((~use_res & ~use_int).sum()), "a Poisson spread")]
    said = [f"{what} for {indian_grouping(n)} line{'' if n == 1 else 's'}" for n, what in sources if n]
    label = (f"Forecast run {run_label}".strip() + f"{spread}; safety stock from "
             + (", ".join(said) or "no lines") + ".")
    return DemandModel(path=path, sigma=sig[KEY + ["sigma_daily", "error_source"]],
                       source="forecast", label=label, as_of=as_of)


def demand_from_sales(sales: pd.DataFrame, lines: pd.DataFrame, as_of=None,
                      horizon: int = 28, weeks: int = 8,
                      festivals: tuple[pd.DataFrame, pd.DataFrame] | None = None,
                      grain: str | None = None) -> DemandModel:
    """Empirical fallback over the `weeks` weeks ending `as_of` (default: last sales date)
    for every line in `lines` (sku_id, pin_code, and category/state if festival uplift
    should apply): daily data gives the day-of-week mean and spread of daily demand; weekly
    data (`grain` 'W', detected from the sales dates when None) the mean of the weekly rows
    / 7 for every day, and their spread / sqrt(7). Days (weeks) without a sales row count
    as zero demand."""
    _require(sales, KEY + ["date", "quantity"], "sales table")
    _require(lines, KEY, "inventory table")
    lines = keys_as_text(lines).drop_duplicates(KEY).reset_index(drop=True)
    sales = keys_as_text(sales)
    sales["date"] = pd.to_datetime(sales["date"])
    if as_of is None:
        if sales.empty:
            raise InventoryInputError("There are no sales to estimate demand from; load "
                                      "sales or run a forecast first.")
        as_of = sales["date"].max()
    as_of = pd.Timestamp(as_of).normalize()
    weekly = normalise_grain(grain or grain_of_dates(sales["date"])) == WEEKLY
    days = 7 * weeks
    start = as_of - pd.Timedelta(days=days - 1)
    win = sales[(sales["date"] >= start) & (sales["date"] <= as_of)]
    n = len(lines)
    idx = pd.MultiIndex.from_frame(lines[KEY])
    mat = np.zeros((n, days))
    if len(win):
        pos = idx.get_indexer(pd.MultiIndex.from_frame(win[KEY]))
        ok = pos >= 0
        col = (win["date"] - start).dt.days.to_numpy()
        np.add.at(mat, (pos[ok], col[ok]), win["quantity"].to_numpy(float)[ok])
    future = as_of + pd.to_timedelta(np.arange(1, horizon + 1), unit="D")
    if weekly:
        # each 7-day block of the window holds exactly one weekly row
        totals = mat.reshape(n, weeks, 7).sum(axis=2)
        fut = np.repeat(totals.mean(axis=1, keepdims=True) / 7.0, horizon, axis=1)
        sigma = totals.std(axis=1, ddof=1) / np.sqrt(7.0) if weeks > 1 else np.zeros(n)
    else:
        dow_hist = (start + pd.to_timedelta(np.arange(days), unit="D")).dayofweek.to_numpy()
        means = np.zeros((n, 7))
        var = np.zeros(n)
        for d in range(7):
            block = mat[:, dow_hist == d]
            means[:, d] = block.mean(axis=1)
            var += ((block - means[:, [d]]) ** 2).sum(axis=1)
        sigma = np.sqrt(var / max(days - 7, 1))
        fut = means[:, future.dayofweek.to_numpy()]
    path = pd.DataFrame({
        "sku_id": np.repeat(lines["sku_id"].to_numpy(), horizon),
        "pin_code": np.repeat(lines["pin_code"].to_numpy(), horizon),
        "date": np.tile(future.to_numpy(), n),
        "forecast": fut.ravel(),
    })
    note = ""
    if festivals is not None and {"category", "state"} <= set(lines.columns):
        factor = festival_factor(path, lines, festivals)
        if factor is not None:
            path["forecast"] *= factor
            note = " Upcoming festival uplift applied."
    spread = "8-week weekly spread" if weekly else "8-week sales spread"
    sig = lines[KEY].assign(sigma_daily=sigma, error_source=spread)
    if weekly:
        how = (f"the weekly average of the last {weeks} weeks of sales to {as_of:%d-%b-%Y}, "
               "a seventh of it each day (empirical model), safety stock from the "
               "week-to-week spread around it")
    else:
        how = (f"the day-of-week average of the last {weeks} weeks of sales to "
               f"{as_of:%d-%b-%Y} (empirical model), safety stock from the day-to-day spread "
               "around it")
    label = f"No forecast run in the warehouse: demand is {how}.{note}"
    return DemandModel(path=path, sigma=sig, source="empirical", label=label,
                       as_of=as_of.date())


def festival_factor(path: pd.DataFrame, lines: pd.DataFrame,
                    festivals: tuple[pd.DataFrame, pd.DataFrame]) -> np.ndarray | None:
    """Per-row festival multiplier for a demand path, or None if the festival module or
    tables are unavailable."""
    calendar, effects = festivals
    if calendar is None or effects is None or calendar.empty or effects.empty:
        return None
    try:
        from engine.signals.festivals import festival_uplift
    except ImportError:
        return None
    frame = path[KEY + ["date"]].merge(lines[KEY + ["category", "state"]], on=KEY, how="left")
    return np.asarray(festival_uplift(frame, calendar, effects), dtype=float)


def upcoming_festival(lines: pd.DataFrame, festivals: tuple[pd.DataFrame, pd.DataFrame] | None,
                      as_of, lookahead: int = 30, min_multiplier: float = 1.1
                      ) -> pd.DataFrame:
    """The nearest festival in the next `lookahead` days that lifts each line's category in
    its state by at least `min_multiplier`: columns festival, festival_days, festival_mult."""
    out = lines[KEY].copy()
    out["festival"], out["festival_days"], out["festival_mult"] = None, np.nan, np.nan
    if festivals is None or "category" not in lines or "state" not in lines:
        return out
    calendar, effects = festivals
    if calendar is None or effects is None or calendar.empty or effects.empty:
        return out
    from engine.signals.festivals import applies_to

    as_of = pd.Timestamp(as_of)
    cal = calendar.assign(date=pd.to_datetime(calendar["date"]))
    cal = cal[(cal["date"] > as_of) & (cal["date"] <= as_of + pd.Timedelta(days=lookahead))]
    cal = cal.merge(effects, on="name")
    cal = cal[cal["multiplier"] >= min_multiplier].sort_values(["date", "multiplier"],
                                                               ascending=[True, False])
    if cal.empty:
        return out
    pairs = lines[["category", "state"]].drop_duplicates()
    found = {}
    for cat, state in pairs.itertuples(index=False):
        hit = cal[(cal["category"] == cat)
                  & cal["states"].map(lambda s: applies_to(str(s), state))]
        if len(hit):
            row = hit.iloc[0]
            found[(cat, state)] = (row["name"], (row["date"] - as_of).days,
                                   float(row["multiplier"]))
    keys = list(zip(lines["category"], lines["state"]))
    got = [found.get(k) for k in keys]
    out["festival"] = [g[0] if g else None for g in got]
    out["festival_days"] = [g[1] if g else np.nan for g in got]
    out["festival_mult"] = [g[2] if g else np.nan for g in got]
    return out


def sales_trend(sales: pd.DataFrame, as_of, days: int = 28) -> pd.DataFrame:
    """Ratio of units in the last `days` to the `days` before (sku_id, pin_code, trend);
    NaN when the earlier window sold nothing."""
    s = keys_as_text(sales)
    s["date"] = pd.to_datetime(s["date"])
    as_of = pd.Timestamp(as_of)
    recent = s["date"] > as_of - pd.Timedelta(days=days)
    prior = (~recent) & (s["date"] > as_of - pd.Timedelta(days=2 * days))
    s = s.assign(recent=np.where(recent, s["quantity"], 0.0),
                 prior=np.where(prior, s["quantity"], 0.0))
    agg = s.groupby(KEY, as_index=False)[["recent", "prior"]].sum()
    agg["trend"] = np.where(agg["prior"] > 0, agg["recent"] / agg["prior"].where(
        agg["prior"] > 0, 1.0), np.nan)
    return agg[KEY + ["trend"]]

