"""Rolling-origin backtest as a plain function (like Prophet's `cross_validation`):
`backtest(history, signals, cfg) -> DataFrame` with one row per model x fold x series x
period: model, fold, cutoff, sku_id, pin_code, date, step, actual, forecast, lo, hi, lo80,
hi80, scale (MASE denominator), segment/category, city, state. Intervals are cross-conformal
(each fold calibrated on the others), so their coverage is an honest estimate."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.forecast.config import ForecastConfig, ForecastError
from engine.forecast.features import Signals, detect_grain, normalize_history
from engine.forecast.intervals import cross_conformal
from engine.forecast.metrics import seasonal_scale
from engine.forecast.runner import Progress, fit_predict

KEYS = ["sku_id", "pin_code"]


def fold_cutoffs(last_date, cfg: ForecastConfig, grain: str) -> list[pd.Timestamp]:
    """Origins from oldest to newest; the newest leaves exactly `horizon` periods after."""
    days = 7 if grain == "W" else 1
    last = pd.Timestamp(last_date)
    return [last - pd.Timedelta(days=days * (cfg.horizon + cfg.fold_step * k))
            for k in range(cfg.folds - 1, -1, -1)]


def backtest(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
             progress: Progress | None = None) -> pd.DataFrame:
    """Point-level rolling-origin backtest of every model in `cfg.models` (history cut at
    cfg.cutoff when set). Raises ForecastError when the history is too short for even
    one fold."""
    say = progress or (lambda msg: None)
    h = normalize_history(history)
    if cfg.cutoff is not None:
        h = h[h["date"] <= pd.Timestamp(cfg.cutoff)]
    grain = cfg.grain or detect_grain(h)
    cfg = cfg.with_(grain=grain)
    cutoffs = fold_cutoffs(h["date"].max(), cfg, grain)
    first = h["date"].min()
    cutoffs = [c for c in cutoffs if c > first]
    if not cutoffs:
        raise ForecastError(
            f"The history ({first:%d-%b-%Y} to {h['date'].max():%d-%b-%Y}) is too short for a "
            f"{cfg.horizon}-period backtest; add more history or shorten the horizon.",
            evidence={"first": first, "last": h["date"].max()}, code="history_too_short")
    parts = []
    for k, cut in enumerate(cutoffs):
        say(f"fold {k + 1}/{len(cutoffs)}: cutoff {cut:%d-%b-%Y}")
        res = fit_predict(h, signals, cfg, cutoff=cut, progress=say)
        fc = res.forecasts
        if fc.empty:
            continue
        panel_hist = res.panel.history
        actual = _actuals(h, fc, cut, grain)
        fc = fc.assign(fold=k, cutoff=cut)
        fc["actual"] = actual
        scale = panel_hist.groupby(KEYS)["quantity"].apply(
            lambda y: seasonal_scale(y.to_numpy()[-365:], cfg.season_length)).rename("scale")
        attrs = panel_hist.groupby(KEYS)[["category", "city", "state"]].first()
        fc = fc.merge(scale.reset_index(), on=KEYS, how="left").merge(
            attrs.reset_index(), on=KEYS, how="left")
        parts.append(fc)
    bt = pd.concat(parts, ignore_index=True)
    bt["segment"] = bt["category"].fillna("unknown").astype(str)
    bt = cross_conformal(bt, cfg.horizon)
    cols = ["model", "fold", "cutoff", *KEYS, "date", "step", "actual", "forecast", "lo", "hi",
            "lo80", "hi80", "scale", "segment", "category", "city", "state"]
    return bt[cols].sort_values(["model", "fold", *KEYS, "date"]).reset_index(drop=True)


def _actuals(h: pd.DataFrame, fc: pd.DataFrame, cut: pd.Timestamp, grain: str) -> np.ndarray:
    """Observed demand for each forecast row; a period without sales is zero demand."""
    if grain == "W":   # sum daily/weekly rows into the fold's week lattice
        lab = cut + pd.to_timedelta(((h["date"] - cut).dt.days - 1) // 7 * 7 + 7, unit="D")
        obs = h.assign(date=lab).groupby(KEYS + ["date"], as_index=False)["quantity"].sum()
    else:
        obs = h[KEYS + ["date", "quantity"]]
    m = fc[KEYS + ["date"]].merge(obs, on=KEYS + ["date"], how="left")
    return m["quantity"].fillna(0.0).to_numpy(dtype=float)
