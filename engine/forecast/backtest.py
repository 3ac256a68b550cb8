"""Rolling-origin backtest as a plain function (like Prophet's `cross_validation`):
`backtest(history, signals, cfg) -> DataFrame` with one row per model x fold x series x
period: model, fold, cutoff, sku_id, pin_code, date, step, actual, forecast, lo, hi, lo80,
hi80, scale (MASE denominator), scale2 (RMSSE denominator), segment/category, city,
state. Intervals are cross-conformal
(each fold calibrated on the others), so their coverage is an honest estimate."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from engine.forecast.config import ForecastConfig, ForecastError
from engine.forecast.features import (Panel, Signals, WholeFile, cut_history, data_gaps,
                                      detect_grain, in_gaps, normalize_history, segment_text)
from engine.forecast.intervals import cross_conformal
from engine.forecast.plan import actual_plan
from engine.forecast.router import PLAN_FLAGS, series_codes
from engine.forecast.runner import Progress, fit_predict

KEYS = ["sku_id", "pin_code"]


def fold_cutoffs(last_date, cfg: ForecastConfig, grain: str) -> list[pd.Timestamp]:
    """Origins from oldest to newest; the newest leaves exactly `horizon` periods after."""
    days = 7 if grain == "W" else 1
    last = pd.Timestamp(last_date)
    return [last - pd.Timedelta(days=days * (cfg.horizon + cfg.fold_step * k))
            for k in range(cfg.folds - 1, -1, -1)]


def backtest_cutoffs(first_date, last_date, cfg: ForecastConfig, grain: str
                     ) -> list[pd.Timestamp]:
    """The fold origins for a history spanning first_date..last_date (fold_cutoffs after
    the first date). Raises ForecastError when the history is too short for one fold."""
    first, last = pd.Timestamp(first_date), pd.Timestamp(last_date)
    cutoffs = [c for c in fold_cutoffs(last, cfg, grain) if c > first]
    if not cutoffs:
        raise ForecastError(
            f"The history ({first:%d-%b-%Y} to {last:%d-%b-%Y}) is too short for a "
            f"{cfg.horizon}-period backtest; add more history or shorten the horizon.",
            evidence={"first": first, "last": last}, code="history_too_short")
    return cutoffs


def backtest(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
             progress: Progress | None = None, normalized: bool = False,
             with_plan: bool = False, whole: WholeFile | None = None) -> pd.DataFrame:
    """Point-level rolling-origin backtest of every model in `cfg.models` (history cut at
    cfg.cutoff when set). Raises ForecastError when the history is too short for even
    one fold. `normalized=True` says `history` already went through normalize_history.
    `with_plan=True` judges a run that uses a price / promotion plan: each fold's plan is
    what was actually charged in its horizon (plan.actual_plan), and the rows carry
    `forecast_no_plan` (the same models without it), `planned` and `promoted` (the step
    was a promotion: calibrated apart, engine.forecast.intervals). `whole`: the file's
    sums the data-gap and chain-wide promotion rules read (None: those of `history`)."""
    h = history if normalized else normalize_history(history)
    if cfg.cutoff is not None:
        h = cut_history(h, cfg.cutoff)
    cfg = cfg.for_grain(cfg.grain or detect_grain(h))
    first, last = h["date"].min(), h["date"].max()
    whole = whole if whole is not None else WholeFile.of(h)
    cutoffs, gaps = fold_origins(first, last, cfg, whole)
    points = backtest_points(h, signals, cfg, cutoffs, progress=progress, with_plan=with_plan,
                             gaps=(gaps, last) if len(gaps) else None, whole=whole)
    return finish_backtest(points, cfg, with_plan)


def fold_origins(first, last, cfg: ForecastConfig, whole: WholeFile
                 ) -> tuple[list[pd.Timestamp], pd.DataFrame]:
    """The backtest's fold origins for a history spanning first..last (grain set in
    `cfg`) and the periods that are missing data at `last` (data_gaps over the whole
    file's sums): a fold is not scored on those, and a fold's origin that falls inside a
    file-wide gap moves back to the gap's last period with rows."""
    cutoffs = backtest_cutoffs(first, last, cfg, cfg.grain)
    gaps = data_gaps(None, last, cfg.grain, whole)
    if len(gaps):
        dates = whole.pins["date"].to_numpy()
        cutoffs = [c for c in sorted({_before_gap(dates, c, gaps, cfg.period_days)
                                      for c in cutoffs}) if c > first] or cutoffs
    return cutoffs, gaps


def backtest_points(h: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
                    cutoffs: list[pd.Timestamp], progress: Progress | None = None,
                    with_plan: bool = False, prefit: dict | None = None,
                    top: dict | None = None, gaps: tuple | None = None,
                    whole: WholeFile | None = None,
                    panels: Callable[[int], Panel | None] | None = None) -> pd.DataFrame:
    """The map step of the backtest: every model's forecasts at each fold origin with
    their actuals and series attributes, for the series of `h` (a normalised history
    with the grain set in `cfg`: all series, or one partition of them). `prefit`: fold
    index -> {model name: fitted model} for global models fitted on pooled rows; `top`:
    fold index -> {top_n setting: keys of the top series chosen across partitions}.
    Intervals and order come in `finish_backtest`, which pools every partition. `gaps`:
    (data_gaps frame, its last date): fold rows in those periods are not scored;
    `whole`: the whole file's sums (WholeFile; None: those of each fold's history);
    `panels`: fold index -> that fold's panel built already from these inputs, or None
    (built here), called once per fold so that one fold's panel is held at a time."""
    say = progress or (lambda msg: None)
    grain = cfg.grain
    parts = []
    for k, cut in enumerate(cutoffs):
        if h["date"].min() > cut:    # a partition whose series all begin after this origin
            continue
        say(f"fold {k + 1}/{len(cutoffs)}: cutoff {cut:%d-%b-%Y}")
        plan = actual_plan(h, cut, cfg.horizon, grain, whole) if with_plan else None
        res = fit_predict(h, signals, cfg, cutoff=cut, progress=say, normalized=True,
                          keep_sid=True, future_prices=plan,
                          prefit=(prefit or {}).get(k), top=(top or {}).get(k), whole=whole,
                          panel=panels(k) if panels is not None else None)
        fc = res.forecasts
        if fc.empty:
            continue
        fc = fc.assign(fold=k, cutoff=cut)
        fc["actual"] = _actuals(h, fc, cut, grain)
        if gaps is not None:
            gap_frame, gap_last = gaps
            fc = fc[~in_gaps(fc["pin_code"].to_numpy(), np.arange(len(fc)),
                             fc["date"].to_numpy(), gap_frame, gap_last, cfg.period_days)]
        fc = _attach_series(fc, res.panel.frame, cfg.season_length).drop(columns="sid")
        del res                      # the fold's panel is large: free it before the next
        parts.append(fc)
    return pd.concat(parts, ignore_index=True)


def finish_backtest(bt: pd.DataFrame, cfg: ForecastConfig, with_plan: bool = False
                    ) -> pd.DataFrame:
    """The reduce step of the backtest over the pooled points of every series:
    cross-conformal intervals (they pool errors across series) and the stored order."""
    if with_plan:                    # folds the plan did not touch: as without it
        if "forecast_no_plan" not in bt:
            bt["forecast_no_plan"] = bt["forecast"]
        bt["forecast_no_plan"] = bt["forecast_no_plan"].fillna(bt["forecast"])
        for flag in PLAN_FLAGS:
            bt[flag] = bt[flag].eq(True) if flag in bt else False
    bt["segment"] = segment_text(bt["category"])
    bt = cross_conformal(bt, cfg.horizon)
    cols = ["model", "fold", "cutoff", *KEYS, "date", "step", "actual", "forecast", "lo", "hi",
            "lo80", "hi80", "scale", "scale2", "segment", "category", "city", "state",
            *(["forecast_no_plan", *PLAN_FLAGS] if with_plan else [])]
    (sid,), _ = series_codes(bt)
    order = np.lexsort([pd.factorize(bt["date"].to_numpy(), sort=True)[0], sid,
                        pd.factorize(bt["fold"].to_numpy(), sort=True)[0],
                        pd.factorize(bt["model"].to_numpy(), sort=True)[0]])
    # by model, fold, sku, pin, date; one take of the rows and columns (no interim copy)
    return bt.iloc[order, bt.columns.get_indexer(cols)].reset_index(drop=True)


def _before_gap(dates: np.ndarray, cut: pd.Timestamp, gaps: pd.DataFrame, days: int
                ) -> pd.Timestamp:
    """A fold origin, moved back to the last period with rows when the whole file has no
    rows in the origin's period and that period is a data gap; else unchanged. `dates`:
    the file's dates with rows."""
    if gaps.empty or not (gaps["date"] == cut).any():
        return cut
    at_or_before = dates[dates <= np.datetime64(cut)]
    if not len(at_or_before) or at_or_before.max() > np.datetime64(cut - pd.Timedelta(days=days)):
        return cut                    # rows in the origin's period: a PIN-level gap only
    back = (cut - pd.Timestamp(at_or_before.max())).days // days * days
    return cut - pd.Timedelta(days=back)


def _attach_series(fc: pd.DataFrame, frame: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Add each forecast row's MASE scale (seasonal_scale of the series' last 365 history
    periods), RMSSE scale (mean squared one-step change over the same periods) and its
    category, city and state, computed on the panel frame's integer
    series ids (rows sorted by sid then pos, one row per period; history rows are the
    non-future ones), without copying the frame."""
    hist_rows = np.flatnonzero(~frame["future"].to_numpy())
    sid = frame["sid"].to_numpy()[hist_rows]
    q = frame["quantity"].to_numpy(dtype=float)[hist_rows]
    n_rows = len(sid)
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if n_rows else np.array([], int)
    ends = np.r_[starts[1:], n_rows].astype(np.int64)
    w0 = np.maximum(starts, ends - 365)
    length = ends - w0
    scale = np.full(len(starts), np.nan)
    # RMSSE's denominator: the mean squared one-step change over the same window
    d1 = np.zeros(n_rows + 1)
    if n_rows > 1:
        d1[2:] = (q[1:] - q[:-1]) ** 2
    c1 = np.cumsum(d1)
    ok1 = length > 1
    scale2 = np.full(len(starts), np.nan)
    scale2[ok1] = (c1[ends[ok1]] - c1[w0[ok1] + 1]) / (length[ok1] - 1)
    for lag in sorted({season_length, 1}):
        use = np.where(length > season_length, season_length, 1) == lag
        use &= length > lag
        d = np.zeros(n_rows + 1)
        if n_rows > lag:
            d[lag + 1:] = np.abs(q[lag:] - q[:-lag])
        csum = np.cumsum(d)
        tot = csum[ends[use]] - csum[w0[use] + lag]
        scale[use] = tot / (length[use] - lag)
    first_rows = hist_rows[starts]
    # forecast rows carry the panel's sid (fit_predict(keep_sid=True)): positional lookups
    f_sid = fc["sid"].to_numpy(dtype=np.int64)
    at = np.full(max(int(sid.max()) + 1 if n_rows else 0, int(f_sid.max()) + 1
                     if len(f_sid) else 0), -1, dtype=np.int64)
    at[sid[starts]] = np.arange(len(starts))
    row = at[f_sid]
    take = np.where(row >= 0, row, len(starts))        # len(starts) = "no history"
    out = fc.copy(deep=False)
    out["scale"] = np.r_[scale, np.nan][take]
    out["scale2"] = np.r_[scale2, np.nan][take]
    for col in ("category", "city", "state"):
        vals = np.asarray(frame[col].iloc[first_rows], dtype=object)
        vals = np.where(pd.isna(vals), None, vals)   # as groupby().first(): no value -> None
        out[col] = np.r_[vals, [None]][take]
    return out


def _actuals(h: pd.DataFrame, fc: pd.DataFrame, cut: pd.Timestamp, grain: str) -> np.ndarray:
    """Observed demand for each forecast row; a period without sales is zero demand.
    Matched on integer (series, day) keys, over the sales after the cutoff only."""
    obs = h[h["date"].to_numpy() > np.datetime64(cut)][KEYS + ["date", "quantity"]]
    day = obs["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    if grain == "W":   # sum daily/weekly rows into the fold's week lattice
        c = np.datetime64(cut, "D").astype(np.int64)
        day = c + (day - c - 1) // 7 * 7 + 7
    (o_sid, f_sid), _ = series_codes(obs, fc)
    f_day = fc["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    base = min(day.min() if len(day) else 0, f_day.min() if len(f_day) else 0)
    span = max(day.max() if len(day) else 0, f_day.max() if len(f_day) else 0) - base + 1
    o_key = o_sid.astype(np.int64) * span + (day - base)
    f_key = f_sid.astype(np.int64) * span + (f_day - base)
    qty = obs["quantity"].to_numpy(dtype=float)
    if grain == "W":
        s = pd.Series(qty).groupby(o_key).sum()
        o_key, qty = s.index.to_numpy(), s.to_numpy()
    at = pd.Index(o_key).get_indexer(f_key)
    out = np.where(at >= 0, qty[at] if len(qty) else 0.0, 0.0)
    return np.nan_to_num(out, nan=0.0)
