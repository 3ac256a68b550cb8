"""Where a forecast run executes: this machine, or an existing Dask cluster.

The seam is one object with `forecast(wh, cfg, progress, plan_version) -> ForecastResult`
and `backtest(wh, cfg, progress, with_plan) -> (finished backtest points, cfg)` (the
`backtest` command: the same maps without the final fit):

- `LocalBackend` (the default) is today's run: one process reads the history and
  `pipeline.forecast_full` fits every model, per-series families in local worker
  processes (engine.forecast.parallel). Its numbers are the reference.
- `DaskBackend(scheduler)` runs the same pipeline on a `distributed` cluster:
  1. the history up to the cutoff is exported from the warehouse by DuckDB to Parquet,
     one folder per partition (whole category x state cells packed up to
     `partition_series` series; a larger category x state is split by whole cities), in
     a run folder the workers can read (MICROPULSE_DASK_SHARED_DIR on a real cluster);
     before that, DuckDB sums the whole history per PIN x day and per SKU x promoted day
     (features.WholeFile), and every partition reads these small tables, not its own
     rows, to judge data gaps and chain-wide promotions: the rules of the local run,
     which reads the same sums of its own history;
  2. map: each partition builds its feature panel at each backtest origin and at the
     cutoff and returns the training rows of every global model (LightGBM) on it, as a
     stratified sample: its share of `cfg.lgb_max_rows` in proportion to its history rows
     (all rows when the pooled set is smaller, as on one machine); what map 2 reads of
     each panel (frame, featurised future rows) and the partition's normalised history
     are pickled into the run folder;
  3. one fit per origin of each global model on a worker, on the pooled sample sorted as
     the local run sorts it (the local run samples the same number of rows uniformly),
     with the cores that worker process has to itself;
  4. map: each partition reads its panels and history back (not built or read from
     the Parquet twice; each step timed on the worker), runs the backtest
     folds and the final fit with those fitted global models and its own per-series
     models (which depend on their series alone, so they give the local numbers), and
     leaves its LightGBM drivers' inputs in the run folder;
  5. reduce, here: the backtest intervals, routing and conformal calibration pool errors
     across all series (`backtest.finish_backtest`, `pipeline.reduce_run`, the local
     run's own functions), while the workers compute each partition's drivers
     (task_drivers, submitted once no map-2 task waits for a worker); then the caller
     writes the run in one transaction.
  Nothing is written before the reduce has finished: a run that fails (a worker lost,
  the scheduler gone) raises a BackendError with a code and leaves the warehouse as it
  was. Dask itself re-runs the tasks of a lost worker on the others (up to its
  `distributed.scheduler.allowed-failures`).

Choosing one: `backend_from(name, scheduler)`; name None reads MICROPULSE_FORECAST_BACKEND
(local | dask; default dask when MICROPULSE_DASK_SCHEDULER is set, else local).
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from engine.forecast.config import ForecastConfig, ForecastError

KEYS = ["sku_id", "pin_code"]
BACKEND_ENV = "MICROPULSE_FORECAST_BACKEND"
SCHEDULER_ENV = "MICROPULSE_DASK_SCHEDULER"
SHARED_DIR_ENV = "MICROPULSE_DASK_SHARED_DIR"
PARTITION_SERIES = 5_000          # series per partition (cells packed; larger split by city)
CONNECT_TIMEOUT_S = 10


class BackendError(ForecastError):
    """The execution backend cannot run or finish the forecast (no scheduler, cluster
    unreachable, a worker lost); the warehouse is unchanged."""


# ---- choosing a backend ------------------------------------------------------------------
def backend_from(name: str | None = None, scheduler: str | None = None):
    """The backend for a run: `name` 'local' or 'dask' (None: MICROPULSE_FORECAST_BACKEND,
    else dask when a scheduler is configured, else local); `scheduler` a Dask scheduler
    address (None: MICROPULSE_DASK_SCHEDULER)."""
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    name = (name or os.environ.get(BACKEND_ENV) or ("dask" if scheduler else "local")).lower()
    if name == "local":
        return LocalBackend()
    if name != "dask":
        raise BackendError(f"Unknown forecast backend {name!r}: use 'local' (this machine) or "
                           f"'dask' (a Dask cluster).", evidence={"backend": name},
                           code="bad_backend")
    if not scheduler:
        raise BackendError(f"The Dask backend needs a scheduler address: pass --scheduler "
                           f"tcp://HOST:8786 or set {SCHEDULER_ENV}.", code="no_scheduler")
    return DaskBackend(scheduler, shared_dir=os.environ.get(SHARED_DIR_ENV) or None)


class LocalBackend:
    """Today's run in this process (and its local worker processes)."""

    name = "local"

    def describe(self) -> str:
        return "this machine"

    def forecast(self, wh, cfg: ForecastConfig, progress=None, plan_version=None):
        from engine.forecast.pipeline import forecast_full
        from engine.forecast.inputs import read_signals
        from engine.warehouse.sales_history import read_history
        from engine.warehouse.plans import plan_rows

        history = read_history(wh, cfg.cutoff)
        signals = read_signals(wh)
        return forecast_full(history, signals, cfg, progress=progress,
                             plan_rows=None if plan_version is None
                             else plan_rows(wh, plan_version))

    def backtest(self, wh, cfg: ForecastConfig, progress=None, with_plan: bool = False):
        from engine.forecast.backtest import backtest
        from engine.forecast.inputs import read_signals
        from engine.forecast.pipeline import prepare_history
        from engine.warehouse.sales_history import read_history

        h, c = prepare_history(read_history(wh, cfg.cutoff), cfg)
        return backtest(h, read_signals(wh), c, progress=progress, normalized=True,
                        with_plan=with_plan), c


