"""The routed forecast pipeline.

`forecast(history, signals, cfg) -> DataFrame` is pure: backtest every model (rolling
origin), route each series to its best model or blend, fit at the cutoff, add conformal
80/95% intervals calibrated on the routed backtest. `run_forecast(wh, cfg)` and
`run_backtest(wh, cfg)` read the warehouse, call the pure functions and persist the run.
"""
from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.forecast import intervals, router
from engine.forecast.backtest import backtest
from engine.forecast.config import ForecastConfig, ForecastError
from engine.forecast.drivers import driver_frame
from engine.forecast.features import (Signals, WholeFile, cut_history, detect_grain, gap_runs,
                                      normalize_history, segment_text)
from engine.forecast.metrics import score
from engine.forecast.runner import Progress, fit_predict, uses_worker_processes
from engine.tracing import traced

KEYS = ["sku_id", "pin_code"]
OUTPUT = ["sku_id", "pin_code", "date", "forecast", "lo", "hi", "lo80", "hi80", "model"]


@dataclass
class ForecastResult:
    run_id: str | None
    forecasts: pd.DataFrame        # OUTPUT + weather_source, step, category
    routing: pd.DataFrame
    backtest: pd.DataFrame | None  # per-model rows plus model == "routed"
    drivers: pd.DataFrame | None
    cutoff: pd.Timestamp
    grain: str
    horizon: int
    timings: dict = field(default_factory=dict)
    interval_method: str = "conformal"
    fitted: dict = field(default_factory=dict)
    plan_version: int | str | None = None   # the plan used (None: no plan)
    planned_rows: int = 0                   # series x periods the plan covered
    data_gaps: list = field(default_factory=list)   # periods treated as missing data

    @property
    def notes(self) -> list[str]:
        """What the run report says about its input (features.gap_runs' sentences)."""
        return [g["note"] for g in self.data_gaps]

    def accuracy(self, by=("model",)) -> pd.DataFrame:
        return score(self.backtest, by=list(by)) if self.backtest is not None else \
            pd.DataFrame()


def prepare_history(history: pd.DataFrame, cfg: ForecastConfig
                    ) -> tuple[pd.DataFrame, ForecastConfig]:
    """The history normalised and cut at the cutoff, and `cfg` with its grain and cutoff
    set (ForecastError no_history when nothing is left)."""
    h = normalize_history(history)
    if h.empty:
        raise ForecastError("There is no sales history to forecast from.", code="no_history")
    cut = pd.Timestamp(cfg.cutoff) if cfg.cutoff is not None else h["date"].max()
    h = cut_history(h, cut)
    if h.empty:
        raise ForecastError(f"There is no sales history on or before the cutoff {cut:%d-%b-%Y}.",
                            evidence={"cutoff": cut.date()}, code="no_history")
    grain = cfg.grain or detect_grain(h)
    return h, cfg.with_(grain=grain, cutoff=cut.date())


def _last_pos(panel) -> dict:
    """Per series of a panel with history: its sid, last history row of panel.frame and
    last history position (dtype of `pos`), read off the frame without copying it (rows
    sorted by sid then pos; the future rows of a series follow its history)."""
    hist_rows = np.flatnonzero(~panel.frame["future"].to_numpy())
    sid = panel.frame["sid"].to_numpy()[hist_rows]
    last = np.flatnonzero(np.r_[sid[1:] != sid[:-1], True]) if len(sid) else \
        np.array([], dtype=np.int64)
    row = hist_rows[last]
    return {"sid": sid[last], "row": row, "pos": panel.frame["pos"].to_numpy()[row]}


