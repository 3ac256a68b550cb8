"""Fit every requested model at one cutoff on one feature panel and return their raw
forecasts in one long frame (model, sku_id, pin_code, date, step, forecast). Used by the
backtest (once per fold) and by the final forecast."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from engine.forecast.config import ForecastConfig
from engine.forecast.features import (Panel, Signals, build_panel, detect_grain,
                                      normalize_history)
from engine.forecast.registry import make_model, model_class

KEYS = ["sku_id", "pin_code"]
Progress = Callable[[str], None]


@dataclass
class FitResult:
    panel: Panel
    forecasts: pd.DataFrame                      # long: model, keys, date, step, forecast
    fitted: dict = field(default_factory=dict)   # model name -> fitted model
    timings: dict = field(default_factory=dict)  # model name -> seconds
    covered: dict = field(default_factory=dict)  # model name -> number of series


def series_volume(history: pd.DataFrame, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """(sids in order, each series' demand in its last `periods` periods)."""
    sid = history["sid"].to_numpy()
    pos = history["pos"].to_numpy()
    codes, uniq = pd.factorize(sid, sort=True)
    last = np.full(len(uniq), np.iinfo(np.int64).min)
    np.maximum.at(last, codes, pos.astype(np.int64))
    recent = pos > last[codes] - periods
    q = np.nan_to_num(history["quantity"].to_numpy(dtype=float))
    return np.asarray(uniq), np.bincount(codes[recent], weights=q[recent], minlength=len(uniq))


def top_series(history: pd.DataFrame, n: int, periods: int) -> np.ndarray:
    """sids of the n series with the most demand in the last `periods` periods (ties:
    the smaller sid first)."""
    uniq, vol = series_volume(history, periods)
    order = np.argsort(-vol, kind="stable")
    return uniq[order[:n]]


def recent_periods(grain: str) -> int:
    """The window top_series ranks demand over: a quarter of the grain's periods."""
    return 13 if grain == "W" else 91


def top_candidates(panel: Panel, n: int) -> pd.DataFrame:
    """This panel's top `n` series by recent demand with their keys and volume: a
    partition's candidates for a top-N chosen across partitions (`pick_top`)."""
    hist = panel.history
    uniq, vol = series_volume(hist, recent_periods(panel.grain))
    order = np.argsort(-vol, kind="stable")[:n]
    keys = _series_keys(panel)
    return pd.DataFrame({"sku_id": keys["sku_id"].to_numpy()[uniq[order]],
                         "pin_code": keys["pin_code"].to_numpy()[uniq[order]],
                         "volume": vol[order]})


def pick_top(candidates: list[pd.DataFrame], n: int) -> pd.DataFrame:
    """The top `n` of every partition's candidates, ranked as top_series ranks one panel
    (most demand first; ties: the series first in (sku_id, pin_code) order, as panel sids
    are numbered)."""
    c = pd.concat(candidates, ignore_index=True)
    c = c.sort_values(["volume", "sku_id", "pin_code"], ascending=[False, True, True],
                      kind="stable")
    return c.head(n)[KEYS].reset_index(drop=True)


def _series_keys(panel: Panel) -> pd.DataFrame:
    """sku_id and pin_code of every series of a panel, indexed by sid (0..n-1)."""
    frame = panel.frame
    sid = frame["sid"].to_numpy()
    first = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if len(sid) else \
        np.array([], dtype=np.int64)
    return pd.DataFrame({"sku_id": np.asarray(frame["sku_id"].iloc[first], dtype=object),
                         "pin_code": np.asarray(frame["pin_code"].iloc[first], dtype=object)})


def _sids_of(panel: Panel, keys: pd.DataFrame) -> np.ndarray:
    """sids of the panel's series listed in `keys` (sku_id, pin_code)."""
    have = _series_keys(panel)
    at = pd.MultiIndex.from_frame(keys[KEYS].astype(object)).get_indexer(
        pd.MultiIndex.from_frame(have))
    return np.flatnonzero(at >= 0)


def _with_positions(out: pd.DataFrame, future: pd.DataFrame) -> pd.DataFrame:
    """Add each forecast row's `sid` and `pos` from the future rows it came from. Models
    return rows of `future` under its index, so this is a positional lookup (checked on
    the keys and date); a model that re-indexed its output goes through a merge."""
    at = future.index.get_indexer(out.index) if future.index.is_unique else None
    if at is not None and len(out) and (at >= 0).all() and all(
            np.array_equal(future[c].to_numpy()[at], out[c].to_numpy())
            for c in ("date", *KEYS)):
        return out.assign(sid=future["sid"].to_numpy()[at], pos=future["pos"].to_numpy()[at])
    return out.merge(future[KEYS + ["date", "sid", "pos"]], on=KEYS + ["date"], how="left")


PLAN_FACTOR_RANGE = (0.1, 10.0)


def _plan_reader(fitted: dict) -> str | None:
    """The fitted global model that reads the plan (declares `future_covariates`)."""
    return next((name for name, m in fitted.items()
                 if m.scope == "global" and m.future_covariates), None)


def _apply_plan(parts: list[pd.DataFrame], fitted: dict, fut: pd.DataFrame) -> None:
    """A plan covers some future rows. The global model that reads future covariates
    (LightGBM: planned price, promotion) read it as inputs, and so did a per-series model
    that declares `future_covariates` (Prophet: its regressors), which returns its own
    `forecast_no_plan`; every other model's forecast on a planned row is scaled by the
    global model's ratio forecast with the plan / forecast without it (the estimated
    promotion and price response; clipped to PLAN_FACTOR_RANGE). Each frame gets
    `forecast_no_plan` (its forecast had there been no plan), `planned` and `promoted`
    (planned as a promotion: its intervals are calibrated on the promoted backtest
    steps, engine.forecast.intervals). Without a global reader the models that cannot
    read the plan stay as they are."""
    reader = _plan_reader(fitted)
    no_plan = getattr(fitted.get(reader), "no_plan_forecast", None)
    planned_f = fut["planned"].to_numpy(dtype=bool)
    promoted_f = planned_f & fut["promo"].to_numpy(dtype=bool)
    n_pos = int(fut["pos"].max()) + 1 if len(fut) else 1
    fut_key = pd.Index(fut["sid"].to_numpy().astype(np.int64) * n_pos + fut["pos"].to_numpy())
    factor = np.ones(len(fut))
    with_plan = None
    if no_plan is not None and len(no_plan) == len(fut):
        reader_part = next(p for p in parts if p["model"].iat[0] == reader)
        at = fut_key.get_indexer(reader_part["sid"].to_numpy().astype(np.int64) * n_pos
                                 + reader_part["pos"].to_numpy())
        with_plan = np.full(len(fut), np.nan)
        with_plan[at] = reader_part["forecast"].to_numpy(dtype=float)
        ok = planned_f & np.isfinite(with_plan)
        factor[ok] = np.clip((with_plan[ok] + 1e-3) / (no_plan[ok] + 1e-3), *PLAN_FACTOR_RANGE)
    for part in parts:
        at = fut_key.get_indexer(part["sid"].to_numpy().astype(np.int64) * n_pos
                                 + part["pos"].to_numpy())
        fc = part["forecast"].to_numpy(dtype=float)
        part["planned"] = planned_f[at]
        part["promoted"] = promoted_f[at]
        if part["model"].iat[0] == reader and with_plan is not None:
            part["forecast_no_plan"] = np.where(planned_f[at], no_plan[at], fc)
            continue
        # rows a per-series model read the plan on carry its own forecast without it;
        # the others (and every row of a model that cannot read a plan) are scaled
        own = part["forecast_no_plan"].to_numpy(dtype=float) \
            if "forecast_no_plan" in part else np.full(len(part), np.nan)
        read = np.isfinite(own)
        part["forecast_no_plan"] = np.where(read, own, fc)
        part["forecast"] = np.where(read, fc, fc * factor[at])


def uses_worker_processes(models) -> bool:
    """Whether any of the models fits in worker processes of its own."""
    return any(model_class(m).worker_processes for m in models)


def global_models(models) -> list[str]:
    """The models that learn across series (fitted once per cutoff on pooled rows)."""
    return [m for m in models if model_class(m).scope == "global"]


def build_cutoff_panel(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
                       names: tuple[str, ...], cutoff=None,
                       future_prices: pd.DataFrame | None = None, whole=None) -> Panel:
    """The feature panel fit_predict builds for `names` at `cutoff` (normalised history):
    every history row featurised for the top series of a per-series model that needs
    features (Prophet's regressors). `whole`: the whole file's sums (features.WholeFile)."""
    full = [getattr(cfg, c.top_n) for c in map(model_class, names)
            if c.scope == "per_series" and c.needs_features and c.top_n]
    return build_panel(history, signals, cfg, cutoff=cutoff, future_prices=future_prices,
                       full_top_n=max(full, default=0), normalized=True, whole=whole)


def global_training_rows(panel: Panel, name: str, cfg: ForecastConfig,
                         quota: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The training rows the global model `name` would learn from on this panel (before
    its own seeded sample): a partition's contribution to the pooled fit; with `quota`,
    a sample of that many rows (numpy's default_rng(seed), rows kept in panel order)
    when there are more. The model's `training_rows` chooses on the rows' date and
    `lag_origin` only, so the choice is made on those two columns and only the chosen
    rows of the wide featurised frame are copied (selecting all of `panel.train` first
    consolidated and copied every feature column of every training row)."""
    rows = panel.rows
    cols = [c for c in ("date", "lag_origin") if c in rows]
    mask = rows["lgb_row"].to_numpy() & ~rows["future"].to_numpy()
    light = pd.DataFrame({c: rows[c].to_numpy() for c in cols})[mask]   # index: positions
    light.attrs["cutoff"] = panel.cutoff
    at = model_class(name).training_rows(light, cfg).index.to_numpy()
    if quota is not None and len(at) > quota:
        at = at[np.sort(np.random.default_rng(seed).choice(len(at), quota, replace=False))]
    out = rows.iloc[at]
    out.attrs["cutoff"] = panel.cutoff
    return out


def fit_predict(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
                cutoff=None, models: tuple[str, ...] | None = None,
                progress: Progress | None = None,
                future_prices: pd.DataFrame | None = None,
                normalized: bool = False, keep_sid: bool = False,
                prefit: dict | None = None, top: dict | None = None,
                whole=None, panel: Panel | None = None) -> FitResult:
    """Build the feature panel at `cutoff` and fit + predict every model on it.
    `normalized=True` says `history` already went through normalize_history;
    `keep_sid=True` keeps the panel's integer series id `sid` on the forecast rows;
    `prefit`: model name -> a model already fitted for this cutoff (a global model
    fitted on the pooled rows of every partition by a distributed backend): it only
    predicts here; `top`: a model's `top_n` setting -> the (sku_id, pin_code) of the top
    series chosen across every partition (pick_top), instead of this panel's own;
    `whole`: the whole file's sums the data-gap and chain-wide promotion rules read
    (features.WholeFile; None: those of `history`); `panel`: the panel build_cutoff_panel
    built already from these same inputs (a distributed backend builds it in its first
    map, for the global model's training rows, and reads it back here): not built again."""
    say = progress or (lambda msg: None)
    prefit = prefit or {}
    t0 = time.perf_counter()
    if not normalized:
        history = normalize_history(history)
    if cfg.grain is None:
        cfg = cfg.for_grain(detect_grain(history))
    names = tuple(models or cfg.models)
    if panel is None:
        panel = build_cutoff_panel(history, signals, cfg, names, cutoff=cutoff,
                                   future_prices=future_prices, whole=whole)
    timings = {"features": round(time.perf_counter() - t0, 3)}
    say(f"features ready: {int(panel.frame['sid'].iloc[-1]) + 1:,} series, "
        f"{len(panel.frame):,} rows, {len(panel.rows):,} with features "
        f"({timings['features']:.1f} s)")
    hist, fut = panel.history, panel.future
    # the frame is sorted by series then period and every series ends with `horizon` future
    # rows: its last history position is its last position minus the horizon
    sid_all = panel.frame["sid"].to_numpy()
    ends = np.r_[sid_all[1:] != sid_all[:-1], True]
    last_pos = pd.Series(panel.frame["pos"].to_numpy()[ends] - panel.horizon, index=sid_all[ends])
    parts, fitted, covered = [], {}, {}

    def run(name: str):
        """Fit and predict one model: (its forecast rows or None, the model, seconds)."""
        t = time.perf_counter()
        model = prefit.get(name) or make_model(name)
        h, f = hist, fut
        if model.needs_features:
            h = panel.train if model.scope == "global" else panel.featured_history
        if model.top_n:
            keep = _sids_of(panel, top[model.top_n]) if top and model.top_n in top else \
                top_series(hist, getattr(cfg, model.top_n), recent_periods(panel.grain))
            h, f = h[h["sid"].isin(keep)], fut[fut["sid"].isin(keep)]
        if model.needs_festivals:
            model.festivals = signals.festivals if signals is not None else None
        if f.empty if name in prefit else h.empty:   # a fitted model reads no history here
            return None, model, 0.0
        if model.min_seasons:     # series too young for the model get no forecast from it
            old_enough = last_pos[last_pos + 1 >= model.min_seasons * cfg.season_length].index
            f = f[f["sid"].isin(old_enough)]
            if f.empty:
                return None, model, 0.0
        if name not in prefit:
            model.fit(h, cfg)
        out = model.predict(cfg.horizon, f)
        out = _with_positions(out, f)
        out["step"] = (out["pos"] - out["sid"].map(last_pos)).astype(int)
        out["forecast"] = np.clip(np.nan_to_num(out["forecast"].to_numpy(dtype=float)), 0, None)
        out.insert(0, "model", name)
        return out, model, time.perf_counter() - t

    # A global model's fit and predict (LightGBM: in C without the GIL) run on a helper
    # thread and overlap the other models, which run here meanwhile (same forecasts;
    # results are kept in the order of `names`). Not when a model fits in worker
    # processes (no fork while a thread runs), nor for a model fitted already (nothing
    # to overlap; pandas' lazy index caches are not safe to build from two threads).
    background = {}
    glob = [m for m in global_models(names) if m not in prefit]
    if glob and len(names) > 1 and not uses_worker_processes(names):
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="micropulse-global")
        background[glob[0]] = pool.submit(run, glob[0])
        pool.shutdown(wait=False)
    for name in names:
        out, model, sec = background[name].result() if name in background else run(name)
        if out is None:
            continue
        parts.append(out)
        fitted[name] = model
        covered[name] = int(out[KEYS].drop_duplicates().shape[0])
        timings[name] = round(sec, 3)
        say(f"{name}: {covered[name]:,} series in {timings[name]:.1f} s")
    if "planned" in fut and bool(fut["planned"].any()):
        _apply_plan(parts, fitted, fut)
    parts = [p.drop(columns=["pos"] if keep_sid else ["sid", "pos"]) for p in parts]
    forecasts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["model", *KEYS, "date", "forecast", "step"])
    return FitResult(panel=panel, forecasts=forecasts, fitted=fitted, timings=timings,
                     covered=covered)