# ---- partitions ---------------------------------------------------------------------------
def assign_partitions(cells: pd.DataFrame, max_series: int = PARTITION_SERIES) -> pd.DataFrame:
    """`cells` (category, state, city, n_series, n_rows) with `part`: whole category x
    state cells packed in order into partitions of at most `max_series` series (small
    cells share one, so a task is worth its overhead); a category x state with more is
    split into groups of whole cities (a city larger than that stays whole)."""
    out = cells.sort_values(["category", "state", "city"]).reset_index(drop=True)
    part = np.empty(len(out), dtype=np.int64)
    k, size = 0, 0
    for _, rows in out.groupby(["category", "state"], sort=False).indices.items():
        n = out["n_series"].to_numpy()[rows]
        units = [rows] if n.sum() <= max_series else [[r] for r in rows]
        for unit in units:
            m = int(out["n_series"].to_numpy()[unit].sum())
            if size > 0 and size + m > max_series:
                k, size = k + 1, 0
            part[unit] = k
            size += m
    out["part"] = part
    return out


def _read_partition(path: str) -> pd.DataFrame:
    from engine.forecast.features import normalize_history

    h = pd.read_parquet(path).drop(columns=["part"], errors="ignore")
    h = h.sort_values([*KEYS, "date"], kind="stable").reset_index(drop=True)
    return normalize_history(h)


def _small(result: dict) -> dict:
    """A map-1 result without its training rows (they stay on the worker)."""
    return {k: v for k, v in result.items() if k != "rows"}


def _panel_path(path: str, k: int) -> str:
    """Where map 1 leaves partition `path`'s panel at origin index `k` for map 2 (in the
    run folder, removed with it)."""
    return os.path.join(os.path.dirname(path), "panels", f"{os.path.basename(path)}-{k}.pkl")


def _history_path(path: str) -> str:
    """Where map 1 leaves partition `path`'s normalised history for map 2."""
    return os.path.join(os.path.dirname(path), "panels", f"{os.path.basename(path)}-history.pkl")


def _drivers_path(path: str) -> str:
    """Where map 2 leaves partition `path`'s drivers inputs for task_drivers."""
    return os.path.join(os.path.dirname(path), "panels", f"{os.path.basename(path)}-drivers.pkl")


def _pickle_to(obj, to: str) -> None:
    import pickle

    os.makedirs(os.path.dirname(to), exist_ok=True)
    tmp = f"{to}.{os.getpid()}.tmp"         # a retried task never reads a half-written file
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, to)