def _join_points(left: pd.DataFrame, right: pd.DataFrame, cols: list[str], how: str,
                 extra: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """left.merge(right[[*extra, *KEYS, "date", *cols]].drop_duplicates(on the keys),
    on=[*extra, *KEYS, "date"], how=how) with how 'left' or 'inner', matched on integer
    codes instead of string keys (first right row per key, left order kept)."""
    on = [*extra, *KEYS, "date"]
    (l_sid, r_sid), _ = router.series_codes(left, right)
    parts_l, parts_r, sizes = [l_sid.astype(np.int64)], [r_sid.astype(np.int64)], []
    for col in [*extra, "date"]:
        code, uni = pd.factorize(np.concatenate([left[col].to_numpy(), right[col].to_numpy()]))
        parts_l.append(code[: len(left)].astype(np.int64))
        parts_r.append(code[len(left):].astype(np.int64))
        sizes.append(max(len(uni), 1))
    lk, rk = parts_l[0], parts_r[0]
    for cl, cr, n in zip(parts_l[1:], parts_r[1:], sizes):
        lk, rk = lk * n + cl, rk * n + cr
    uniq, first = np.unique(rk, return_index=True)
    at = np.minimum(np.searchsorted(uniq, lk), max(len(uniq) - 1, 0))
    found = (uniq[at] == lk) if len(uniq) else np.zeros(len(lk), dtype=bool)
    if how == "inner":
        out = left[found].reset_index(drop=True)
        rows = first[at[found]]
    elif found.all():
        out = left.reset_index(drop=True)
        rows = first[at]
    else:   # unmatched rows: NaN-filled as by merge
        return left.merge(right.drop_duplicates(on)[on + cols], on=on, how="left")
    for col in cols:
        out[col] = right[col].iloc[rows].reset_index(drop=True)
    return out


def _routed_values(bt: pd.DataFrame) -> list[str]:
    """The backtest columns routing combines: the forecast, and with a plan the forecast
    without it (blended alike) and the plan flags (carried)."""
    return ["forecast", *[c for c in ("forecast_no_plan", *router.PLAN_FLAGS) if c in bt]]


def _routed(frame: pd.DataFrame, routing: pd.DataFrame, extra: list[str]) -> pd.DataFrame:
    """Routed forecasts for a long per-model frame (extra keys e.g. fold)."""
    if not extra:
        return router.combine(frame, routing)
    parts = []
    for value, part in frame.groupby(extra):
        out = router.combine(part, routing)
        for col, v in zip(extra, value if isinstance(value, tuple) else (value,)):
            out[col] = v
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def forecast_full(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig,
                  progress: Progress | None = None,
                  plan: pd.DataFrame | None = None,
                  plan_rows: pd.DataFrame | None = None) -> ForecastResult:
    """The routed forecast. `plan`: planned prices / promotions for the horizon
    (plan.resolve rows), or `plan_rows` (stored plan rows, resolved here for the run's
    series and horizon); with a plan the backtest folds use the prices and promotions
    actually charged, the forecast rows carry `forecast_no_plan` and `planned`, and the
    backtest adds a 'routed_no_plan' model (the routed forecast without the plan)."""
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    h, cfg = prepare_history(history, cfg)
    if plan_rows is not None:
        from engine.forecast.plan import horizon_plan

        plan = horizon_plan(plan_rows, h, signals, cfg.cutoff, cfg.for_grain(cfg.grain).horizon,
                            cfg.grain)
    use_plan = plan is not None and len(plan) > 0
    timings: dict = {}
    bt = None
    # the whole file's sums the data-gap and chain-wide promotion rules read, once per run
    # (a distributed run computes the same with DuckDB over the warehouse: backends.py)
    whole = WholeFile.of(h)
    try:
        bt = backtest(h, signals, cfg, progress=say, normalized=True, with_plan=use_plan,
                      whole=whole)
    except ForecastError as exc:
        if exc.code != "history_too_short":
            raise
        say("history too short for a backtest: no routing, negative-binomial intervals")
    timings["backtest"] = round(time.perf_counter() - t0, 2)
    # Two steps run on a helper thread while the main thread works on something they do
    # not depend on: routing (reads the backtest only) during the final fit, and the
    # drivers (read the final LightGBM only) during routing and intervals. LightGBM and
    # most numpy work release the GIL, so the second core does useful work; the results
    # are the same numbers (each step computes exactly what it did in sequence).
    # Progress messages stay on the calling thread.
    # the history and the backtest are handed over in a list, so that the callee's `del`
    # frees them (this frame keeps no reference)
    big = [h, bt]
    del h, bt
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="micropulse-forecast") as pool:
        return _final_and_after(big, signals, cfg, plan, use_plan, say, t0, timings, pool,
                                whole)


