"""Conformal prediction intervals from backtest residuals.

Method (split conformal with per-series scaling, pooled by segment and horizon step):
1. For each series, scale s = its mean absolute backtest error (with a floor of 0.5 unit
   and, for series without residuals, the segment's median error-to-forecast ratio times
   the forecast level).
2. Normalised residuals r = (actual - forecast) / s, each divided by its series' scale
   from the other backtest folds (out of fold, as a new forecast meets it), are pooled by
   segment (category) and
   horizon step: the quantiles for step k come from the residuals of steps k-1..k+1, so
   the band widens exactly as fast as the errors do and coverage holds at every step,
   not only on average over the horizon. A segment x step pool with fewer than MIN_POOL
   residuals uses the segment's third of the horizon, then all series at that step, then
   all series in that third.
3. Promoted steps (a run with a price / promotion plan: a step planned as a promotion; in
   the backtest folds, a step that was one) err more, and more to one side, than ordinary
   steps: pooled together, the band covers 95% of all steps but fewer of the promoted ones.
   When the residuals carry a `promoted` flag and both kinds have at least MIN_POOL
   residuals, they are calibrated apart (Mondrian conformal): promoted steps get their own
   step quantiles (windows k-1..k+1, then the horizon third, then all promoted residuals;
   pooled over segments, as promotions are a small share of each), ordinary steps the
   segment x step quantiles of the ordinary residuals alone. With fewer, every step is
   calibrated on the pooled residuals as before. The per-series scale s is the same.
4. The interval at level L is [f + q_(1-L)/2 * s, f + q_(1+L)/2 * s] with the empirical
   quantiles q of r (finite-sample corrected), clipped at 0 and never excluding the
   forecast itself.
`cross_conformal` measures honest coverage: each backtest fold gets intervals calibrated
on the other folds only. On weekly data the backtest spans a year (config `folds`), so
the residuals that calibrate a December week include last December's.
Series and segments are matched on integer codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from engine.forecast.features import segment_text
from engine.forecast.router import series_codes

KEYS = ["sku_id", "pin_code"]
LEVELS = {"80": 0.80, "95": 0.95}
MIN_POOL = 200
SCALE_FLOOR = 0.5


@dataclass(frozen=True)
class Calibration:
    scales: pd.DataFrame       # sku_id, pin_code, scale (or sid, scale: integer series ids)
    ratio: pd.DataFrame        # segment, ratio (median MAE / mean forecast) for new series
    quantiles: pd.DataFrame    # segment, step, q_lo80, q_hi80, q_lo95, q_hi95 (1..horizon)
    pooled: pd.DataFrame       # step -> same quantile columns, all series pooled
    horizon: int
    n_points: int
    promoted: pd.DataFrame | None = None   # step -> quantile columns of promoted steps
    n_promoted: int = 0                    # promoted residuals (0: pooled calibration)


QCOLS = ["q_lo80", "q_hi80", "q_lo95", "q_hi95"]


def _bucket(step, horizon: int) -> np.ndarray:
    step = np.asarray(step, dtype=float)
    return np.clip(((step - 1) * 3 // max(horizon, 1)), 0, 2).astype(int)


def _quantiles(r: np.ndarray) -> dict:
    """Finite-sample corrected lower and upper quantiles of r for every level (one pass)."""
    n = len(r)
    if not n:
        return {f"q_{side}{name}": np.nan for name in LEVELS for side in ("lo", "hi")}
    probs, names = [], []
    for name, level in LEVELS.items():
        a = (1 - level) / 2
        probs += [max(0.0, np.floor(a * (n + 1)) / n), min(1.0, np.ceil((1 - a) * (n + 1)) / n)]
        names += [f"q_lo{name}", f"q_hi{name}"]
    return dict(zip(names, np.quantile(r, probs).tolist()))


def _step_table(r: np.ndarray, step: np.ndarray, horizon: int) -> pd.DataFrame:
    """Quantiles per step 1..horizon from the residuals of steps k-1..k+1 (the horizon
    third when that window holds fewer than MIN_POOL); NaN where even the third is thin."""
    rows = []
    third = _bucket(step, horizon)
    order = np.argsort(step, kind="stable")
    s_sorted = step[order]
    for k in range(1, horizon + 1):
        a, b = np.searchsorted(s_sorted, [k - 1, k + 2])
        window = r[order[a:b]]
        if len(window) < MIN_POOL:
            window = r[third == _bucket([k], horizon)[0]]
        q = _quantiles(window) if len(window) >= MIN_POOL else dict.fromkeys(QCOLS, np.nan)
        rows.append({"step": k, **q})
    return pd.DataFrame(rows, columns=["step", *QCOLS])


def _out_of_fold_scale(residuals: pd.DataFrame, err: np.ndarray, sid: np.ndarray,
                       scale: np.ndarray) -> np.ndarray:
    """Each residual's scale as a new forecast will meet it: the series' mean absolute
    error on its OTHER backtest folds (floor SCALE_FLOOR), not on a set that includes the
    residual itself. A scale fitted on the residual's own points shrinks the extreme
    normalised residuals, and bands calibrated on them under-cover (92% instead of 95%
    with a dozen points a series). Series seen in one fold only keep their own scale."""
    if "fold" not in residuals:
        return scale[sid]
    fold, _ = pd.factorize(residuals["fold"].to_numpy())
    n_f = int(fold.max()) + 1 if len(fold) else 0
    if n_f < 2:
        return scale[sid]
    cell = sid.astype(np.int64) * n_f + fold
    size = (int(sid.max()) + 1) * n_f
    abs_sum = np.bincount(cell, weights=np.abs(err), minlength=size).reshape(-1, n_f)
    count = np.bincount(cell, minlength=size).reshape(-1, n_f)
    other_sum = abs_sum.sum(axis=1)[sid] - abs_sum[sid, fold]
    other_n = count.sum(axis=1)[sid] - count[sid, fold]
    with np.errstate(divide="ignore", invalid="ignore"):
        oof = np.maximum(other_sum / other_n, SCALE_FLOOR)
    return np.where(other_n > 0, oof, scale[sid])


def _segments(frame: pd.DataFrame) -> np.ndarray:
    """The frame's segment per row: names as text ("unknown" when missing, "all" without
    a segment column), or integer segment codes as they are (cross_conformal's)."""
    if "segment" not in frame:
        return np.full(len(frame), "all", dtype=object)
    col = frame["segment"]
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy()
    return segment_text(col)


def _promoted(frame: pd.DataFrame) -> np.ndarray:
    """The frame's `promoted` flag per row (False without the column)."""
    if "promoted" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["promoted"].fillna(False).to_numpy(dtype=bool)


def _filled_step_table(r: np.ndarray, step: np.ndarray, horizon: int) -> pd.DataFrame:
    """_step_table with the steps whose windows are too thin set from all of `r`."""
    table = _step_table(r, step, horizon)
    if table[QCOLS].isna().any().any():
        table[QCOLS] = table[QCOLS].fillna(pd.Series(_quantiles(r)))
    return table


def calibrate(residuals: pd.DataFrame, horizon: int) -> Calibration:
    """residuals: sku_id, pin_code (or integer series ids `sid`, then `apply` needs the
    same ids), step, actual, forecast, optional segment, fold and promoted (a step that
    was a promotion: calibrated apart when there are MIN_POOL of each kind)."""
    seg = _segments(residuals)
    fc = residuals["forecast"].to_numpy(dtype=float)
    err = residuals["actual"].to_numpy(dtype=float) - fc
    if "sid" in residuals:         # integer series ids shared with the frames to apply to
        sid = residuals["sid"].to_numpy(dtype=np.int64)
        series = pd.DataFrame({"sid": np.arange(int(sid.max()) + 1 if len(sid) else 0)})
    else:
        (sid,), series = series_codes(residuals)
    n = len(series)
    cnt = np.bincount(sid, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mae = np.bincount(sid, weights=np.abs(err), minlength=n) / cnt
    level = pd.Series(fc).groupby(sid).mean().reindex(range(n)).to_numpy()
    first = np.full(n, -1, dtype=np.int64)
    rev = np.arange(len(sid))[::-1]
    first[sid[rev]] = rev
    per = pd.DataFrame({"mae": mae, "level": level, "segment": seg[first]})
    per["scale"] = per["mae"].clip(lower=SCALE_FLOOR)
    with np.errstate(divide="ignore", invalid="ignore"):
        per["ratio"] = per["mae"] / per["level"].where(per["level"] > 0)
    ratio = per.groupby("segment")["ratio"].median().rename("ratio").reset_index()
    scale = per["scale"].to_numpy()
    r_all = err / _out_of_fold_scale(residuals, err, sid, scale)
    step = np.clip(residuals["step"].to_numpy(dtype=np.int64), 1, horizon)
    promo = _promoted(residuals)
    n_promo = int(promo.sum())
    split = n_promo >= MIN_POOL and len(promo) - n_promo >= MIN_POOL
    promoted = _filled_step_table(r_all[promo], step[promo], horizon) if split else None
    ordinary = ~promo if split else np.ones(len(promo), dtype=bool)
    parts = []
    s_code, s_uni = pd.factorize(seg, sort=True)
    for c, name in enumerate(s_uni):
        mine = (s_code == c) & ordinary
        if mine.sum() >= MIN_POOL:
            parts.append(_step_table(r_all[mine], step[mine], horizon).assign(segment=name))
    quant = (pd.concat(parts, ignore_index=True) if parts else
             pd.DataFrame(columns=["step", *QCOLS, "segment"]))
    quant = quant.dropna(subset=QCOLS)[["segment", "step", *QCOLS]]
    pool = _filled_step_table(r_all[ordinary], step[ordinary], horizon)
    quant[QCOLS] = quant[QCOLS].astype(float)
    quant["step"] = quant["step"].astype(int)
    scales = series.assign(scale=scale)
    return Calibration(scales=scales, ratio=ratio, quantiles=quant.reset_index(drop=True),
                       pooled=pool, horizon=horizon, n_points=len(residuals),
                       promoted=promoted, n_promoted=n_promo if split else 0)


def apply(forecast: pd.DataFrame, cal: Calibration) -> pd.DataFrame:
    """Add lo, hi (95%) and lo80, hi80 to a frame with sku_id, pin_code, step, forecast
    (and optional segment and promoted: a step planned as a promotion takes the promoted
    steps' quantiles when `cal` has them). Returns a new frame."""
    f = forecast.copy()
    seg = _segments(f)
    H = cal.horizon
    step = np.clip(f["step"].to_numpy(dtype=np.int64), 1, H)
    if "sid" in f and "sid" in cal.scales:     # both sides carry the same integer ids
        f_sid = f["sid"].to_numpy(dtype=np.int64)
        c_sid = cal.scales["sid"].to_numpy(dtype=np.int64)
        size = max(int(f_sid.max()) + 1 if len(f_sid) else 0, len(c_sid))
    else:
        (f_sid, c_sid), series = series_codes(f, cal.scales)
        size = len(series)
    by_series = np.full(size, np.nan)
    by_series[c_sid] = cal.scales["scale"].to_numpy(dtype=float)
    scale = by_series[f_sid]                   # conformal scale (not the MASE column)
    ratio = pd.Series(seg).map(dict(zip(cal.ratio["segment"], cal.ratio["ratio"]))
                               ).to_numpy(dtype=float)
    global_ratio = np.nanmedian(cal.ratio["ratio"]) if len(cal.ratio) else 1.0
    ratio = np.where(np.isnan(ratio), global_ratio if np.isfinite(global_ratio) else 1.0, ratio)
    fc = f["forecast"].to_numpy(dtype=float)
    level = pd.Series(fc).groupby(f_sid).transform("mean").to_numpy(dtype=float)
    scale = np.where(np.isnan(scale), np.maximum(ratio * level, SCALE_FLOOR), scale)
    # segment x step lookup table (row len(quantiles) = none), pooled by step otherwise
    seg_code = pd.Index(_segments(cal.quantiles)).unique()
    q_at = np.full((len(seg_code) + 1) * H, len(cal.quantiles), dtype=np.int64)
    if len(cal.quantiles):
        q_at[seg_code.get_indexer(_segments(cal.quantiles)) * H
             + cal.quantiles["step"].to_numpy() - 1] = np.arange(len(cal.quantiles))
    sc = seg_code.get_indexer(seg)
    q_row = q_at[np.where(sc >= 0, sc, len(seg_code)) * H + step - 1]
    p_at = np.full(H, len(cal.pooled), dtype=np.int64)
    p_at[cal.pooled["step"].to_numpy() - 1] = np.arange(len(cal.pooled))
    p_row = p_at[step - 1]
    promo = _promoted(f) if cal.promoted is not None else np.zeros(len(f), dtype=bool)
    if promo.any():
        m_at = np.full(H, len(cal.promoted), dtype=np.int64)
        m_at[cal.promoted["step"].to_numpy() - 1] = np.arange(len(cal.promoted))
        m_row = m_at[step - 1]
    for name, (lo_col, hi_col) in {"80": ("lo80", "hi80"), "95": ("lo", "hi")}.items():
        qs = {}
        for side in ("lo", "hi"):
            col = f"q_{side}{name}"
            qv = np.r_[cal.quantiles[col].to_numpy(dtype=float), np.nan][q_row]
            pv = np.r_[cal.pooled[col].to_numpy(dtype=float), np.nan][p_row]
            qs[side] = np.where(np.isnan(qv), pv, qv)
            if promo.any():
                mv = np.r_[cal.promoted[col].to_numpy(dtype=float), np.nan][m_row]
                qs[side] = np.where(promo & ~np.isnan(mv), mv, qs[side])
        f[lo_col] = np.clip(np.minimum(fc + qs["lo"] * scale, fc), 0, None)
        f[hi_col] = np.maximum(fc + qs["hi"] * scale, fc)
    return f


def aggregate_bands(forecast: pd.DataFrame, backtest: pd.DataFrame) -> pd.DataFrame:
    """Calibrated 80/95% bands for a sum of series (a category, a city, everything), by
    split conformal on the aggregate's own backtest instead of adding up the series'
    bounds (which assumes every series errs the same way on the same day, and gives bands
    several times too wide for a large aggregate).

    forecast: date, forecast (summed over the selection); backtest: fold, date, actual,
    forecast (the routed backtest summed over the same selection, one row per fold and
    date). Relative errors r = (actual - forecast) / max(forecast, 1) are pooled over the
    horizon; the band at level L is forecast x (1 + the finite-sample corrected (1 -+ L)/2
    quantiles of r), clipped at 0 and never excluding the forecast. Returns a copy with
    lo, hi, lo80, hi80 replaced; attrs: method ('aggregate_conformal', or 'sum' when there
    is no backtest: the bounds are left as given), n_points, and coverage = {level:
    % of backtest days inside the band when each fold is calibrated on the others}."""
    out = forecast.copy()
    bt = backtest.dropna(subset=["actual", "forecast"]) if len(backtest) else backtest
    if len(bt) < 2:
        out.attrs.update(method="sum", n_points=int(len(bt)), coverage={})
        return out
    fc_bt = bt["forecast"].to_numpy(dtype=float)
    r = (bt["actual"].to_numpy(dtype=float) - fc_bt) / np.maximum(fc_bt, 1.0)
    fold = bt["fold"].to_numpy()
    f = out["forecast"].to_numpy(dtype=float)
    q = _quantiles(r)
    for name, (lo_col, hi_col) in {"80": ("lo80", "hi80"), "95": ("lo", "hi")}.items():
        out[lo_col] = np.clip(np.minimum(f + q[f"q_lo{name}"] * np.maximum(f, 1.0), f), 0, None)
        out[hi_col] = np.maximum(f + q[f"q_hi{name}"] * np.maximum(f, 1.0), f)
    coverage = {}
    folds = np.unique(fold)
    if len(folds) > 1:
        hits = {name: 0 for name in LEVELS}
        for k in folds:
            test = fold == k
            qk = _quantiles(r[~test])
            for name in LEVELS:
                hits[name] += int(np.sum((r[test] >= qk[f"q_lo{name}"])
                                         & (r[test] <= qk[f"q_hi{name}"])))
        coverage = {name: round(100.0 * hits[name] / len(r), 1) for name in LEVELS}
    out.attrs.update(method="aggregate_conformal", n_points=int(len(r)), coverage=coverage)
    return out


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
    single fold is calibrated on itself). Groups by `model` when present. Returns `bt`
    with lo, hi, lo80, hi80 (re)set; calibration reads only the columns it needs, and
    the intervals are written back by row position (no copy of the wide frame)."""
    if bt.empty:
        return bt
    (sid,), _ = series_codes(bt)             # once, not in every calibrate / apply
    base = bt[[c for c in ("step", "actual", "forecast", "fold", "promoted")
               if c in bt]].assign(sid=sid)
    if "segment" in bt:                      # integer codes: no text work per calibration
        base["segment"] = pd.factorize(_segments(bt))[0]
    model = pd.factorize(bt["model"])[0] if "model" in bt else np.zeros(len(bt), np.int64)
    fold = bt["fold"].to_numpy()
    bounds = {col: np.full(len(bt), np.nan) for col in ("lo80", "hi80", "lo", "hi")}
    for m in np.unique(model):
        in_model = model == m
        folds = np.unique(fold[in_model])
        for k in folds:
            test = np.flatnonzero(in_model & (fold == k))
            train = np.flatnonzero(in_model & (fold != k)) if len(folds) > 1 else test
            res = apply(base.iloc[test], calibrate(base.iloc[train], horizon))
            for col, values in bounds.items():
                values[test] = res[col].to_numpy(dtype=float)
    present = [c for c in bounds if c in bt]
    out = bt.drop(columns=present) if present else bt.copy(deep=False)
    for col, values in bounds.items():
        out[col] = values
    return out