def _partition_history(path: str) -> pd.DataFrame:
    """Map 2's history of partition `path`: the normalised frame map 1 left (no second
    Parquet read, sort and normalisation), or the Parquet when map 1 left none."""
    h = _load_panel(_history_path(path))
    return h if h is not None else _read_partition(path)


def _save_panel(panel, names, to: str) -> None:
    """What map 2 reads of a panel built in map 1, pickled to `to`: the frame and the
    featurised future rows (map 2 only predicts with the pooled global models; every
    featurised row when a per-series model reads features, as Prophet does)."""
    from engine.forecast.registry import model_class

    if not any(model_class(m).scope == "per_series" and model_class(m).needs_features
               for m in names):
        panel = replace(panel, rows=panel.future)
    _pickle_to(panel, to)


def _load_panel(at: str):
    """The panel (or history) map 1 left at `at`, or None (not left there: map 2 builds
    the panel, reads the Parquet)."""
    import pickle

    if not os.path.exists(at):
        return None
    with open(at, "rb") as fh:
        return pickle.load(fh)


def _partition_signals(signals, h: pd.DataFrame):
    """`signals` with the weather of this partition's cities only: the weather features
    read a PIN's city's weather and that city's climate normal, one city at a time, so
    the other cities' rows only cost time (the normal is computed per city for every
    panel)."""
    if signals is None or signals.weather is None or signals.locations is None or \
            "city" not in signals.weather or not {"pin_code", "city"} <= set(signals.locations):
        return signals
    loc = signals.locations
    cities = loc.loc[loc["pin_code"].isin(h["pin_code"].unique()), "city"].unique()
    return replace(signals, weather=signals.weather[signals.weather["city"].isin(cities)])


# ---- the tasks that run on the workers ---------------------------------------------------------
class _StepClock:
    """Per-step timers of a task body on its worker: wall seconds, CPU seconds of the
    task's own thread (less than wall when the thread waits for a core or for I/O) and
    the process's page faults, so the benchmark can tell work from waiting."""

    def __init__(self):
        import resource

        self._res = resource
        self.t0 = self.t = time.perf_counter()
        self.c = time.thread_time()
        self.f = self._faults()
        self.steps: dict = {}

    def _faults(self) -> int:
        return self._res.getrusage(self._res.RUSAGE_SELF).ru_minflt

    def step(self, name: str) -> None:
        t, c, f = time.perf_counter(), time.thread_time(), self._faults()
        self.steps[name] = (round(t - self.t, 3), round(c - self.c, 3), f - self.f)
        self.t, self.c, self.f = t, c, f

    def total(self) -> float:
        return time.perf_counter() - self.t0


def _final_plan(h, signals, cfg: ForecastConfig, plan_rows):
    """The stored plan's rows for this partition's series over the horizon (None: none)."""
    from engine.forecast.plan import horizon_plan

    if plan_rows is None:
        return None
    plan = horizon_plan(plan_rows, h, signals, cfg.cutoff, cfg.horizon, cfg.grain)
    return plan if len(plan) else None


def task_training_rows(path: str, signals, cfg: ForecastConfig, cutoffs: list, plan_rows,
                       share: float, whole, final: bool = True) -> dict:
    """Map 1: {"rows": {(origin index, global model): its training rows on this
    partition, a seeded sample of `share` x cfg.lgb_max_rows rows when there are more},
    "top": {(origin index, top_n setting): this partition's top series by recent demand},
    "planned": rows of the stored plan for this partition}. Origin index len(cutoffs) is
    the final cutoff (`final=False`, a backtest alone: the fold origins only). Training
    rows are history rows: the plan (future rows) does not change them. `whole`: the
    whole file's sums (features.WholeFile) the data-gap and chain-wide promotion rules
    read instead of this partition's rows."""
    from engine.forecast.registry import model_class
    from engine.forecast.runner import (build_cutoff_panel, global_models, global_training_rows,
                                        top_candidates)

    h = _read_partition(path)
    _pickle_to(h, _history_path(path))          # map 2 reads it, not the Parquet again
    signals = _partition_signals(signals, h)
    names = tuple(cfg.models)
    settings = sorted({model_class(m).top_n for m in names} - {None})
    final_plan = _final_plan(h, signals, cfg, plan_rows) if final else None
    quota = max(1, int(np.ceil(share * cfg.lgb_max_rows)))
    out: dict = {}
    top: dict = {}
    origins = [*cutoffs, pd.Timestamp(cfg.cutoff)] if final else list(cutoffs)
    for k, cut in enumerate(origins if global_models(names) or settings else []):
        if h["date"].min() > cut:          # no series of this partition has begun yet
            continue
        panel = build_cutoff_panel(h, signals, cfg, names, cutoff=cut,
                                   future_prices=final_plan if k == len(cutoffs) else None,
                                   whole=whole)
        for name in global_models(names):
            rows = global_training_rows(panel, name, cfg, quota=quota, seed=cfg.seed + k)
            out[(k, name)] = rows.drop(columns=["sid", "pos"], errors="ignore")
        for setting in settings:
            top[(k, setting)] = top_candidates(panel, getattr(cfg, setting))
        _save_panel(panel, names, _panel_path(path, k))      # map 2 does not build it again
        del panel
    return {"rows": out, "top": top,
            "planned": 0 if final_plan is None else len(final_plan)}