@dataclass
class FinalPieces:
    """What the final fit at the cutoff hands to the reduce step, for all series or for
    one partition of them (partitions' pieces are concatenated): per-model forecasts,
    each future row's weather source, category and step, the series table and the young
    series (fewer than 14 periods of history: cold start when unrouted)."""
    forecasts: pd.DataFrame
    points: pd.DataFrame             # KEYS, date, weather_source, category, step
    series: pd.DataFrame             # KEYS, category, segment
    young: pd.DataFrame              # KEYS
    covered: dict = field(default_factory=dict)

    @staticmethod
    def concat(pieces: list["FinalPieces"]) -> "FinalPieces":
        def cat(frames):
            return pd.concat(frames, ignore_index=True)
        covered: dict = {}
        for p in pieces:
            for name, n in p.covered.items():
                covered[name] = covered.get(name, 0) + n
        forecasts = cat([p.forecasts for p in pieces])
        if "planned" in forecasts:
            # a partition whose series the plan does not touch has no plan columns: its
            # rows are unplanned, their forecast is the no-plan one (as in a local run)
            for flag in router.PLAN_FLAGS:
                forecasts[flag] = forecasts[flag].eq(True) if flag in forecasts else False
            forecasts["forecast_no_plan"] = forecasts["forecast_no_plan"].fillna(
                forecasts["forecast"])
        return FinalPieces(forecasts, cat([p.points for p in pieces]),
                           cat([p.series for p in pieces]), cat([p.young for p in pieces]),
                           covered)


def final_pieces(final) -> FinalPieces:
    """FinalPieces of a fit_predict result at the cutoff."""
    fut = final.panel.future
    series = fut.groupby(KEYS, as_index=False)["category"].first()
    series["segment"] = segment_text(series["category"])
    last_pos = _last_pos(final.panel)
    is_young = last_pos["pos"] + 1 < 14
    frame = final.panel.frame
    young = pd.DataFrame({
        "sku_id": np.asarray(frame["sku_id"].iloc[last_pos["row"][is_young]], dtype=object),
        "pin_code": np.asarray(frame["pin_code"].iloc[last_pos["row"][is_young]], dtype=object)})
    points = fut[[*KEYS, "date", "weather_source", "category"]].copy()
    points["step"] = fut["pos"].to_numpy() - pd.Series(
        last_pos["pos"], index=last_pos["sid"]).reindex(fut["sid"].to_numpy()).to_numpy()
    return FinalPieces(final.forecasts, points, series, young, dict(final.covered))


def reduce_run(bt: pd.DataFrame | None, pieces: FinalPieces, cfg: ForecastConfig, say,
               routing: pd.DataFrame | None = None):
    """The reduce step over every series: route each series on the pooled backtest
    (`routing` when already computed), combine the final forecasts, calibrate the
    conformal intervals on the routed backtest. Returns (forecast rows, routing,
    backtest with the routed rows or None, interval method)."""
    say("routing each series to its best model")
    available = [m for m in cfg.models if m in pieces.covered]
    if not available:
        raise ForecastError("No model produced a forecast for any series.", code="no_forecast")
    if bt is not None and cfg.route and len(available) > 1:
        routing = routing if routing is not None else router.route(bt, ensemble=cfg.ensemble)
    else:
        routing = router.route(pd.DataFrame())
    young = pd.MultiIndex.from_arrays([pieces.young["sku_id"].to_numpy(dtype=object),
                                       pieces.young["pin_code"].to_numpy(dtype=object)],
                                      names=KEYS)
    routing = router.fill_unrouted(pieces.series, routing, default=available[0], young=young)
    if not (cfg.route and len(available) > 1):
        routing = routing.assign(model=available[0], weights=f'{{"{available[0]}": 1.0}}',
                                 reason=f"{available[0]}: the only model requested")
    out = router.combine(pieces.forecasts, routing)
    out = _join_points(out, pieces.points, ["weather_source", "category", "step"], how="left")
    out["segment"] = segment_text(out["category"])

    bt_all = None
    method = "conformal"
    if bt is not None:
        say("calibrating conformal intervals on the routed backtest")
        values = _routed_values(bt)
        routed_bt = _routed(bt[["model", "fold", *KEYS, "date", *values]], routing, ["fold"])
        routed_bt = _join_points(routed_bt.drop(columns="model"), bt,
                                 ["cutoff", "step", "actual", "scale", "scale2", "segment",
                                  "category", "city", "state"], how="inner", extra=["fold"])
        routed_bt["model"] = "routed"
        cal = intervals.calibrate(routed_bt, cfg.horizon)
        out = intervals.apply(out, cal)
        bt_all = _with_routed(bt, routed_bt, cfg.horizon)
        del bt, routed_bt              # the rows live on in bt_all
    else:
        out = intervals.poisson_intervals(out)
        method = "negative_binomial"
    cols = OUTPUT + ["weather_source", "step", "category"] + (
        ["forecast_no_plan", "planned"] if "forecast_no_plan" in out else [])
    out = out[cols].sort_values(KEYS + ["date"]).reset_index(drop=True)
    out["date"] = pd.to_datetime(out["date"])
    return out, routing, bt_all, method


