"""Seasonal decomposition (statsmodels STL / MSTL) of one demand series or an aggregate,
with Hyndman's strength scores: strength = max(0, 1 - var(remainder) / var(component +
remainder)), 0 = no such pattern, 1 = the pattern explains everything."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Decomposition:
    frame: pd.DataFrame            # date, observed, trend, seasonal_<period>..., remainder
    periods: tuple[int, ...]
    strength: dict                 # {"trend": s, "seasonal_7": s, "seasonal_365": s}


def _strength(component: np.ndarray, remainder: np.ndarray) -> float:
    denom = np.var(component + remainder)
    return float(max(0.0, 1 - np.var(remainder) / denom)) if denom > 0 else 0.0


def decompose(series: pd.DataFrame, grain: str = "D") -> Decomposition:
    """Decompose `series` (columns date, quantity; missing periods are zero demand).
    Daily: weekly (7) and, with two full years, yearly (365) seasonality via MSTL; weekly
    grain: yearly (52) via STL when two years are present. Too-short series get only a
    rolling-mean trend."""
    from statsmodels.tsa.seasonal import MSTL, STL

    freq = "W" if grain == "W" else "D"
    s = series.assign(date=pd.to_datetime(series["date"])).groupby("date")["quantity"].sum()
    if freq == "W":
        idx = pd.date_range(s.index.min(), s.index.max(), freq=pd.Timedelta(days=7))
    else:
        idx = pd.date_range(s.index.min(), s.index.max(), freq="D")
    y = s.reindex(idx, fill_value=0.0).astype(float)
    candidates = (52,) if freq == "W" else (7, 365)
    periods = tuple(p for p in candidates if len(y) >= 2 * p + 1)
    out = pd.DataFrame({"date": idx, "observed": y.to_numpy()})
    if not periods:
        trend = y.rolling(7 if freq == "D" else 4, min_periods=1, center=True).mean()
        out["trend"] = trend.to_numpy()
        out["remainder"] = out["observed"] - out["trend"]
        return Decomposition(out, (), {"trend": _strength(out["trend"].to_numpy(),
                                                          out["remainder"].to_numpy())})
    if len(periods) == 1:
        res = STL(y.to_numpy(), period=periods[0], robust=True).fit()
        seasonal = {f"seasonal_{periods[0]}": res.seasonal}
    else:
        res = MSTL(y.to_numpy(), periods=periods).fit()
        seas = np.asarray(res.seasonal).reshape(len(y), -1)
        seasonal = {f"seasonal_{p}": seas[:, i] for i, p in enumerate(periods)}
    out["trend"] = np.asarray(res.trend)
    for name, values in seasonal.items():
        out[name] = np.asarray(values)
    out["remainder"] = np.asarray(res.resid)
    rem = out["remainder"].to_numpy()
    strength = {"trend": _strength(out["trend"].to_numpy(), rem)}
    for name in seasonal:
        strength[name] = _strength(out[name].to_numpy(), rem)
    return Decomposition(out, periods, strength)
