"""The routed forecast on this machine (LocalBackend) vs a Dask cluster of 2 worker processes
(DaskBackend on a distributed.LocalCluster) on synthetic series written to a temp warehouse:
wall time, where the Dask run's time goes (export, map 1 training rows, global fits, map 2
backtest + forecast per partition, reduce), peak memory of each worker and of this process,
and a worked estimate for 1M series on 32 workers from the measured per-series costs; and
the whole-file sums every partition receives for the data-gap and chain-wide promotion
rules (features.WholeFile): their rows and pickled size against the history's, and the
time DuckDB takes for them over the warehouse and over the history frame.

    .venv/bin/python benchmarks/bench_dask.py --sizes 5000 10000 25000
    .venv/bin/python benchmarks/bench_dask.py --sizes 25000 --sums-only
    .venv/bin/python benchmarks/bench_dask.py --sizes 100000 --no-write   # not stored
    .venv/bin/python benchmarks/bench_dask.py --sizes 20000 --profile    # + one partition

`--profile` runs the largest partition's map 1, global fits, map 2 and drivers in one fresh
process under cProfile (as a worker runs them, one thread) and prints the seconds of each step
(Parquet read, feature panels, training rows, panel save / read, LightGBM predictions,
drivers) and the pickled size of each task's result.

Every run prints the 1-minute load average at its start and end (the machine is shared),
the peak RSS of this process and of each worker per phase and the CPU seconds per phase of
this process, of the workers and of every other process on the machine (psutil, every
0.25 s: other work that takes cores from the run shows there), and map 2's steps summed
over its partitions as timed inside the task on the worker (`map2_<step>_wall` and
`_cpu`, the task thread's CPU: less than wall when it waits for a core).

Each size runs in fresh processes (peak RSS is a lifetime high). Models: the daily defaults
(seasonal naive, moving average, TSB, LightGBM), 1 backtest fold, horizon 28.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from engine.forecast.config import ForecastConfig  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _cpu_s() -> float:
    """CPU seconds of this process so far, its threads and waited-for children included."""
    return sum(os.times()[:4])


class MemorySampler:
    """Samples the RSS of given processes (this one, each Dask worker) every `every`
    seconds on a thread, keeping each process's peak per phase of the run; `phase` is set
    from the run's progress messages (`on_progress`) and by the caller."""

    DASK_PHASES = [("history exported", "map 1"), ("training rows from partition", "global fit"),
                   ("fitted on the pooled rows", "map 2"), ("reduce -", "reduce")]

    def __init__(self, pids: dict, every: float = 0.25):
        import psutil

        self.psutil = psutil
        self.procs = {label: psutil.Process(pid) for label, pid in pids.items()}
        self.every, self.phase, self.scores_s = every, "start", None
        self.peaks: dict = {}                 # (label, phase) -> GB
        self.cpu: dict = {}                   # (label, phase) -> CPU seconds in the phase
        self._last_cpu: dict = {}             # (label, pid) -> CPU seconds at the last sample
        self.started: dict = {}               # phase -> perf_counter at its start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def set_phase(self, phase: str) -> None:
        self.sample()
        self.phase = phase
        self.started.setdefault(phase, time.perf_counter())

    def on_progress(self, msg: str) -> None:
        """A Dask run's progress message: a phase changes when its last task is done."""
        if msg.startswith("accuracy tables stored ("):      # the write's second part
            self.scores_s = float(msg.split("(", 1)[1].split()[0])
        for text, nxt in self.DASK_PHASES:
            if text in msg and (not msg.endswith(" done") or _all_done(msg)):
                self.set_phase(nxt)

    def _cpu_now(self) -> dict:
        """CPU seconds so far per process of this run, keyed (label, pid): each sampled
        process (a Dask worker, this one) and this process's other live descendants
        (the local run's worker processes, a LocalCluster's nannies) as this process's;
        and ("machine", 0): every process on the machine, the others' share being the
        difference."""
        out = {}
        workers = {p.pid for label, p in self.procs.items() if label != "client"}
        client = self.procs.get("client")
        try:
            kids = client.children(recursive=True) if client is not None else []
        except Exception:
            kids = []
        procs = [(label, p) for label, p in self.procs.items()] + \
            [("client", p) for p in kids if p.pid not in workers]
        for label, proc in procs:
            try:
                t = proc.cpu_times()
            except Exception:                # ended: its CPU up to the last sample stays
                continue
            out[(label, proc.pid)] = t.user + t.system
        m = self.psutil.cpu_times()
        out[("machine", 0)] = m.user + m.system + getattr(m, "nice", 0) + \
            getattr(m, "irq", 0) + getattr(m, "softirq", 0)
        return out

    def sample(self) -> None:
        for label, proc in self.procs.items():
            try:
                gb = proc.memory_info().rss / 1024 ** 3
            except Exception:             # a worker restarted: its peak so far stays
                continue
            key = (label, self.phase)
            self.peaks[key] = max(self.peaks.get(key, 0.0), gb)
        first = not self._last_cpu             # a process started later counts from 0
        for (label, pid), c in self._cpu_now().items():
            if (label, pid) not in self._last_cpu and not first and label != "machine":
                self._last_cpu[label, pid] = 0.0
            if (label, pid) in self._last_cpu:
                key = (label, self.phase)
                grew = max(0.0, c - self._last_cpu[label, pid])
                self.cpu[key] = self.cpu.get(key, 0.0) + grew
            self._last_cpu[label, pid] = c

    def cpu_by_phase(self) -> dict:
        """{phase: {"this process": s, "workers": s, "other processes": s}}: CPU seconds in
        each phase (sampled: up to 0.25 s of a process that ends is missed); `this
        process` includes its local worker processes; `other processes` is the machine's
        CPU time less this run's (other work, e.g. other engineers' jobs, which takes
        cores from the run)."""
        out: dict = {}
        for (label, phase), sec in self.cpu.items():
            row = out.setdefault(phase, {"this process": 0.0, "workers": 0.0, "machine": 0.0})
            name = "this process" if label == "client" else \
                "machine" if label == "machine" else "workers"
            row[name] += sec
        for row in out.values():
            machine = row.pop("machine")
            row["other processes"] = max(0.0, machine - row["this process"] - row["workers"])
            for k in row:
                row[k] = round(row[k], 1)
        return out

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()

    def by_phase(self) -> dict:
        """{label: {phase: peak GB}} in phase order."""
        out: dict = {}
        for (label, phase), gb in self.peaks.items():
            out.setdefault(label, {})[phase] = round(gb, 2)
        return out