def driver_model(fitted: dict):
    """The fitted global model whose forecasts the drivers explain (None: no such)."""
    return next((m for m in fitted.values()
                 if m.scope == "global" and hasattr(m, "contributions")), None)


def driver_inputs(final, fut: pd.DataFrame, model) -> tuple:
    """driver_frame's arguments for the final fit's global `model` on the future rows
    `fut`: (model, rows, its forecast of them, its forecast at their own prices), the
    forecasts only when they are of exactly these rows (else driver_frame predicts)."""
    own = final.forecasts[final.forecasts["model"].to_numpy() == model.name]
    same_rows = len(own) == len(fut) and np.array_equal(own["date"].to_numpy(),
                                                        fut["date"].to_numpy())
    return (model, fut, own["forecast"].to_numpy() if same_rows else None,
            getattr(model, "own_forecast", None) if same_rows else None)


def _final_and_after(big: list, signals, cfg: ForecastConfig, plan, use_plan: bool, say,
                     t0: float, timings: dict, pool: ThreadPoolExecutor,
                     whole: WholeFile) -> ForecastResult:
    """forecast_full after the backtest: final fit, routing, intervals, drivers. `big`:
    [normalised history, backtest or None], emptied here; `whole`: the file's sums."""
    h, bt = big
    big.clear()
    early_routing = None
    if bt is not None and cfg.route and len(cfg.models) > 1 and \
            not uses_worker_processes(cfg.models):
        # the route is decided on the backtest alone; computed alongside the final fit
        # (not when the final fit starts worker processes: no fork while a thread runs)
        early_routing = pool.submit(router.route, bt, ensemble=cfg.ensemble)
    t1 = time.perf_counter()
    say("final fit at the cutoff")
    final = fit_predict(h, signals, cfg, cutoff=cfg.cutoff, progress=say, normalized=True,
                        future_prices=plan if use_plan else None, whole=whole)
    timings["final_fit"] = round(time.perf_counter() - t1, 2)
    timings.update({f"final_{k}": v for k, v in final.timings.items()})
    data_gaps = gap_runs(final.panel.gaps, cfg.grain)
    for gap in data_gaps:
        say(gap["note"])
    del h                              # normalised history: no longer needed
    pieces = final_pieces(final)

    drivers_job = None
    model = driver_model(final.fitted)
    if model is not None:
        say("forecast drivers (LightGBM contributions), alongside routing and intervals")
        # its own frame object over the same columns: pandas' lazy caches and block
        # consolidation are not shared with the main thread's reads of `fut`
        model_, rows, fc, own = driver_inputs(final, final.panel.future.copy(deep=False),
                                              model)
        drivers_job = pool.submit(driver_frame, model_, rows, fc, own=own)
    available = [m for m in cfg.models if m in final.covered]
    routing = early_routing.result() if (early_routing is not None and len(available) > 1) \
        else None
    out, routing, bt_all, method = reduce_run(bt, pieces, cfg, say, routing=routing)
    drivers = drivers_job.result() if drivers_job is not None else None
    timings["total"] = round(time.perf_counter() - t0, 2)
    return ForecastResult(run_id=None, forecasts=out, routing=routing, backtest=bt_all,
                          drivers=drivers, cutoff=pd.Timestamp(cfg.cutoff), grain=cfg.grain,
                          horizon=cfg.horizon, timings=timings, interval_method=method,
                          fitted=final.fitted, planned_rows=len(plan) if use_plan else 0,
                          data_gaps=data_gaps)