def task_fit_global(name: str, cfg: ForecastConfig, cutoff, key, samples: list):
    """Fit the global model `name` for one origin on the pooled rows of every partition,
    in the local run's row order (series sorted by SKU then PIN, then date)."""
    from engine.forecast.registry import make_model

    parts = [s["rows"][key] for s in samples if key in s["rows"]]
    rows = pd.concat(parts, ignore_index=True)
    order = np.lexsort([rows["date"].to_numpy(), rows["pin_code"].astype(str).to_numpy(),
                        rows["sku_id"].astype(str).to_numpy()])
    rows = rows.iloc[order].reset_index(drop=True)
    rows.attrs["cutoff"] = pd.Timestamp(cutoff)
    return make_model(name).fit(rows, cfg)


def task_partition(path: str, signals, cfg: ForecastConfig, cutoffs: list, plan_rows,
                   with_plan: bool, fitted: dict, top: dict, whole, gaps,
                   final: bool = True) -> dict:
    """Map 2: the backtest points and the final fit's pieces of one partition (the
    drivers' inputs are left in the run folder for task_drivers: "drivers" names their
    model, None without one), with the global models fitted on the pooled rows
    (`fitted`: (origin index, name) -> model) and the top series chosen across
    partitions (`top`: origin index -> {top_n setting: keys}). Per-series models fit in
    this worker process (workers=1: the cluster's workers are the parallelism). `whole`: the whole file's sums
    (features.WholeFile); `gaps`: (data_gaps over the whole file, its last date) or
    None: backtest rows in those periods are not scored. `final=False` (a backtest alone):
    the folds only, no final fit ("pieces" and "drivers" None)."""
    from engine.forecast.backtest import backtest_points
    from engine.forecast.pipeline import driver_inputs, driver_model, final_pieces
    from engine.forecast.runner import fit_predict

    clock = _StepClock()
    cfg = cfg.with_(workers=1)
    h = _partition_history(path)
    signals = _partition_signals(signals, h)
    final_plan = _final_plan(h, signals, cfg, plan_rows) if with_plan and final else None
    clock.step("read")
    prefit = {}
    for (k, name), model in fitted.items():
        prefit.setdefault(k, {})[name] = model
    points = None
    if cutoffs:
        # map 1 built each fold's panel without a plan: with one, a fold's panel holds
        # the prices actually charged in its horizon (plan.actual_plan) and is built here
        points = backtest_points(h, signals, cfg, cutoffs, with_plan=with_plan,
                                 prefit=prefit, top=top, gaps=gaps, whole=whole,
                                 panels=None if with_plan else
                                 (lambda k: _load_panel(_panel_path(path, k))))
    clock.step("backtest")
    if not final:
        return {"points": points, "pieces": None, "drivers": None, "planned_rows": 0,
                "series": int(h[KEYS].drop_duplicates().shape[0]), "seconds": clock.total(),
                "steps": clock.steps}
    # the final panel: map 1 built it with this partition's plan rows, as here
    final = fit_predict(h, signals, cfg, cutoff=cfg.cutoff, normalized=True,
                        future_prices=final_plan, prefit=prefit.get(len(cutoffs)),
                        top=top.get(len(cutoffs)), whole=whole,
                        panel=_load_panel(_panel_path(path, len(cutoffs))))
    pieces = final_pieces(final)
    clock.step("final")
    model = driver_model(final.fitted)
    if model is not None:      # the drivers run while the calling process reduces
        _, rows, fc, own = driver_inputs(final, final.panel.future, model)
        _pickle_to((rows, fc, own), _drivers_path(path))
    clock.step("drivers_saved")
    return {"points": points, "pieces": pieces, "drivers": None if model is None else model.name,
            "planned_rows": 0 if final_plan is None else len(final_plan),
            "series": int(len(pieces.series)), "seconds": clock.total(),
            "steps": clock.steps}