def _all_done(msg: str) -> bool:
    """'... 3/3 done' -> True."""
    tail = msg.rsplit(" ", 2)
    if len(tail) < 3 or tail[2] != "done" or "/" not in tail[1]:
        return False
    k, n = tail[1].split("/", 1)
    return k == n


class _Timed:
    """A backend whose run ends a phase: the time after it is the write."""

    def __init__(self, inner, sampler: MemorySampler):
        self.inner, self.sampler, self.name = inner, sampler, inner.name

    def forecast(self, *args, **kwargs):
        res = self.inner.forecast(*args, **kwargs)
        self.sampler.set_phase("write")
        return res


def _load(n: int, days: int, path: Path) -> None:
    """The synthetic panel (engine.forecast.synthetic) as sales_daily, skus, locations and
    weather of a new warehouse."""
    from engine.forecast.synthetic import synthetic_panel

    history, signals = synthetic_panel(n, days, seed=7)
    sales = history.assign(revenue=history["quantity"] * history["price"].fillna(0.0))
    frames = {"sales_daily": sales, "skus": signals.skus, "locations": signals.locations,
              "weather": signals.weather}
    wh = Warehouse(path)
    with wh.transaction() as cur:
        for table, df in frames.items():
            cols = [c for c in df.columns
                    if c in set(wh.query(f"SELECT * FROM {table} LIMIT 0").columns)]
            cur.register("bench_frame", df[cols])
            cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) "
                        f"SELECT {', '.join(cols)} FROM bench_frame")
            cur.unregister("bench_frame")
    wh.close()