def _with_routed(bt: pd.DataFrame, routed_bt: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The per-model backtest plus the routed rows (cross-conformal intervals); when the
    backtest used a plan, also the routed forecast without it as model 'routed_no_plan',
    so every accuracy view reports both. The plan columns themselves are dropped."""
    parts = [intervals.cross_conformal(routed_bt, horizon)]
    if "forecast_no_plan" in routed_bt:
        # as a run without the plan is calibrated: no step is known to be a promotion
        no_plan = routed_bt.assign(model="routed_no_plan",
                                   forecast=routed_bt["forecast_no_plan"]).drop(
                                       columns="promoted", errors="ignore")
        parts.append(intervals.cross_conformal(no_plan, horizon))
    cols = [c for c in bt.columns if c not in ("forecast_no_plan", *router.PLAN_FLAGS)]
    # bt[cols] copies every column: only when there are plan columns to leave out (the
    # concat copies anyway; an extra copy of a 100,000-series backtest is ~2.5 GB)
    return pd.concat([bt if cols == list(bt.columns) else bt[cols],
                      *[p if cols == list(p.columns) else p[cols] for p in parts]],
                     ignore_index=True)


def forecast(history: pd.DataFrame, signals: Signals | None, cfg: ForecastConfig
             ) -> pd.DataFrame:
    """Routed forecast frame: sku_id, pin_code, date, forecast, lo, hi (95%), lo80, hi80,
    model, weather_source, step, category. Pure; never mutates its inputs."""
    return forecast_full(history, signals, cfg).forecasts


# ---- warehouse runs --------------------------------------------------------------------
def _run_meta(run_id: str, kind: str, cfg: ForecastConfig, n_series: int, timings: dict,
              extra: dict | None = None) -> dict:
    return {"run_id": run_id, "kind": kind, "grain": cfg.grain, "cutoff": cfg.cutoff,
            "horizon": cfg.horizon, "n_series": n_series, "models": list(cfg.models),
            "config": {**cfg.to_dict(), **(extra or {})}, "timings": timings}


def plan_version(wh, plan: str | int | None) -> int | None:
    """The stored plan version a run uses: 'latest' (the newest; None when no plan was
    uploaded), 'none' (None) or a version number (checked to exist)."""
    from engine.warehouse.plans import latest_plan_version, plan_versions

    if plan is None or str(plan).lower() == "none":
        return None
    if str(plan).lower() == "latest":
        return latest_plan_version(wh)
    try:
        version = int(plan)
    except ValueError:
        raise ForecastError(f"--plan must be latest, none or a plan version number, not "
                            f"{plan!r}.", code="bad_plan") from None
    known = [int(v) for v in plan_versions(wh)["plan_version"]]
    if version not in known:
        raise ForecastError(f"There is no plan version {version}; uploaded versions: "
                            f"{', '.join(map(str, known)) or 'none'}.",
                            evidence={"plan": version}, code="unknown_plan")
    return version


def _published(kind: str):
    """A stored run's progress and its end go to the in-process bus (engine/bus.py), so
    the API's /ws and the app show a run started elsewhere while it runs."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(wh, cfg, progress=None, persist=True, *args, **kwargs):
            if not persist:
                return fn(wh, cfg, progress, persist, *args, **kwargs)
            from engine import bus

            say, finished = bus.run_progress(kind, progress)
            try:
                res = fn(wh, cfg, say, persist, *args, **kwargs)
            except BaseException as exc:
                finished(None, False, str(exc)[:300])
                raise
            finished(res.run_id)
            return res
        return run
    return wrap


@_published("forecast")
@traced("forecast.run", lambda a: {"horizon": a["cfg"].horizon, "grain": a["cfg"].grain,
                                   "models": list(a["cfg"].models or ()),
                                   "persist": a["persist"]},
        lambda r: {"run_id": r.run_id, "grain": r.grain, "horizon": r.horizon,
                   "series": int(r.forecasts[["sku_id", "pin_code"]].drop_duplicates()
                                 .shape[0]) if len(r.forecasts) else 0,
                   "rows": len(r.forecasts)})
def run_forecast(wh, cfg: ForecastConfig, progress: Progress | None = None,
                 persist: bool = True, plan: str | int | None = "latest",
                 backend=None) -> ForecastResult:
    """Read history (up to cfg.cutoff) and signals, forecast, persist forecast_runs,
    forecasts, backtests (per model and 'routed'), routing and drivers in one transaction.
    `plan`: 'latest' (default; no plan when none was uploaded), 'none' or a version.
    `backend`: where the run executes (engine.forecast.backends; None: the configured
    one - this machine unless a Dask scheduler is configured)."""
    from engine.forecast.backends import backend_from
    from engine.telemetry import forecast_run_stored
    from engine.warehouse.db import new_id
    from engine.warehouse.forecasts import write_run

    version = plan_version(wh, plan)
    backend = backend if backend is not None else backend_from()
    res = backend.forecast(wh, cfg, progress=progress, plan_version=version)
    res.run_id = new_id("fc")
    res.plan_version = version
    if persist:
        c = cfg.with_(grain=res.grain, cutoff=res.cutoff.date())
        coverage = _coverage(res.backtest)
        meta = _run_meta(res.run_id, "forecast", c, res.forecasts[KEYS].drop_duplicates().shape[0],
                         res.timings, {"interval_method": res.interval_method,
                                       "routed_backtest": coverage,
                                       "plan_version": res.plan_version,
                                       "planned_rows": res.planned_rows,
                                       "backend": backend.name,
                                       "data_gaps": res.data_gaps})
        write_run(wh, meta, forecasts=res.forecasts, backtests=res.backtest,
                  routing=res.routing, drivers=res.drivers)
        forecast_run_stored(meta)       # log line and metrics (engine/telemetry.py)
        _store_scores(wh, res.run_id, progress)
    return res


def _store_scores(wh, run_id: str, progress: Progress | None) -> None:
    """Score the new run's backtest for the Accuracy page and store the tables
    (engine/forecast/scores.py), so its first view does not wait for them."""
    from engine.forecast.scores import warm

    started = time.perf_counter()
    warm(wh, run_id)
    if progress is not None:
        progress(f"accuracy tables stored ({time.perf_counter() - started:.1f} s)")


def _coverage(bt: pd.DataFrame | None) -> dict:
    if bt is None:
        return {}
    s = score(bt[bt["model"] == "routed"], by=[])
    if s.empty:
        return {}
    row = s.iloc[0]
    return {k: (None if pd.isna(row[k]) else round(float(row[k]), 3 if k == "rmsse" else 2))
            for k in ("wape", "rmsse", "bias_pct", "coverage80", "coverage95", "fva_pct")}


@dataclass
class BacktestResult:
    run_id: str | None
    backtest: pd.DataFrame
    scores: pd.DataFrame           # per model
    timings: dict
    config: ForecastConfig         # with the grain's defaults filled in

    @property
    def by_step(self) -> pd.DataFrame:
        """Metrics per model and horizon step (coverage must hold at every step)."""
        return score(self.backtest, by=["model", "step"])


@_published("backtest")
@traced("forecast.backtest", lambda a: {"horizon": a["cfg"].horizon, "folds": a["cfg"].folds,
                                        "persist": a["persist"]},
        lambda r: {"run_id": r.run_id, "rows": len(r.backtest)})
def run_backtest(wh, cfg: ForecastConfig, progress: Progress | None = None,
                 persist: bool = True, with_plan: bool = False,
                 backend=None) -> BacktestResult:
    """Rolling-origin backtest of every model plus the routed choice (routing decided on
    the same folds, so the 'routed' row is slightly optimistic; its intervals are
    cross-conformal). `with_plan=True`: each fold uses the prices and promotions actually
    charged in its horizon as the plan, and 'routed_no_plan' scores the same routed
    forecast without them. `backend`: where the folds run (engine.forecast.backends; None:
    the configured one). Persists point-level rows into `backtests`."""
    from engine.forecast.backends import backend_from
    from engine.telemetry import forecast_run_stored
    from engine.warehouse.db import new_id
    from engine.warehouse.forecasts import write_run

    t0 = time.perf_counter()
    backend = backend if backend is not None else backend_from()
    bt, c = backend.backtest(wh, cfg, progress=progress, with_plan=with_plan)
    if c.route and bt["model"].nunique() > 1:
        routing = router.route(bt, ensemble=c.ensemble)
        values = _routed_values(bt)
        routed = _routed(bt[["model", "fold", *KEYS, "date", *values]], routing, ["fold"])
        ref_cols = [c for c in bt.columns if c not in
                    ("model", *values, "lo", "hi", "lo80", "hi80", "fold", *KEYS, "date")]
        routed = _join_points(routed.drop(columns="model"), bt, ref_cols, how="inner",
                              extra=["fold"])
        routed["model"] = "routed"
        bt = _with_routed(bt, routed, c.horizon)
    else:
        bt = bt.drop(columns=[x for x in ("forecast_no_plan", *router.PLAN_FLAGS) if x in bt])
    timings = {"total": round(time.perf_counter() - t0, 2)}
    scores = score(bt, by=["model"])
    run_id = new_id("bt")
    if persist:
        meta = _run_meta(run_id, "backtest", c, bt[KEYS].drop_duplicates().shape[0], timings,
                         {"folds": c.folds, "plan": "actual" if with_plan else "none",
                          "backend": backend.name})
        write_run(wh, meta, backtests=bt)
        forecast_run_stored(meta)
        _store_scores(wh, run_id, progress)
    return BacktestResult(run_id=run_id, backtest=bt, scores=scores, timings=timings, config=c)
