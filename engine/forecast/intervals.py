"""Conformal prediction intervals from backtest residuals.

Method (split conformal with per-series scaling, pooled by segment):
1. For each series, scale s = its mean absolute backtest error (with a floor of 0.5 unit
   and, for series without residuals, the segment's median error-to-forecast ratio times
   the forecast level).
2. Normalised residuals r = (actual - forecast) / s are pooled by segment (category) and
   horizon bucket (thirds of the horizon); segments with fewer than MIN_POOL points use
   the pool of all series.
3. The interval at level L is [f + q_(1-L)/2 * s, f + q_(1+L)/2 * s] with the empirical
   quantiles q of r (finite-sample corrected), clipped at 0 and never excluding the
   forecast itself.
`cross_conformal` measures honest coverage: each backtest fold gets intervals calibrated
on the other folds only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["sku_id", "pin_code"]
LEVELS = {"80": 0.80, "95": 0.95}
MIN_POOL = 200
SCALE_FLOOR = 0.5


@dataclass(frozen=True)
class Calibration:
    scales: pd.DataFrame       # sku_id, pin_code, scale
    ratio: pd.DataFrame        # segment, ratio (median MAE / mean forecast) for new series
    quantiles: pd.DataFrame    # segment, bucket, q_lo80, q_hi80, q_lo95, q_hi95
    pooled: pd.DataFrame       # bucket -> same quantile columns, all series pooled
    horizon: int
    n_points: int


def _bucket(step, horizon: int) -> np.ndarray:
    step = np.asarray(step, dtype=float)
    return np.clip(((step - 1) * 3 // max(horizon, 1)), 0, 2).astype(int)


def _quantiles(r: np.ndarray) -> dict:
    n = len(r)
    out = {}
    for name, level in LEVELS.items():
        a = (1 - level) / 2
        lo = max(0.0, np.floor(a * (n + 1)) / n) if n else 0
        hi = min(1.0, np.ceil((1 - a) * (n + 1)) / n) if n else 1
        out[f"q_lo{name}"] = float(np.quantile(r, lo)) if n else np.nan
        out[f"q_hi{name}"] = float(np.quantile(r, hi)) if n else np.nan
    return out


def calibrate(residuals: pd.DataFrame, horizon: int) -> Calibration:
    """residuals: sku_id, pin_code, step, actual, forecast, optional segment."""
    r = residuals.drop(columns=[c for c in ("scale",) if c in residuals]).copy()
    if "segment" not in r:
        r["segment"] = "all"
    r["segment"] = r["segment"].fillna("unknown").astype(str)
    r["err"] = r["actual"] - r["forecast"]
    per = r.groupby(KEYS).agg(mae=("err", lambda e: float(np.mean(np.abs(e)))),
                              level=("forecast", "mean"), segment=("segment", "first"))
    per["scale"] = per["mae"].clip(lower=SCALE_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        per["ratio"] = per["mae"] / per["level"].where(per["level"] > 0)
    ratio = per.groupby("segment")["ratio"].median().rename("ratio").reset_index()
    r = r.merge(per["scale"].reset_index(), on=KEYS)
    r["r"] = r["err"] / r["scale"]
    r["bucket"] = _bucket(r["step"], horizon)
    rows, pooled = [], []
    for (seg, b), part in r.groupby(["segment", "bucket"]):
        if len(part) >= MIN_POOL:
            rows.append({"segment": seg, "bucket": b, **_quantiles(part["r"].to_numpy())})
    for b, part in r.groupby("bucket"):
        pooled.append({"bucket": b, **_quantiles(part["r"].to_numpy())})
    qcols = ["q_lo80", "q_hi80", "q_lo95", "q_hi95"]
    quant = pd.DataFrame(rows, columns=["segment", "bucket", *qcols])
    pool = pd.DataFrame(pooled, columns=["bucket", *qcols])
    quant[qcols] = quant[qcols].astype(float)
    pool[qcols] = pool[qcols].astype(float)
    quant["bucket"] = quant["bucket"].astype(int)
    pool["bucket"] = pool["bucket"].astype(int)
    return Calibration(scales=per["scale"].reset_index(), ratio=ratio,
                       quantiles=quant, pooled=pool,
                       horizon=horizon, n_points=len(r))


def apply(forecast: pd.DataFrame, cal: Calibration) -> pd.DataFrame:
    """Add lo, hi (95%) and lo80, hi80 to a frame with sku_id, pin_code, step, forecast
    (and optional segment). Returns a new frame."""
    f = forecast.copy()
    seg = f["segment"].fillna("unknown").astype(str) if "segment" in f else \
        pd.Series("all", index=f.index)
    f["_segment"] = seg.to_numpy()
    f["_bucket"] = _bucket(f["step"], cal.horizon)
    m = f[KEYS].merge(cal.scales, on=KEYS, how="left")
    scale = m["scale"].to_numpy(dtype=float)   # conformal scale (not the MASE column)
    ratio = f[["_segment"]].merge(cal.ratio.rename(columns={"segment": "_segment"}),
                                  on="_segment", how="left")["ratio"].to_numpy(dtype=float)
    global_ratio = np.nanmedian(cal.ratio["ratio"]) if len(cal.ratio) else 1.0
    ratio = np.where(np.isnan(ratio), global_ratio if np.isfinite(global_ratio) else 1.0, ratio)
    level = f.groupby(KEYS)["forecast"].transform("mean").to_numpy(dtype=float)
    scale = np.where(np.isnan(scale), np.maximum(ratio * level, SCALE_FLOOR), scale)
    q = f[["_segment", "_bucket"]].merge(
        cal.quantiles.rename(columns={"segment": "_segment", "bucket": "_bucket"}),
        on=["_segment", "_bucket"], how="left")
    qp = f[["_bucket"]].merge(cal.pooled.rename(columns={"bucket": "_bucket"}),
                              on="_bucket", how="left")
    fc = f["forecast"].to_numpy(dtype=float)
    for name, (lo_col, hi_col) in {"80": ("lo80", "hi80"), "95": ("lo", "hi")}.items():
        qlo = q[f"q_lo{name}"].fillna(qp[f"q_lo{name}"]).to_numpy(dtype=float)
        qhi = q[f"q_hi{name}"].fillna(qp[f"q_hi{name}"]).to_numpy(dtype=float)
        f[lo_col] = np.clip(np.minimum(fc + qlo * scale, fc), 0, None)
        f[hi_col] = np.maximum(fc + qhi * scale, fc)
    return f.drop(columns=["_segment", "_bucket"])


def poisson_intervals(forecast: pd.DataFrame, dispersion: float = 2.0) -> pd.DataFrame:
    """Fallback when no backtest was possible (too little history): quantiles of a
    negative binomial with mean = forecast and variance = dispersion x mean."""
    f = forecast.copy()
    mu = np.clip(f["forecast"].to_numpy(dtype=float), 1e-6, None)
    p = 1.0 / dispersion
    n = mu * p / (1 - p)
    for name, (lo_col, hi_col) in {"80": ("lo80", "hi80"), "95": ("lo", "hi")}.items():
        a = (1 - LEVELS[name]) / 2
        f[lo_col] = np.minimum(stats.nbinom.ppf(a, n, p), f["forecast"])
        f[hi_col] = np.maximum(stats.nbinom.ppf(1 - a, n, p), f["forecast"])
    return f


def cross_conformal(bt: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Intervals for every backtest row, each fold calibrated on the other folds (a
    single fold is calibrated on itself). Groups by `model` when present."""
    parts = []
    groups = bt.groupby("model") if "model" in bt else [(None, bt)]
    for _, frame in groups:
        folds = sorted(frame["fold"].unique())
        for k in folds:
            test = frame[frame["fold"] == k]
            train = frame[frame["fold"] != k] if len(folds) > 1 else test
            cal = calibrate(train, horizon)
            parts.append(apply(test.drop(columns=[c for c in ("lo", "hi", "lo80", "hi80")
                                                  if c in test]), cal))
    return pd.concat(parts).loc[bt.index] if parts else bt