def one_run(backend: str, path: str, partition_series: int, write: bool = True) -> dict:
    """One forecast run in this process, written to the warehouse as the CLI writes it
    (one transaction, then the accuracy tables); returns its figures: phase times (the
    write timed here), the peak RSS of this process (client and, on a LocalCluster, the
    scheduler) and of each worker per phase, sampled every 0.25 s, and each process's
    lifetime high (VmHWM). write=False: the run is not stored (no write phase)."""
    from engine.forecast.backends import DaskBackend, LocalBackend
    from engine.forecast.pipeline import run_forecast

    cfg = ForecastConfig(horizon=28, folds=1, workers=2)
    wh = Warehouse(path)
    out: dict = {"backend": backend}
    client = cluster = None
    pids = {"client": os.getpid()}
    if backend == "local":
        inner = LocalBackend()
    else:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0", memory_limit=0)
        client = Client(cluster, set_as_default=False)
        client.run(lambda: __import__("engine.forecast.backends"))   # warm imports
        out["worker_start_gb"] = sorted(client.run(_peak_gb).values())
        workers = client.run(os.getpid)
        pids.update({f"worker {i + 1}": pid for i, pid in enumerate(workers.values())})
        inner = DaskBackend(client, partition_series=partition_series)
    with MemorySampler(pids) as mem:
        mem.set_phase("export" if client is not None else "forecast")
        workers_cpu = client.run(_cpu_s) if client is not None else {}
        t, cpu = time.perf_counter(), _cpu_s()
        res = run_forecast(wh, cfg, persist=write, backend=_Timed(inner, mem),
                           progress=mem.on_progress)
        end = time.perf_counter()
    # CPU seconds, which the other work on a shared machine moves far less than wall time
    out.update(wall=end - t, cpu=_cpu_s() - cpu)
    if client is not None:
        out["workers_cpu"] = sum(v - workers_cpu[k] for k, v in client.run(_cpu_s).items())
    out["memory"] = mem.by_phase()
    out["cpu_by_phase"] = mem.cpu_by_phase()
    if client is not None:
        out["worker_peak_gb"] = sorted(client.run(_peak_gb).values())
        client.close()
        cluster.close()
    wh.close()
    out["timings"] = {k: v for k, v in res.timings.items() if not k.startswith("final_")}
    if write:
        out["timings"]["write"] = round(end - mem.started["write"], 2)
        out["timings"]["write_accuracy_tables"] = mem.scores_s
    bt = res.backtest
    for m in ("lightgbm", "routed"):
        g = bt[bt["model"] == m]
        out[f"wape_{m}"] = float((g["forecast"] - g["actual"]).abs().sum() / g["actual"].sum()
                                 * 100)
    out["series"] = int(res.forecasts[["sku_id", "pin_code"]].drop_duplicates().shape[0])
    out["driver_peak_gb"] = _peak_gb()
    return out


def whole_file_figures(path: Path) -> None:
    """The whole-file sums of the warehouse at `path`: size against the history, time."""
    import pickle

    from engine.forecast.features import WholeFile, normalize_history
    from engine.warehouse.sales_history import read_history

    wh = Warehouse(path, read_only=True)
    try:
        t = time.perf_counter()
        whole = WholeFile.of_warehouse(wh)
        t_wh = time.perf_counter() - t
        h = normalize_history(read_history(wh))
    finally:
        wh.close()
    t = time.perf_counter()
    WholeFile.of(h)
    t_frame = time.perf_counter() - t
    mb = len(pickle.dumps(whole)) / 1e6
    print(f"whole-file sums: {len(whole.pins):,} PIN-day + {len(whole.promotions):,} "
          f"SKU-promoted-day rows ({mb:.1f} MB pickled, sent to every worker) for "
          f"{len(h):,} history rows ({len(pickle.dumps(h)) / 1e6:.0f} MB); DuckDB "
          f"{t_wh:.2f} s over the warehouse, {t_frame:.2f} s over the history frame",
          flush=True)


PROFILED = [  # (label, module path suffix, function name): cumulative seconds in one partition
    ("read the partition's Parquet", "forecast/backends.py", "_read_partition"),
    ("feature panels", "forecast/features.py", "build_panel"),
    ("LightGBM training rows", "forecast/runner.py", "global_training_rows"),
    ("panels and history saved (map 1) / read (map 2)", "forecast/backends.py", "_pickle_to"),
    ("panels and history saved (map 1) / read (map 2)", "forecast/backends.py", "_load_panel"),
    ("LightGBM predictions", "forecast/models/lightgbm_model.py", "predict"),
    ("drivers (LightGBM contributions)", "forecast/drivers.py", "driver_frame"),
]


