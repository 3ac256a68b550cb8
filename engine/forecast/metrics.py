"""Forecast accuracy metrics over point-level backtest frames (plain functions, no state).

Conventions (stated once, used everywhere):
- WAPE = sum|actual - forecast| / sum|actual| (%); undefined (NaN) when all actuals are 0.
- MAPE = mean(|actual - forecast| / |actual|) over rows with NON-ZERO actuals only (%);
  rows with a zero actual are left out (they would divide by zero); NaN if none remain.
- sMAPE = mean(2|a - f| / (|a| + |f|)) (%), a row with a = f = 0 counts as 0 error.
- bias % = (sum f - sum a) / sum a (%): positive = over-forecast.
- MASE = mean(|a - f| / scale), scale = the series' in-sample mean absolute seasonal
  difference before the fold's cutoff (column `scale`, written by the backtest).
- RMSSE (as in the M5 competition) = per series sqrt(mean((a - f)^2) / scale2), scale2 =
  the series' in-sample mean squared one-step change (column `scale2`), then the mean over
  the series of the group; NaN without it.
- coverage80 / coverage95: share of actuals inside [lo80, hi80] / [lo, hi] (%).
- FVA (forecast value added) vs seasonal naive = 1 - sum|e_model| / sum|e_naive| on the
  same rows (%): positive = the model beats the baseline.
- directional accuracy: share of rows (step >= 2) where the forecast moves in the same
  direction as the actual from the previous period's actual (no change counts as a
  direction) (%).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

BASELINE = "seasonal_naive"
METRICS = ["wape", "mape", "smape", "mae", "rmse", "bias_pct", "mase", "rmsse",
           "coverage80", "coverage95", "fva_pct", "directional_accuracy"]
POINT_KEYS = ["fold", "sku_id", "pin_code", "date"]


def _row_terms(bt: pd.DataFrame, baseline: str) -> pd.DataFrame:
    a = bt["actual"].to_numpy(dtype=float)
    f = bt["forecast"].to_numpy(dtype=float)
    e = a - f
    t = pd.DataFrame(index=bt.index)
    t["n"] = 1.0
    t["abs_a"] = np.abs(a)
    t["a"] = a
    t["f"] = f
    t["abs_e"] = np.abs(e)
    t["sq_e"] = e ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t["ape"] = np.where(a != 0, np.abs(e) / np.abs(a), np.nan)
        denom = np.abs(a) + np.abs(f)
        t["sape"] = np.where(denom > 0, 2 * np.abs(e) / denom, 0.0)
        if "scale" in bt:
            s = bt["scale"].to_numpy(dtype=float)
            ok = s > 0
            t["sabs"] = np.where(ok, np.abs(e) / np.where(ok, s, 1), np.nan)
        else:
            t["sabs"] = np.nan
        if "scale2" in bt:
            s2 = bt["scale2"].to_numpy(dtype=float)
            ok = s2 > 0
            t["ssq"] = np.where(ok, e ** 2 / np.where(ok, s2, 1), np.nan)
        else:
            t["ssq"] = np.nan
    for lvl, (lo, hi) in {"80": ("lo80", "hi80"), "95": ("lo", "hi")}.items():
        if lo in bt and hi in bt and bt[lo].notna().any():
            t[f"in{lvl}"] = ((a >= bt[lo].to_numpy(float)) & (a <= bt[hi].to_numpy(float))
                             ).astype(float)
            t.loc[bt[lo].isna().to_numpy(), f"in{lvl}"] = np.nan
        else:
            t[f"in{lvl}"] = np.nan
    t["naive_abs_e"] = _baseline_errors(bt, baseline)
    t["dir_ok"] = _direction(bt)
    return t


def _baseline_errors(bt: pd.DataFrame, baseline: str) -> np.ndarray:
    if "model" not in bt or not (bt["model"] == baseline).any():
        return np.full(len(bt), np.nan)
    keys = [k for k in POINT_KEYS if k in bt]
    base = bt.loc[bt["model"] == baseline, keys + ["actual", "forecast"]]
    base = base.assign(naive_abs_e=(base["actual"] - base["forecast"]).abs())[
        keys + ["naive_abs_e"]]
    return bt[keys].merge(base, on=keys, how="left")["naive_abs_e"].to_numpy(dtype=float)


def _direction(bt: pd.DataFrame) -> np.ndarray:
    if "step" not in bt:
        return np.full(len(bt), np.nan)
    keys = [k for k in ("model", "fold", "sku_id", "pin_code") if k in bt]
    order = bt.sort_values(keys + ["date"])
    prev = order.groupby(keys, sort=False)["actual"].shift(1)
    ok = np.sign(order["forecast"] - prev) == np.sign(order["actual"] - prev)
    out = pd.Series(np.where(prev.isna(), np.nan, ok.astype(float)), index=order.index)
    return out.reindex(bt.index).to_numpy()


def score(backtest: pd.DataFrame, by: list[str] | tuple[str, ...] = ("model",),
          baseline: str = BASELINE) -> pd.DataFrame:
    """Metrics per group of a point-level backtest frame (columns actual, forecast and
    optionally lo, hi, lo80, hi80, step, scale, model, fold, sku_id, pin_code, date).
    `by` may name any columns of the frame (model, category, city, state, step...);
    an empty `by` gives one overall row. Never mutates the input."""
    return score_many(backtest, [tuple(by)], baseline)[tuple(by)]


def score_many(backtest: pd.DataFrame, groupings, baseline: str = BASELINE
               ) -> dict[tuple[str, ...], pd.DataFrame]:
    """`score` for several groupings of one frame, {grouping: metrics}: the per-row terms
    (baseline errors, directions...) are computed once and only the grouping repeats."""
    groupings = [tuple(by) for by in groupings]
    backtest = backtest.reset_index(drop=True)
    if backtest.empty:
        return {by: pd.DataFrame(columns=list(by) + ["n"] + METRICS) for by in groupings}
    t = _row_terms(backtest, baseline)
    has_naive = t["naive_abs_e"].notna()
    t["abs_e_matched"] = np.where(has_naive, t["abs_e"], np.nan)
    for col in {c for by in groupings for c in by}:
        t[col] = backtest[col].to_numpy()
    return {by: _grouped(t, backtest, list(by)) for by in groupings}


def _grouped(t: pd.DataFrame, backtest: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    rmsse = _rmsse(t, backtest, by)
    agg = {"n": "sum", "abs_a": "sum", "a": "sum", "f": "sum", "abs_e": ["sum", "mean"],
           "sq_e": "mean", "ape": "mean", "sape": "mean", "sabs": "mean",
           "in80": "mean", "in95": "mean", "naive_abs_e": "sum", "abs_e_matched": "sum",
           "dir_ok": "mean"}
    g = t.groupby(by, dropna=False, sort=True).agg(agg) if by else _overall(t, agg)
    g.columns = ["_".join(c) if isinstance(c, tuple) else c for c in g.columns]
    out = pd.DataFrame(index=g.index)
    out["n"] = g["n_sum"].astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["wape"] = np.where(g["abs_a_sum"] > 0, 100 * g["abs_e_sum"] / g["abs_a_sum"],
                               np.nan)
        out["mape"] = 100 * g["ape_mean"]
        out["smape"] = 100 * g["sape_mean"]
        out["mae"] = g["abs_e_mean"]
        out["rmse"] = np.sqrt(g["sq_e_mean"])
        out["bias_pct"] = np.where(g["a_sum"] != 0, 100 * (g["f_sum"] - g["a_sum"]) /
                                   g["a_sum"], np.nan)
        out["mase"] = g["sabs_mean"]
        out["rmsse"] = (np.nan if rmsse is None else
                        rmsse.reindex(out.index).to_numpy() if by else rmsse)
        out["coverage80"] = 100 * g["in80_mean"]
        out["coverage95"] = 100 * g["in95_mean"]
        out["fva_pct"] = np.where(g["naive_abs_e_sum"] > 0,
                                  100 * (1 - g["abs_e_matched_sum"] / g["naive_abs_e_sum"]),
                                  np.nan)
        out["directional_accuracy"] = 100 * g["dir_ok_mean"]
    return out.reset_index() if by else out.reset_index(drop=True)


def _rmsse(t: pd.DataFrame, bt: pd.DataFrame, by: list[str]):
    """Mean over series of each series' RMSSE, per group of `by` (a Series indexed like
    the grouped metrics; a float when `by` is empty; None without series or scale2)."""
    keys = [k for k in ("sku_id", "pin_code") if k in bt]
    if not keys or t["ssq"].isna().all():
        return None
    frame = t[by + ["ssq"]].assign(**{f"_{k}": bt[k].to_numpy() for k in keys})
    per = frame.groupby(by + [f"_{k}" for k in keys], dropna=False, sort=False)["ssq"].mean()
    per = np.sqrt(per)
    if not by:
        return float(per.mean())
    return per.groupby(level=list(range(len(by))), dropna=False).mean()


def _overall(t: pd.DataFrame, agg: dict) -> pd.DataFrame:
    return t.assign(_all=0).groupby("_all").agg(agg)


def seasonal_scale(y: np.ndarray, m: int) -> float:
    """In-sample mean absolute seasonal difference (MASE denominator); falls back to lag 1
    when the series is shorter than two seasons, NaN when it is shorter than 2."""
    y = np.asarray(y, dtype=float)
    lag = m if len(y) > m else 1
    if len(y) <= lag:
        return float("nan")
    return float(np.mean(np.abs(y[lag:] - y[:-lag])))


def common_points(backtest: pd.DataFrame, models: list[str] | tuple[str, ...] | None = None
                  ) -> pd.DataFrame:
    """The rows of `models` (default: every model in the frame) at the points (fold,
    sku_id, pin_code, date) that every one of them forecast: a like-with-like frame, in
    which each model is scored on the identical set of series and periods. A model that only
    ran on the top-volume series (ETS, Theta, ARIMA, Prophet) limits the set to those."""
    backtest = backtest.reset_index(drop=True)
    names = list(dict.fromkeys(models if models is not None
                               else backtest["model"].dropna().unique().tolist()))
    mine = backtest[backtest["model"].isin(names)]
    if mine.empty or not names:
        return mine.iloc[0:0]
    keys = [k for k in POINT_KEYS if k in mine]
    seen = mine.drop_duplicates(keys + ["model"]).groupby(keys, sort=False)["model"].nunique()
    full = seen[seen == len(names)].index
    at = pd.MultiIndex.from_frame(mine[keys]) if len(keys) > 1 else pd.Index(mine[keys[0]])
    return mine[at.isin(full)].reset_index(drop=True)


def _n_series(frame: pd.DataFrame) -> int:
    keys = [k for k in ("sku_id", "pin_code") if k in frame]
    return int(len(frame[keys].drop_duplicates())) if keys else 0


def score_like_for_like(backtest: pd.DataFrame, models: list[str] | tuple[str, ...] | None = None,
                        by: list[str] | tuple[str, ...] = ("model",),
                        baseline: str = BASELINE) -> pd.DataFrame:
    """`score` of `models` on the points every one of them forecast (common_points); attrs
    `n_series` and `n_points` say how many series and points per model that is."""
    common = common_points(backtest, models)
    out = score(common, by=by, baseline=baseline)
    n_models = max(common["model"].nunique(), 1) if len(common) else 1
    out.attrs.update(n_series=_n_series(common), n_points=int(len(common) // n_models))
    return out


def series_coverage(backtest: pd.DataFrame) -> pd.DataFrame:
    """Per model: the series (sku_id x pin_code) and points it was scored on, and whether
    that is every series of the backtest (`all_series`); attrs `total_series` and
    `common_series` (the series every model forecast at least one common point of)."""
    keys = [k for k in ("sku_id", "pin_code") if k in backtest]
    if backtest.empty or not keys:
        return pd.DataFrame(columns=["model", "series", "points", "all_series"])
    total = _n_series(backtest)
    per = backtest.drop_duplicates(["model", *keys]).groupby("model", sort=True).size()
    out = pd.DataFrame({"model": per.index.to_numpy(), "series": per.to_numpy(),
                        "points": backtest.groupby("model", sort=True).size()
                        .reindex(per.index).to_numpy()})
    out["all_series"] = out["series"] == total
    out.attrs["total_series"] = total
    out.attrs["common_series"] = _n_series(common_points(backtest))
    return out
