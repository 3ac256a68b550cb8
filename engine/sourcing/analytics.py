"""Mandi price intelligence per market x commodity: level, change, seasonal norm,
volatility, arrivals, freshness; a 14-day price forecast with a 95% interval; the
crop-cycle (monthly) pattern.

Inputs are the cleaned daily frame from `prepare.clean_prices`. "Today" is the latest date
in the data (`as_of`), never the wall clock, so results are reproducible.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _price_on_or_before(daily: pd.DataFrame, when: pd.Series) -> np.ndarray:
    """Per mandi x commodity, the modal price on the last report on or before `when`."""
    left = when.rename("when").reset_index().sort_values("when")
    right = daily[["mandi_id", "commodity_key", "date", "modal_price"]].sort_values("date")
    merged = pd.merge_asof(left, right, left_on="when", right_on="date",
                           by=["mandi_id", "commodity_key"], direction="backward")
    return merged.set_index(["mandi_id", "commodity_key"])["modal_price"].reindex(when.index).to_numpy()


def market_metrics(clean: pd.DataFrame, as_of=None, window_days: int = 30,
                   volatility_days: int = 60) -> pd.DataFrame:
    """One row per mandi x commodity.

    Columns: mandi_id, market, state, district, commodity, commodity_key, last_date,
    freshness_days, latest_modal, latest_min, latest_max, change_7d, change_30d,
    seasonal_norm, vs_norm, norm_basis, volatility (coefficient of variation of the modal
    price over `volatility_days`), spread (median (max-min)/modal over the window),
    arrivals_tpd (mean tonnes per reporting day over the window), arrivals_trend (last 30 vs
    previous 30 days), arrivals_cv, days_reported, market_days (days on which any mandi
    reported this commodity in the window), coverage, graded_share, n_days.
    """
    if clean.empty:
        return pd.DataFrame()
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else clean["date"].max()
    df = clean[clean["date"] <= as_of]
    keys = ["mandi_id", "commodity_key"]
    g = df.groupby(keys, sort=True)
    last = g.tail(1).set_index(keys)
    out = pd.DataFrame(index=last.index)
    for col in ("market", "state", "district", "commodity"):
        out[col] = last[col]
    out["last_date"] = last["date"]
    out["freshness_days"] = (as_of - last["date"]).dt.days
    out["latest_modal"] = last["modal_price"]
    out["latest_min"] = last["min_price"]
    out["latest_max"] = last["max_price"]
    for days in (7, 30):
        prev = _price_on_or_before(df, out["last_date"] - pd.Timedelta(days=days))
        out[f"change_{days}d"] = out["latest_modal"] / prev - 1

    # Seasonal norm: the same +-15-day window one year before the latest report.
    centre = df[keys].merge(out["last_date"].reset_index(), on=keys, how="left")["last_date"]
    off = (df["date"].to_numpy() - (centre.to_numpy() - np.timedelta64(365, "D"))) \
        / np.timedelta64(1, "D")
    year_ago = df[np.abs(off) <= 15].groupby(keys)["modal_price"].mean()
    trailing = df[(centre.to_numpy() - df["date"].to_numpy()) / np.timedelta64(1, "D") <= 365] \
        .groupby(keys)["modal_price"].mean()
    out["seasonal_norm"] = year_ago.reindex(out.index)
    out["norm_basis"] = np.where(out["seasonal_norm"].notna(), "same weeks last year",
                                 "trailing-year mean")
    out["seasonal_norm"] = out["seasonal_norm"].fillna(trailing.reindex(out.index))
    out["vs_norm"] = out["latest_modal"] / out["seasonal_norm"] - 1

    recent_age = (as_of - df["date"]).dt.days
    vol = df[recent_age < volatility_days].groupby(keys)["modal_price"].agg(["std", "mean", "size"])
    out["volatility"] = (vol["std"] / vol["mean"]).where(vol["size"] >= 3).reindex(out.index)
    win = df[recent_age < window_days]
    prev_win = df[(recent_age >= window_days) & (recent_age < 2 * window_days)]
    spread = ((win["max_price"] - win["min_price"]) / win["modal_price"]).groupby(
        [win["mandi_id"], win["commodity_key"]]).median()
    out["spread"] = spread.reindex(out.index)
    wa = win.groupby(keys)["arrivals_tonnes"].agg(["mean", "std", "count"])
    out["arrivals_tpd"] = wa["mean"].reindex(out.index)
    out["arrivals_cv"] = (wa["std"] / wa["mean"]).where(wa["count"] >= 3).reindex(out.index)
    prev_mean = prev_win.groupby(keys)["arrivals_tonnes"].mean().reindex(out.index)
    out["arrivals_trend"] = out["arrivals_tpd"] / prev_mean - 1
    out["days_reported"] = win.groupby(keys)["date"].nunique().reindex(out.index).fillna(0) \
        .astype(int)
    market_days = win.groupby("commodity_key")["date"].nunique()
    out["market_days"] = out.index.get_level_values("commodity_key").map(market_days) \
        .fillna(0).astype(int).to_numpy()
    out["coverage"] = (out["days_reported"] / out["market_days"].replace(0, np.nan)).fillna(0.0)
    out["graded_share"] = win.groupby(keys)["graded_share"].mean().reindex(out.index)
    out["n_days"] = g.size()
    out["as_of"] = as_of
    return out.reset_index()


def price_history(clean: pd.DataFrame, mandi_id: str, commodity_key: str) -> pd.DataFrame:
    """Daily modal/min/max for one mandi, sorted by date."""
    sel = clean[(clean["mandi_id"] == mandi_id) & (clean["commodity_key"] == commodity_key)]
    return sel[["date", "min_price", "max_price", "modal_price", "arrivals_tonnes"]] \
        .sort_values("date").reset_index(drop=True)


@dataclass(frozen=True)
class PriceForecast:
    frame: pd.DataFrame          # date, forecast, lo, hi
    model: str                   # "ETS(A,Ad,N) on log price" or "naive"
    reason: str                  # why this model (fallbacks say why)
    level: float = 0.95


def forecast_prices(history: pd.DataFrame, horizon: int = 14, level: float = 0.95,
                    min_obs: int = 60, max_obs: int = 365) -> PriceForecast:
    """Forecast the modal price `horizon` days ahead with a `level` prediction interval.

    Fits statsmodels' ETS (additive error, damped additive trend) on the log of the daily
    modal price (gaps up to 7 days interpolated, last `max_obs` days), so intervals stay
    positive and widen multiplicatively. With fewer than `min_obs` daily values, or if ETS
    fails, falls back to a naive (random-walk) forecast whose interval grows with the
    square root of the horizon, and says why.
    """
    from scipy.stats import norm

    hist = history.dropna(subset=["modal_price"]).sort_values("date")
    if hist.empty:
        raise ValueError("No prices to forecast from.")
    s = hist.groupby("date")["modal_price"].mean()
    s = s.asfreq("D").interpolate(limit=7, limit_area="inside")
    s = s[s.index >= s.index.max() - pd.Timedelta(days=max_obs - 1)]
    # Use the most recent unbroken run (longer gaps break the daily model).
    breaks = s.isna()
    if breaks.any():
        s = s[s.index > s[breaks].index.max()]
    y = np.log(s.astype(float))
    start = s.index.max() + pd.Timedelta(days=1)
    dates = pd.date_range(start, periods=horizon, freq="D")
    z = float(norm.ppf(0.5 + level / 2))
    reason = ""
    if len(y) >= min_obs:
        try:
            from statsmodels.tsa.exponential_smoothing.ets import ETSModel

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = ETSModel(y.reset_index(drop=True), error="add", trend="add",
                               damped_trend=True).fit(disp=False, maxiter=200)
                pred = fit.get_prediction(start=len(y), end=len(y) + horizon - 1)
                sf = pred.summary_frame(alpha=1 - level)
            mean = sf["mean"].to_numpy()
            lo, hi = sf["pi_lower"].to_numpy(), sf["pi_upper"].to_numpy()
            if np.all(np.isfinite(mean)) and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
                frame = pd.DataFrame({"date": dates, "forecast": np.exp(mean),
                                      "lo": np.exp(lo), "hi": np.exp(hi)})
                return PriceForecast(frame, "ETS(A,Ad,N) on log price",
                                     f"fitted on {len(y)} daily prices", level)
            reason = "ETS produced non-finite values"
        except Exception as exc:  # statsmodels raises many types on degenerate series
            reason = f"ETS failed ({type(exc).__name__})"
    else:
        reason = f"only {len(y)} consecutive daily prices (ETS needs {min_obs})"
    steps = np.arange(1, horizon + 1)
    diffs = y.diff().dropna()
    sigma = float(diffs.std()) if len(diffs) >= 2 else 0.05
    if not np.isfinite(sigma) or sigma == 0:
        sigma = 0.02
    last = float(y.iloc[-1])
    frame = pd.DataFrame({"date": dates, "forecast": np.exp(last),
                          "lo": np.exp(last - z * sigma * np.sqrt(steps)),
                          "hi": np.exp(last + z * sigma * np.sqrt(steps))})
    return PriceForecast(frame, "naive", f"{reason}; naive random-walk forecast used", level)


def seasonal_pattern(clean: pd.DataFrame, commodity_key: str | None = None,
                     mandi_id: str | None = None) -> pd.DataFrame:
    """Crop-cycle pattern: monthly price index (100 = average month).

    Each month's mean of the daily median modal price (across the selected mandis) is
    divided by its year's mean so a rising trend does not masquerade as seasonality;
    the ratios are averaged per calendar month. Columns: month, month_name, index, n_days.
    """
    df = clean
    if commodity_key is not None:
        df = df[df["commodity_key"] == commodity_key]
    if mandi_id is not None:
        df = df[df["mandi_id"] == mandi_id]
    if df.empty:
        return pd.DataFrame(columns=["month", "month_name", "index", "n_days"])
    daily = df.groupby("date")["modal_price"].median()
    monthly = daily.groupby([daily.index.year, daily.index.month]).agg(["mean", "size"])
    monthly.index.names = ["year", "month"]
    monthly = monthly.reset_index()
    year_mean = monthly.groupby("year")["mean"].transform("mean")
    monthly["ratio"] = monthly["mean"] / year_mean
    # Years with few months distort the ratio; keep years with >= 6 months when possible.
    months_per_year = monthly.groupby("year")["month"].transform("size")
    pat_all = monthly.groupby("month").agg(ratio=("ratio", "mean"), n_days=("size", "sum"))
    if (months_per_year >= 6).any():
        monthly = monthly[months_per_year >= 6]
    pat = monthly.groupby("month").agg(ratio=("ratio", "mean"), n_days=("size", "sum"))
    pat = pat.reindex(range(1, 13)).fillna(pat_all.reindex(range(1, 13)))
    pat["index"] = 100 * pat["ratio"] / pat["ratio"].mean()
    pat["month_name"] = [MONTHS[m - 1] for m in pat.index]
    pat["n_days"] = pat["n_days"].fillna(0).astype(int)
    return pat.reset_index()[["month", "month_name", "index", "n_days"]]