def profile_partition(path: Path, partition_series: int) -> None:
    """One partition's map 1, global fit and map 2 run in this process as a worker runs
    them (one thread: OMP_NUM_THREADS=1 as Dask's nanny sets it), under cProfile: the
    seconds of each step, the rest, and the pickled size of what each task returns. The
    global fit here learns from this partition's rows only (its share of the sample)."""
    import cProfile
    import pickle
    import pstats

    from engine.forecast.backends import (DaskBackend, task_drivers, task_fit_global,
                                          task_partition, task_training_rows)
    from engine.forecast.runner import global_models

    cfg = ForecastConfig(horizon=28, folds=1, workers=2)
    wh = Warehouse(path, read_only=True)
    with tempfile.TemporaryDirectory() as folder:
        try:
            run = DaskBackend(None, partition_series=partition_series).export(
                wh, cfg, lambda m: None, None, folder)
        finally:
            wh.close()
        p = max(run.paths, key=run.series.get)            # the largest partition
        cfg, names = run.cfg, global_models(run.cfg.models)

        def profiled(label, fn, *args):
            prof = cProfile.Profile()
            t = time.perf_counter()
            out = prof.runcall(fn, *args)
            wall = time.perf_counter() - t
            stats = pstats.Stats(prof).stats
            steps: dict = {}
            for (file, _, func), (_, _, _, cum, _) in stats.items():
                for name, suffix, fn_name in PROFILED:
                    if func == fn_name and file.endswith(suffix):
                        steps[name] = steps.get(name, 0.0) + cum
            size = len(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)) / 1e6
            parts = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
            print(f"{label}: {wall:.2f} s ({parts}, other {wall - sum(steps.values()):.2f}); "
                  f"result {size:.0f} MB pickled", flush=True)
            return out

        print(f"\n== one partition ({run.series[p]:,} series of {sum(run.series.values()):,}, "
              f"{len(run.paths)} partitions) in this process, 1 thread; load average "
              f"{os.getloadavg()[0]:.2f} ==", flush=True)
        sample = profiled("map 1 (training rows, panels built and saved)", task_training_rows,
                          p, run.signals, cfg, run.cutoffs, None, 1.0 / len(run.paths),
                          run.whole)
        fitted = {}
        t = time.perf_counter()
        for k, c in enumerate([*run.cutoffs, run.cut]):
            for name in names:
                fitted[(k, name)] = task_fit_global(name, cfg.with_(workers=1), c, (k, name),
                                                    [sample])
        print(f"global fits on this partition's rows only: {time.perf_counter() - t:.2f} s")
        res = profiled("map 2 (backtest, final forecast)", task_partition, p, run.signals,
                       cfg, run.cutoffs, None, False, fitted, {}, run.whole, run.gaps)
        for step, (wall, cpu, faults) in res["steps"].items():
            print(f"  map 2 step {step}: {wall:.2f} s wall, {cpu:.2f} s CPU of its thread, "
                  f"{faults:,} page faults", flush=True)
        if res["drivers"] is not None:
            profiled("drivers (after map 2, while the reduce runs)", task_drivers, p,
                     fitted[(len(run.cutoffs), res["drivers"])])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[5000, 10000, 25000])
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--partition-series", type=int, default=5000)
    ap.add_argument("--backends", nargs="+", default=["local", "dask"],
                    choices=["local", "dask"], help="e.g. dask only for worker memory")
    ap.add_argument("--sums-only", action="store_true",
                    help="only the whole-file sums' figures, no forecast runs")
    ap.add_argument("--no-write", action="store_true",
                    help="do not store the runs (the write holds the whole run in this "
                         "process: 12.6 GB at 50,000 series)")
    ap.add_argument("--profile", action="store_true",
                    help="also profile the largest partition's map 1, fits and map 2 in "
                         "a fresh process (where a worker's time goes)")
    ap.add_argument("--profile-one", metavar="WAREHOUSE", help=argparse.SUPPRESS)
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "WAREHOUSE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile_one:
        profile_partition(Path(args.profile_one), args.partition_series)
        return 0
    if args.one:
        print(json.dumps(one_run(args.one[0], args.one[1], args.partition_series,
                                 write=not args.no_write)))
        return 0
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          f"(shared with other work: wall times move with it)")
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.duckdb"
            t = time.perf_counter()
            _load(n, args.days, path)
            print(f"\n== {n:,} series x {args.days} days (warehouse written in "
                  f"{time.perf_counter() - t:.0f} s) ==", flush=True)
            whole_file_figures(path)
            if args.profile:        # a fresh process: a worker's environment, one thread
                done = subprocess.run([sys.executable, __file__, "--partition-series",
                                       str(args.partition_series), "--profile-one", str(path)],
                                      capture_output=True, text=True, cwd=REPO,
                                      env={**os.environ, "OMP_NUM_THREADS": "1"})
                print(done.stdout.rstrip() if done.returncode == 0 else done.stderr[-3000:],
                      flush=True)
            for backend in ([] if args.sums_only else args.backends):
                load = os.getloadavg()[0]
                print(f"{backend}: starting, 1-minute load average {load:.2f}", flush=True)
                done = subprocess.run([sys.executable, __file__, "--partition-series",
                                       str(args.partition_series), "--one", backend, str(path),
                                       *(["--no-write"] if args.no_write else [])],
                                      capture_output=True, text=True, cwd=REPO)
                if done.returncode != 0:
                    print(done.stderr[-3000:])
                    return 1
                r = json.loads(done.stdout.strip().splitlines()[-1])
                r.update(n=n, load=load, load_end=os.getloadavg()[0])
                rows.append(r)
                extra = ""
                if backend == "dask":
                    extra = (f"; workers' peak RSS {', '.join(f'{g:.2f}' for g in r['worker_peak_gb'])}"
                             f" GB (idle after imports {r['worker_start_gb'][0]:.2f} GB)")
                cpu = f"{r['cpu']:.0f} s in this process" + (
                    f" + {r['workers_cpu']:.0f} s in the workers" if "workers_cpu" in r else "")
                print(f"{backend:5s}: {r['wall']:6.1f} s wall, CPU {cpu} (1-minute load "
                      f"{load:.2f} at start, {r['load_end']:.2f} at end); WAPE lightgbm "
                      f"{r['wape_lightgbm']:.2f}%, routed {r['wape_routed']:.2f}%; this "
                      f"process peak RSS {r['driver_peak_gb']:.2f} GB{extra}", flush=True)
                print(f"       timings {r['timings']}", flush=True)
                for label, phases in r["memory"].items():
                    print(f"       peak RSS GB by phase, {label}: {phases}", flush=True)
                for phase, cpu_s in r["cpu_by_phase"].items():
                    print(f"       CPU s in {phase}: {cpu_s}", flush=True)
                if backend == "dask":
                    estimate(r)
    return 0