def task_drivers(path: str, model) -> pd.DataFrame:
    """The LightGBM drivers of one partition's final forecasts (drivers.driver_frame) from
    the inputs map 2 left in the run folder, with the final global `model`. Run after map
    2, while the calling process reduces (the local run computes them alongside its
    reduce too)."""
    from engine.forecast.drivers import driver_frame

    rows, fc, own = _load_panel(_drivers_path(path))
    return driver_frame(model, rows, fc, own=own)


# ---- the Dask backend -----------------------------------------------------------------------
@dataclass
class RunInputs:
    """What DaskBackend.export prepares for the maps (step 1)."""
    cfg: ForecastConfig              # grain and cutoff set
    cut: pd.Timestamp
    cutoffs: list                    # the backtest's fold origins
    gaps: tuple | None               # (data_gaps over the whole file, its last date)
    whole: object                    # features.WholeFile
    paths: list                      # a Parquet folder per partition, in partition order
    share: dict                      # path -> its share of the history rows
    series: dict                     # path -> its number of series
    signals: object                  # features.Signals with the run's vocabularies
    plan_rows: pd.DataFrame | None
    timings: dict


def _cores_per_worker(client) -> int:
    """The cores a worker process has to itself: its machine's cores shared by the worker
    processes on that machine (the fewest over the cluster's machines; at least 1)."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    cores = client.run(os.cpu_count)
    per_host: dict = {}
    for addr, info in workers.items():
        per_host.setdefault(info.get("host", addr), []).append(addr)
    return max(1, min((min(cores.get(a) or 1 for a in addrs) // len(addrs)
                       for addrs in per_host.values()), default=1))


class DaskBackend:
    """The run on an existing Dask cluster (see the module docstring)."""

    name = "dask"

    def __init__(self, scheduler, shared_dir: str | None = None,
                 partition_series: int = PARTITION_SERIES):
        self.scheduler = scheduler          # an address, or a distributed.Client
        self.shared_dir = shared_dir
        self.partition_series = partition_series

    def describe(self) -> str:
        return f"the Dask cluster at {self.address}"

    @property
    def address(self) -> str:
        if isinstance(self.scheduler, str):
            return self.scheduler
        return getattr(getattr(self.scheduler, "scheduler", None), "address", "") or "?"

    def _client(self):
        from distributed import Client

        if not isinstance(self.scheduler, str):
            return self.scheduler, False
        try:
            return Client(self.scheduler, timeout=CONNECT_TIMEOUT_S,
                          set_as_default=False), True
        except (OSError, TimeoutError) as exc:
            raise BackendError(
                f"Could not reach the Dask scheduler at {self.scheduler} within "
                f"{CONNECT_TIMEOUT_S} s: check the address and that the scheduler is running "
                f"(or run with --backend local).", evidence={"scheduler": self.scheduler},
                code="cluster_unreachable") from exc

    def forecast(self, wh, cfg: ForecastConfig, progress=None, plan_version=None):
        """The forecast run on the cluster (a ForecastResult, as LocalBackend.forecast)."""
        return self._on_cluster("forecast run", progress, lambda client, say, folder: self._run(
            client, wh, cfg, say, plan_version, folder))

    def backtest(self, wh, cfg: ForecastConfig, progress=None, with_plan: bool = False):
        """The backtest alone on the cluster: the maps over the fold origins, no final fit
        (points finished by backtest.finish_backtest, as LocalBackend.backtest)."""
        return self._on_cluster("backtest", progress, lambda client, say, folder: self._run(
            client, wh, cfg, say, None, folder, final=False, with_plan=with_plan))

    def _on_cluster(self, what: str, progress, run):
        """`run(client, say, folder)` with a connected client and a fresh run folder
        (removed afterwards); a lost worker or scheduler becomes BackendError
        cluster_failed."""
        from distributed import CancelledError, KilledWorker
        from distributed.comm.core import CommClosedError

        say = progress or (lambda msg: None)
        client, own = self._client()
        folder = None
        try:
            try:     # workers started together with the run may still be joining
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except TimeoutError:
                pass
            n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            if n_workers == 0:
                raise BackendError(f"The Dask cluster at {self.address} has no "
                                   f"workers: start some with `dask worker ADDRESS`.",
                                   code="no_workers")
            say(f"cluster 0%: {self.describe()} with {n_workers} worker(s)")
            folder = tempfile.mkdtemp(prefix="micropulse-run-", dir=self.shared_dir)
            return run(client, say, folder)
        except (KilledWorker, CommClosedError, CancelledError, OSError, TimeoutError) as exc:
            raise BackendError(
                f"The {what} on {self.describe()} failed: a worker or the scheduler was "
                f"lost ({type(exc).__name__}). Nothing was saved; run it again when the "
                f"cluster is healthy.", evidence={"error": str(exc)[:300]},
                code="cluster_failed") from exc
        finally:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
            if own:
                client.close()

    def export(self, wh, cfg: ForecastConfig, say, plan_version, folder: str,
               final: bool = True) -> "RunInputs":
        """Step 1, in the calling process: the whole-file sums, the fold origins and the
        history exported by DuckDB to Parquet, one folder per partition in `folder`.
        A history too short for a backtest: the forecast goes on without one, a backtest
        alone (`final=False`) raises."""
        from engine.forecast.backtest import fold_origins
        from engine.forecast.features import WholeFile
        from engine.forecast.inputs import read_signals
        from engine.warehouse.sales_history import export_history, history_cells
        from engine.warehouse.grain import sales_grain
        from engine.warehouse.plans import plan_rows as read_plan_rows

        t0 = time.perf_counter()
        timings: dict = {}
        cells = history_cells(wh, cfg.cutoff)
        if cells.empty:
            raise ForecastError("There is no sales history to forecast from.", code="no_history")
        first, last = pd.Timestamp(cells["first_date"].min()), pd.Timestamp(cells["last_date"].max())
        cut = pd.Timestamp(cfg.cutoff) if cfg.cutoff is not None else last
        cfg = cfg.with_(grain=cfg.grain or sales_grain(wh), cutoff=cut.date())
        # what the data-gap and chain-wide promotion rules read about the whole file, by
        # DuckDB before partitioning: small per-day sums every partition gets, so each
        # judges a gap or a chain-wide promotion as the local run does
        t1 = time.perf_counter()
        whole = WholeFile.of_warehouse(wh, cut)
        timings["whole_file"] = round(time.perf_counter() - t1, 2)
        gaps = None
        try:
            cutoffs, fold_gaps = fold_origins(first, last, cfg, whole)
            gaps = (fold_gaps, last) if len(fold_gaps) else None
        except ForecastError as exc:
            if exc.code != "history_too_short" or not final:
                raise
            say("history too short for a backtest: no routing, negative-binomial intervals")
            cutoffs = []
        cells = assign_partitions(cells, self.partition_series)
        export_history(wh, cfg.cutoff, folder, cells)
        paths = sorted(glob.glob(os.path.join(folder, "part=*")),
                       key=lambda p: int(p.rsplit("=", 1)[1]))
        rows = cells.groupby("part")["n_rows"].sum()
        n_series = cells.groupby("part")["n_series"].sum()
        part = {p: int(p.rsplit("=", 1)[1]) for p in paths}
        timings["export"] = round(time.perf_counter() - t0, 2)
        say(f"cluster 5%: history exported in {len(paths)} partitions (category x state) "
            f"({timings['export']:.1f} s)")
        named = [c for c in cells["category"].unique() if c]
        vocab = {"category": sorted(named),
                 "city": sorted(c for c in cells["city"].unique() if c),
                 "state": sorted(s for s in cells["state"].unique() if s)}
        return RunInputs(
            cfg=cfg, cut=cut, cutoffs=cutoffs, gaps=gaps, whole=whole, paths=paths,
            share={p: float(rows.loc[part[p]]) / float(rows.sum()) for p in paths},
            series={p: int(n_series.loc[part[p]]) for p in paths},
            signals=replace(read_signals(wh), vocabularies=vocab),
            plan_rows=read_plan_rows(wh, plan_version) if plan_version is not None else None,
            timings=timings)

    def _run(self, client, wh, cfg: ForecastConfig, say, plan_version, folder: str,
             final: bool = True, with_plan: bool | None = None):
        """The maps, the global fits and the reduce. `final=False`: a backtest alone (no
        final fit, drivers or routing; returns (finished backtest points, cfg)), with
        `with_plan` given; a forecast uses the plan when it has rows in the horizon."""
        from engine.forecast.backtest import finish_backtest
        from engine.forecast.features import data_gaps, gap_runs
        from engine.forecast.pipeline import FinalPieces, ForecastResult, reduce_run
        from engine.forecast.runner import global_models, pick_top

        t0 = time.perf_counter()
        run = self.export(wh, cfg, say, plan_version, folder, final=final)
        cfg, cut, cutoffs, gaps, whole = run.cfg, run.cut, run.cutoffs, run.gaps, run.whole
        paths, share, signals, plan_rows, timings = (run.paths, run.share, run.signals,
                                                     run.plan_rows, run.timings)
        sig_f = client.scatter(signals, broadcast=True, hash=False)
        whole_f = client.scatter(whole, broadcast=True, hash=False)
        plan_f = client.scatter(plan_rows, broadcast=True, hash=False) \
            if plan_rows is not None else None

        fitted = {}
        glob_names = global_models(cfg.models)
        t1 = time.perf_counter()
        # each map submits the largest partitions first (Dask runs a higher priority
        # first): a small one, not a large one, is then what runs last
        samples = [client.submit(task_training_rows, p, sig_f, cfg, cutoffs, plan_f,
                                 share[p], whole_f, final, pure=False, priority=run.series[p])
                   for p in paths]
        small = self._wait(samples, say, 5, 30, "training rows from partition", gather=True,
                           keep=False)
        planned = sum(s["planned"] for s in small)
        top: dict = {}           # origin -> {top_n setting: the top series of the chain}
        for (k, setting) in sorted({key for s in small for key in s["top"]}):
            top.setdefault(k, {})[setting] = pick_top(
                [s["top"][(k, setting)] for s in small if (k, setting) in s["top"]],
                getattr(cfg, setting))
        if final:                    # as on one machine: a plan with rows in the horizon
            with_plan = planned > 0
        timings["map_training_rows"] = round(time.perf_counter() - t1, 2)
        if glob_names:
            t1 = time.perf_counter()
            origins = [*cutoffs, cut] if final else cutoffs
            # each fit runs on one worker process, alongside the others' fits: threads for
            # the cores that process has, not the calling machine's setting
            fit_cfg = cfg.with_(workers=_cores_per_worker(client))
            for k, c in enumerate(origins):
                for name in glob_names:
                    fitted[(k, name)] = client.submit(task_fit_global, name, fit_cfg, c,
                                                      (k, name), samples, pure=False)
            self._wait(list(fitted.values()), say, 30, 45,
                       f"{', '.join(glob_names)} fitted on the pooled rows, origin")
            del samples
            timings["fit_global"] = round(time.perf_counter() - t1, 2)
        t1 = time.perf_counter()
        runs = [client.submit(task_partition, p, sig_f, cfg, cutoffs, plan_f, with_plan,
                              fitted, top, whole_f, gaps, final, pure=False,
                              priority=run.series[p])
                for p in paths]
        # the partitions' drivers (task_drivers) are submitted once no map-2 task waits
        # for a worker (a worker would run one before a waiting map 2): they fill map 2's
        # last round and run while this process reduces
        final_k = len(cutoffs)
        n_workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        driver_runs, pending, arrived = {}, [], []

        def drivers_of(i, r):
            arrived.append(i)
            if r["drivers"] is not None:
                pending.append((i, r["drivers"]))
            if len(arrived) >= len(paths) - n_workers:
                for j, name in pending:
                    driver_runs[j] = client.submit(task_drivers, paths[j],
                                                   fitted[(final_k, name)], pure=False,
                                                   priority=-1)
                pending.clear()
        results = self._wait(runs, say, 45, 90, "backtest and forecast of partition"
                             if final else "backtest of partition",
                             gather=True, then=drivers_of)
        timings["map_partitions"] = round(time.perf_counter() - t1, 2)
        timings["partition_seconds_max"] = round(max(r["seconds"] for r in results), 2)
        for r in results:       # map 2's steps summed over partitions: wall / task-thread CPU
            for step, (wall, cpu, _) in r["steps"].items():
                for kind, sec in (("wall", wall), ("cpu", cpu)):
                    key = f"map2_{step}_{kind}"
                    timings[key] = round(timings.get(key, 0) + sec, 2)
        t1 = time.perf_counter()
        say("cluster 90%: reduce - backtest intervals" + (
            ", routing and conformal calibration" if final else "") + " over every series")
        points = [r["points"] for r in results if r["points"] is not None]
        bt = finish_backtest(pd.concat(points, ignore_index=True), cfg, with_plan) \
            if points else None
        timings["reduce_intervals"] = round(time.perf_counter() - t1, 2)
        if not final:
            return bt, cfg
        final_models = {name: fitted[(len(cutoffs), name)].result() for name in glob_names}
        pieces = FinalPieces.concat([r["pieces"] for r in results])
        del results, points
        out, routing, bt_all, method = reduce_run(bt, pieces, cfg, say)
        notes = gap_runs(data_gaps(None, cut, cfg.grain, whole), cfg.grain)
        for gap in notes:
            say(gap["note"])
        timings["reduce"] = round(time.perf_counter() - t1, 2)
        t1 = time.perf_counter()
        drivers = self._wait([driver_runs[i] for i in sorted(driver_runs)], say, 95, 99,
                             "forecast drivers of partition", gather=True)
        timings["drivers_wait"] = round(time.perf_counter() - t1, 2)
        timings["total"] = round(time.perf_counter() - t0, 2)
        timings["partitions"] = len(paths)
        drivers = pd.concat(drivers, ignore_index=True) if drivers else None
        if drivers is not None:
            drivers = drivers.sort_values([*KEYS, "date"], kind="stable").reset_index(drop=True)
        return ForecastResult(run_id=None, forecasts=out, routing=routing, backtest=bt_all,
                              drivers=drivers, cutoff=cut, grain=cfg.grain, horizon=cfg.horizon,
                              timings=timings, interval_method=method, fitted=final_models,
                              planned_rows=int(planned) if with_plan else 0, data_gaps=notes)

    @staticmethod
    def _wait(futures: list, say, start: float, end: float, what: str, gather: bool = False,
              keep: bool = True, then=None):
        """Wait for `futures`, saying each one done as a share of start..end percent;
        with gather=True return their results in submission order, each released on the
        cluster as soon as it is here (keep=False: only the small parts of dict results,
        not their "rows", which stay on the workers for the global fits); `then(i, result)`
        is called as each result arrives."""
        from distributed import as_completed

        at = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(futures)
        if not futures:
            return []
        for done, fut in enumerate(as_completed(futures, loop=futures[0].client.loop), 1):
            if gather and keep:
                results[at[fut.key]] = fut.result()
                fut.release()     # the worker frees it now, not when the whole run ends
            elif gather:
                results[at[fut.key]] = fut.client.submit(_small, fut, pure=False).result()
            elif fut.status == "error":
                fut.result()                 # raises the task's error here
            if then is not None:
                then(at[fut.key], results[at[fut.key]])
            pct = start + (end - start) * done / max(len(futures), 1)
            say(f"cluster {pct:.0f}%: {what} {done}/{len(futures)} done")
        return results