def estimate(r: dict, n_target: int = 1_000_000, workers: int = 32) -> None:
    """1M series on 32 workers from the measured costs of the largest Dask run: the two
    maps scale with series / workers (their measured wall x 2 workers = worker-seconds),
    the global fits are a constant (at most lgb_max_rows rows each, one per origin, run
    in parallel); export, reduce and write scale with series on one process, and so does
    that process's memory (its peak in the reduce and the write, measured)."""
    t, n = r["timings"], r["n"]
    per_series_map = (t.get("map_training_rows", 0) + t.get("map_partitions", 0)) * 2 / n
    fits = t.get("fit_global", 0)
    maps = per_series_map * n_target / workers
    one = {k: t.get(k, 0) / n for k in ("export", "reduce", "write")}
    intervals = t.get("reduce_intervals", 0) / n
    total = maps + fits + sum(one.values()) * n_target
    client = r["memory"].get("client", {})
    print(f"\n== worked estimate: {n_target:,} series on {workers} workers, from the "
          f"{n:,}-series run ==")
    print(f"maps: {per_series_map * 1000:.2f} worker-ms per series x {n_target:,} / {workers} "
          f"= {maps:.0f} s")
    print(f"global LightGBM fits (sample capped at 500,000 rows, constant): {fits:.0f} s")
    print(f"export (DuckDB to Parquet): {one['export'] * 1e6:.0f} us per series -> "
          f"{one['export'] * n_target:.0f} s")
    print(f"reduce on one process: {one['reduce'] * 1e6:.0f} us per series -> "
          f"{one['reduce'] * n_target:.0f} s (backtest cross-conformal intervals "
          f"{intervals * 1e6:.0f} us, routing + calibration + final intervals "
          f"{(one['reduce'] - intervals) * 1e6:.0f} us)")
    scores = (t.get("write_accuracy_tables") or 0) / n
    if "write" in t:
        print(f"write: {one['write'] * 1e6:.0f} us per series -> {one['write'] * n_target:.0f} "
              f"s (the run's rows in one transaction {(one['write'] - scores) * 1e6:.0f} us, "
              f"the Accuracy page's stored tables {scores * 1e6:.0f} us)")
    else:
        print("write: not measured (--no-write)")
    for phase in ("reduce", "write"):
        if phase in client and phase in t | {"reduce": 0}:      # above its RSS before the run (imports, the cluster)
            grown = client[phase] - client.get("start", 0.0)
            print(f"the calling process peaked at {client[phase]:.2f} GB in the {phase} for "
                  f"{n:,} series ({grown / n * 1e4:.2f} GB per 10K series above its "
                  f"{client.get('start', 0.0):.2f} GB at the start -> ~{grown * n_target / n:.0f}"
                  f" GB at {n_target:,})")
    print(f"total ~{total / 60:.1f} min; one-process share (export + reduce + write) "
          f"{sum(one.values()) * n_target / max(total, 1e-9) * 100:.0f}% (workers' memory: "
          f"that of their partitions of <= 5,000 series, {max(r['worker_peak_gb']):.2f} GB "
          f"measured)")


if __name__ == "__main__":
    sys.exit(main())
