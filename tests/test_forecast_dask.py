"""The Dask execution backend against the local run on the small demo: a
distributed.LocalCluster (2 worker processes) end to end, per-series families equal to the
local numbers, LightGBM and the routed forecast as accurate; a worker killed mid-run ->
a typed error and the warehouse unchanged, or dask's retry and the same forecasts; the CLI
contract and the capabilities the runner reads."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest

from engine.forecast.backends import (BackendError, DaskBackend, LocalBackend,
                                      assign_partitions, backend_from)
from engine.forecast.config import ForecastConfig
from engine.forecast.pipeline import run_backtest, run_forecast
from engine.forecast.registry import model_class
from engine.warehouse.db import Warehouse
from tests.forecast_page_frames import copy_warehouse

distributed = pytest.importorskip("distributed")
REPO = Path(__file__).resolve().parents[1]
PER_SERIES = ("seasonal_naive", "moving_average", "tsb")
KEYS = ["model", "fold", "sku_id", "pin_code", "date"]


def _cluster(**config):
    # worker processes are spawned, and spawn re-runs the parent's __main__ in the child:
    # after an AppTest in the same pytest process that is a page script. Start them from
    # a bare __main__ (a real deployment connects to its own scheduler's workers).
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        with dask.config.set(config):
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=True, dashboard_address=":0")
    finally:
        sys.modules["__main__"] = saved
    return cluster, distributed.Client(cluster, set_as_default=False)


@pytest.fixture(scope="module")
def cluster():
    cluster, client = _cluster()
    yield cluster, client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def runs(small_warehouse_path, cluster, tmp_path_factory):
    path = copy_warehouse(small_warehouse_path, tmp_path_factory.mktemp("dask") / "w.duckdb")
    wh = Warehouse(path)
    cfg = ForecastConfig(workers=1)
    local = run_forecast(wh, cfg, persist=False, backend=LocalBackend())
    said, held = [], []

    def progress(message: str) -> None:
        said.append(message)
        if "reduce -" in message:     # the reduce starts: what do the workers still hold?
            held.append(_held_partition_results(cluster[1]))

    remote = run_forecast(wh, cfg, persist=False, progress=progress,
                          backend=DaskBackend(cluster[1], partition_series=20))
    whole = run_forecast(wh, cfg, persist=False, backend=DaskBackend(cluster[1]))
    wh.close()
    return local, remote, said, held, whole


def _held_partition_results(client, polls: int = 50) -> int:
    """Map-2 results (task_partition) the cluster still holds in worker memory, once the
    client's releases have reached the scheduler (polled, at most `polls` x 0.1 s)."""
    def in_memory(dask_scheduler) -> int:
        return sum(1 for key, ts in dask_scheduler.tasks.items()
                   if str(key).startswith("task_partition") and ts.state == "memory")

    n = client.run_on_scheduler(in_memory)
    for _ in range(polls):
        if n == 0:
            break
        time.sleep(0.1)
        n = client.run_on_scheduler(in_memory)
    return n


def _wape(bt: pd.DataFrame, model: str) -> float:
    g = bt[bt["model"] == model]
    return float(np.abs(g["forecast"] - g["actual"]).sum() / g["actual"].sum() * 100)


def test_dask_run_gives_the_local_numbers_for_per_series_models(runs):
    local, remote, *_ = runs
    a = local.backtest[local.backtest["model"].isin(PER_SERIES)]
    b = remote.backtest[remote.backtest["model"].isin(PER_SERIES)]
    assert len(a) == len(b) > 0
    both = a.merge(b, on=KEYS, suffixes=("_l", "_d"))
    assert len(both) == len(a)
    for col in ("forecast", "actual", "lo", "hi", "lo80", "hi80"):
        assert np.allclose(both[f"{col}_l"], both[f"{col}_d"], atol=1e-6, rtol=0), col
    # the final forecast of every series routed to the same per-series model
    f = local.forecasts.merge(remote.forecasts, on=["sku_id", "pin_code", "date"],
                              suffixes=("_l", "_d"))
    assert len(f) == len(local.forecasts) == len(remote.forecasts)
    same = f[(f["model_l"] == f["model_d"]) & f["model_l"].isin(PER_SERIES)]
    assert len(same) > 0
    assert np.allclose(same["forecast_l"], same["forecast_d"], atol=1e-6, rtol=0)


def test_dask_run_is_as_accurate_as_the_local_run(runs):
    local, remote, *_ = runs
    assert set(remote.backtest["model"]) == set(local.backtest["model"])
    # the pooled LightGBM sees other features across partitions (a SKU's level across
    # PIN codes of other states, a PIN's level across other categories): the same
    # accuracy, not the same numbers (seeds 42-44 alone move its WAPE by 0.6 points here)
    # (WAPE points)
    assert abs(_wape(remote.backtest, "routed") - _wape(local.backtest, "routed")) <= 0.5
    assert abs(_wape(remote.backtest, "lightgbm") - _wape(local.backtest, "lightgbm")) <= 0.5
    assert remote.timings["partitions"] >= 9      # partitions of at most 20 series
    assert remote.interval_method == local.interval_method == "conformal"
    assert len(remote.routing) == len(local.routing)
    assert remote.drivers is not None and len(remote.drivers) == len(local.drivers)


def test_one_partition_on_the_cluster_is_the_local_run_exactly(runs):
    local, *_, whole = runs
    assert whole.timings["partitions"] == 1       # the small demo fits one partition
    f = local.forecasts.merge(whole.forecasts, on=["sku_id", "pin_code", "date"],
                              suffixes=("_l", "_d"))
    assert len(f) == len(local.forecasts) == len(whole.forecasts)
    assert (f["model_l"] == f["model_d"]).all()
    for col in ("forecast", "lo", "hi", "lo80", "hi80"):
        assert np.allclose(f[f"{col}_l"], f[f"{col}_d"], atol=1e-6, rtol=0), col
    bt = local.backtest.merge(whole.backtest, on=KEYS, suffixes=("_l", "_d"))
    assert len(bt) == len(local.backtest)
    assert np.allclose(bt["forecast_l"], bt["forecast_d"], atol=1e-6, rtol=0)


def test_dask_run_reports_progress_from_the_cluster(runs):
    _, _, said, *_ = runs
    shares = [float(m.split()[1].rstrip("%:")) for m in said if m.startswith("cluster ")]
    assert shares == sorted(shares) and shares[-1] >= 90
    assert any("backtest and forecast of partition" in m for m in said)


def test_workers_free_each_partitions_results_once_the_client_has_them(runs):
    # a worker that kept every partition's backtest and forecast until the run ended held
    # more the more partitions it ran: its memory grew with the chain, not the partition
    _, _, _, held, _ = runs
    assert held == [0]


def _worker_pids(client) -> list[int]:
    return list(client.run(os.getpid).values())


def test_a_worker_killed_mid_run_fails_cleanly_and_the_warehouse_is_unchanged(
        small_warehouse_path, tmp_path):
    path = copy_warehouse(small_warehouse_path, tmp_path / "kill.duckdb")
    cluster, client = _cluster(**{"distributed.scheduler.allowed-failures": 0})
    wh = Warehouse(path)
    try:
        before = wh.query("SELECT count(*) AS n FROM forecast_runs")["n"].iat[0]
        killed = []

        def say(message: str) -> None:
            if "training rows from partition 1/" in message and not killed:
                for pid in _worker_pids(client):     # every task in flight is lost
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

        with pytest.raises(BackendError) as err:
            run_forecast(wh, ForecastConfig(workers=1), progress=say,
                         backend=DaskBackend(client, partition_series=20))
        assert killed
        assert err.value.code == "cluster_failed"
        assert "Nothing was saved" in str(err.value)
        assert wh.query("SELECT count(*) AS n FROM forecast_runs")["n"].iat[0] == before
    finally:
        wh.close()
        client.close()
        cluster.close()


def test_a_worker_lost_mid_run_is_retried_and_the_forecasts_are_the_same(runs, cluster,
                                                                        small_warehouse_path,
                                                                        tmp_path):
    _, remote, *_ = runs
    client = cluster[1]
    path = copy_warehouse(small_warehouse_path, tmp_path / "retry.duckdb")
    wh = Warehouse(path)
    killed = []

    def say(message: str) -> None:
        if "backtest and forecast of partition 1/" in message and not killed:
            pid = _worker_pids(client)[0]
            os.kill(pid, signal.SIGKILL)           # the nanny restarts it; dask re-runs
            killed.append(pid)

    try:
        again = run_forecast(wh, ForecastConfig(workers=1), progress=say,
                             backend=DaskBackend(client, partition_series=20))
        assert killed
        stored = wh.query("SELECT count(*) AS n FROM forecasts WHERE run_id = ?",
                          [again.run_id])["n"].iat[0]
        assert stored == len(again.forecasts)
    finally:
        wh.close()
    both = again.forecasts.merge(remote.forecasts, on=["sku_id", "pin_code", "date"])
    assert len(both) == len(remote.forecasts)
    assert np.allclose(both["forecast_x"], both["forecast_y"], atol=1e-6, rtol=0)


def test_cli_runs_the_forecast_on_the_cluster_and_stores_it(small_warehouse_path, cluster,
                                                            tmp_path):
    path = copy_warehouse(small_warehouse_path, tmp_path / "cli.duckdb")
    address = cluster[0].scheduler_address
    done = subprocess.run(
        [sys.executable, "-m", "engine", "forecast", "--backend", "dask", "--scheduler",
         address, "--models", "moving_average", "lightgbm", "--folds", "1", "--json",
         "--no-alerts", "--warehouse", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["backend"] == "dask" and summary["n_series"] > 0
    assert "cluster 90%: reduce" in done.stderr
    wh = Warehouse(path)
    try:
        run = wh.query("SELECT config FROM forecast_runs WHERE run_id = ?", [summary["run_id"]])
        assert json.loads(run["config"].iat[0])["backend"] == "dask"
    finally:
        wh.close()


@pytest.fixture(scope="module")
def backtests(small_warehouse_path, cluster, tmp_path_factory):
    """`backtest` alone (no final fit): local and on the cluster, with the folds' actual
    prices as their plan in partitions of at most 20 series, and without a plan in one."""
    path = copy_warehouse(small_warehouse_path, tmp_path_factory.mktemp("dask_bt") / "w.duckdb")
    wh = Warehouse(path)
    cfg = ForecastConfig(workers=1, folds=2)
    try:
        said = []
        out = {
            "local_plan": run_backtest(wh, cfg, persist=False, with_plan=True,
                                       backend=LocalBackend()),
            "dask_plan": run_backtest(wh, cfg, persist=False, with_plan=True,
                                      progress=said.append,
                                      backend=DaskBackend(cluster[1], partition_series=20)),
            "local": run_backtest(wh, cfg, persist=False, backend=LocalBackend()),
            "dask_whole": run_backtest(wh, cfg, persist=False, backend=DaskBackend(cluster[1])),
        }
    finally:
        wh.close()
    return out, said


def test_a_backtest_alone_runs_on_the_cluster_with_the_local_numbers(backtests):
    got, said = backtests
    local, remote = got["local_plan"].backtest, got["dask_plan"].backtest
    assert set(remote["model"]) == set(local["model"]) >= {*PER_SERIES, "lightgbm", "routed"}
    assert local["fold"].nunique() == remote["fold"].nunique() == 2
    a, b = local[local["model"].isin(PER_SERIES)], remote[remote["model"].isin(PER_SERIES)]
    both = a.merge(b, on=KEYS, suffixes=("_l", "_d"))
    assert len(both) == len(a) == len(b) > 0
    assert np.allclose(both["actual_l"], both["actual_d"], atol=1e-6, rtol=0)
    # with the folds' actual prices as their plan the per-series models are scaled by the
    # pooled LightGBM's plan lift: as accurate as the local run, not identical
    for model in (*PER_SERIES, "lightgbm", "routed", "routed_no_plan"):
        assert abs(_wape(remote, model) - _wape(local, model)) <= 0.5, model
    # the plan moved the routed forecast off the one without it, on the cluster as here
    for bt in (local, remote):
        r = bt[bt["model"] == "routed"].merge(bt[bt["model"] == "routed_no_plan"],
                                             on=KEYS[1:], suffixes=("", "_np"))
        assert len(r) > 0 and (np.abs(r["forecast"] - r["forecast_np"]) > 1e-6).any()
    assert any("backtest of partition" in m for m in said)
    assert not any("forecast of partition" in m for m in said)     # no final fit


def test_a_one_partition_backtest_on_the_cluster_is_the_local_backtest_exactly(backtests):
    got, _ = backtests
    local, whole = got["local"].backtest, got["dask_whole"].backtest
    both = local.merge(whole, on=KEYS, suffixes=("_l", "_d"))
    assert len(both) == len(local) == len(whole)
    for col in ("forecast", "lo", "hi", "lo80", "hi80"):
        assert np.allclose(both[f"{col}_l"], both[f"{col}_d"], atol=1e-6, rtol=0), col
    assert got["local"].scores.equals(got["dask_whole"].scores)


def test_cli_runs_a_backtest_on_the_cluster_and_stores_it(small_warehouse_path, cluster,
                                                          tmp_path):
    path = copy_warehouse(small_warehouse_path, tmp_path / "cli_bt.duckdb")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "backtest", "--backend", "dask", "--scheduler",
         cluster[0].scheduler_address, "--models", "moving_average", "lightgbm",
         "--folds", "1", "--json", "--warehouse", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["backend"] == "dask" and summary["folds"] == 1
    assert {s["model"] for s in summary["scores"]} >= {"moving_average", "lightgbm"}
    assert "backtest of partition" in done.stderr
    wh = Warehouse(path)
    try:
        run = wh.query("SELECT kind, config FROM forecast_runs WHERE run_id = ?",
                       [summary["run_id"]])
        assert run["kind"].iat[0] == "backtest"
        assert json.loads(run["config"].iat[0])["backend"] == "dask"
        assert wh.scalar("SELECT count(*) FROM backtests WHERE run_id = ?",
                         [summary["run_id"]]) > 0
    finally:
        wh.close()


def test_cli_says_what_is_missing_without_a_traceback(small_warehouse_path, monkeypatch):
    monkeypatch.delenv("MICROPULSE_DASK_SCHEDULER", raising=False)
    base = [sys.executable, "-m", "engine", "forecast", "--warehouse",
            str(small_warehouse_path), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "MICROPULSE_DASK_SCHEDULER"}
    no_address = subprocess.run(base + ["--backend", "dask"], cwd=REPO, capture_output=True,
                                text=True, timeout=120, env=env)
    assert no_address.returncode == 2
    assert "needs a scheduler address" in no_address.stderr
    assert "Traceback" not in no_address.stderr
    gone = subprocess.run(base + ["--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert gone.returncode == 2
    assert "Could not reach the Dask scheduler at tcp://127.0.0.1:9" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_backend_is_chosen_by_flag_or_environment(monkeypatch):
    monkeypatch.delenv("MICROPULSE_FORECAST_BACKEND", raising=False)
    monkeypatch.delenv("MICROPULSE_DASK_SCHEDULER", raising=False)
    assert backend_from().name == "local"
    monkeypatch.setenv("MICROPULSE_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    chosen = backend_from()
    assert chosen.name == "dask" and chosen.describe() == "the Dask cluster at tcp://10.0.0.5:8786"
    assert backend_from("local").name == "local"
    with pytest.raises(BackendError) as err:
        backend_from("spark")
    assert err.value.code == "bad_backend"


def test_models_declare_their_capabilities_on_the_class():
    lgb = model_class("lightgbm")
    assert lgb.scope == "global" and lgb.needs_features and lgb.future_covariates
    prophet = model_class("prophet")
    assert prophet.scope == "per_series" and prophet.needs_festivals
    assert prophet.top_n == "prophet_top_n" and prophet.worker_processes
    assert model_class("ets").top_n == "stat_top_n"
    for name in PER_SERIES:
        c = model_class(name)
        assert c.scope == "per_series" and c.top_n is None and not c.worker_processes


def test_partitions_pack_category_by_state_cells_and_split_big_ones_by_city():
    cells = pd.DataFrame({"category": ["Dairy"] * 3 + ["Snacks", "Sweets"],
                          "state": ["Karnataka"] * 5,
                          "city": ["Bengaluru", "Mangaluru", "Mysuru", "Bengaluru", "Mysuru"],
                          "n_series": [70, 20, 20, 5, 4], "n_rows": [1] * 5})
    parts = assign_partitions(cells, max_series=80).set_index(["category", "city"])["part"]
    assert parts[("Dairy", "Bengaluru")] != parts[("Dairy", "Mangaluru")]
    assert parts[("Dairy", "Mangaluru")] == parts[("Dairy", "Mysuru")]
    # small whole cells share a partition with the rest of the last one
    assert parts[("Snacks", "Bengaluru")] == parts[("Sweets", "Mysuru")] \
        == parts[("Dairy", "Mysuru")]
    assert assign_partitions(cells, max_series=1000)["part"].nunique() == 1


def test_top_series_chosen_across_partitions_are_the_whole_panels_top_series():
    from engine.forecast.features import build_panel, normalize_history
    from engine.forecast.runner import (_series_keys, pick_top, recent_periods, top_candidates,
                                        top_series)
    from engine.forecast.synthetic import synthetic_panel

    history, signals = synthetic_panel(300, 120, seed=3)
    h = normalize_history(history)
    cfg = ForecastConfig(horizon=14).for_grain("D")
    whole = build_panel(h, signals, cfg, normalized=True)
    want = _series_keys(whole).iloc[top_series(whole.history, 25, recent_periods("D"))]
    pins = sorted(h["pin_code"].unique())
    halves = [h[h["pin_code"].isin(pins[: len(pins) // 2])],
              h[h["pin_code"].isin(pins[len(pins) // 2:])]]
    cands = [top_candidates(build_panel(p, signals, cfg, normalized=True), 25) for p in halves]
    got = pick_top(cands, 25)
    assert list(map(tuple, got.to_numpy())) == list(map(tuple, want.to_numpy()))


def test_a_run_with_an_uploaded_plan_is_the_same_on_the_cluster(small_warehouse_path,
                                                                 cluster, tmp_path,
                                                                 monkeypatch):
    from engine.forecast import intervals
    from engine.ingest.load import ingest_file

    promoted = []                  # promoted backtest steps each run's calibration split off
    calibrate = intervals.calibrate

    def recording(residuals, horizon):
        cal = calibrate(residuals, horizon)
        promoted.append(cal.n_promoted)
        return cal
    monkeypatch.setattr(intervals, "calibrate", recording)

    path = copy_warehouse(small_warehouse_path, tmp_path / "plan.duckdb")
    wh = Warehouse(path)
    try:
        sku, pin = wh.query("SELECT sku_id, pin_code FROM sales_daily GROUP BY ALL "
                            "ORDER BY sum(quantity) DESC LIMIT 1").iloc[0]
        last = pd.Timestamp(wh.scalar("SELECT max(date) FROM sales_daily"))
        plan = tmp_path / "plan.csv"
        pd.DataFrame({"sku_id": [sku], "pin_code": [pin],
                      "date_from": [(last + pd.Timedelta(days=2)).date()],
                      "date_to": [(last + pd.Timedelta(days=5)).date()],
                      "discount_pct": [25], "promo_type": ["price_cut"]}).to_csv(plan,
                                                                                 index=False)
        assert ingest_file(wh, "plan", plan).rows_loaded == 1
        cfg = ForecastConfig(models=("moving_average", "lightgbm"), folds=1, workers=1)
        local = run_forecast(wh, cfg, persist=False, backend=LocalBackend())
        remote = run_forecast(wh, cfg, persist=False, backend=DaskBackend(cluster[1]))
    finally:
        wh.close()
    assert remote.planned_rows == local.planned_rows == 4
    f = local.forecasts.merge(remote.forecasts, on=["sku_id", "pin_code", "date"])
    assert len(f) == len(local.forecasts) and f["planned_x"].sum() == 4
    for col in ("forecast", "forecast_no_plan", "lo", "hi"):
        assert np.allclose(f[f"{col}_x"], f[f"{col}_y"], atol=1e-6, rtol=0), col
    assert (f["planned_x"] == f["planned_y"]).all()
    # both runs calibrated the folds' promoted steps apart, on the same residuals
    # (every calibration: the final bands' and the backtest's cross-conformal ones)
    half = len(promoted) // 2
    assert promoted[:half] == promoted[half:] and max(promoted) >= intervals.MIN_POOL, promoted


def test_map_2_reads_the_panels_map_1_built_and_gives_the_same_numbers(small_warehouse_path,
                                                                       tmp_path, monkeypatch):
    # a partition's feature panels and its history are built once, in map 1: map 2 reads
    # them from the run folder (no second Parquet read), and its backtest, forecasts and
    # drivers are those of panels built again from the Parquet
    from engine.forecast import backends, runner
    from engine.forecast.backends import (_history_path, _panel_path, task_drivers,
                                          task_fit_global, task_partition,
                                          task_training_rows)

    wh = Warehouse(copy_warehouse(small_warehouse_path, tmp_path / "w.duckdb"))
    folder = tmp_path / "run"
    folder.mkdir()
    try:
        run = DaskBackend(None, partition_series=60).export(wh, ForecastConfig(workers=1),
                                                            lambda m: None, None, str(folder))
    finally:
        wh.close()
    assert len(run.paths) >= 2
    p = max(run.paths, key=run.series.get)
    built = []
    build_panel = runner.build_panel
    monkeypatch.setattr(runner, "build_panel",
                        lambda *a, **k: built.append(k.get("cutoff")) or build_panel(*a, **k))
    origins = [*run.cutoffs, run.cut]
    sample = task_training_rows(p, run.signals, run.cfg, run.cutoffs, None, run.share[p],
                                run.whole)
    assert len(built) == len(origins)
    fitted = {(k, name): task_fit_global(name, run.cfg, c, (k, name), [sample])
              for k, c in enumerate(origins) for name in runner.global_models(run.cfg.models)}
    assert fitted
    built.clear()
    reads = []
    read_partition = backends._read_partition
    monkeypatch.setattr(backends, "_read_partition",
                        lambda path: reads.append(path) or read_partition(path))
    args = (p, run.signals, run.cfg, run.cutoffs, None, False, fitted, {}, run.whole, run.gaps)
    reused = task_partition(*args)
    assert built == [] and reads == []       # every panel and the history came from map 1
    # the task's own step timers: wall and CPU seconds of its thread, page faults
    assert list(reused["steps"]) == ["read", "backtest", "final", "drivers_saved"]
    assert all(wall >= 0 and cpu >= 0 for wall, cpu, _ in reused["steps"].values())
    # the drivers run after map 2 from the inputs it left, with the final LightGBM
    assert reused["drivers"] == "lightgbm"
    final_lgb = fitted[(len(run.cutoffs), "lightgbm")]
    reused_drivers = task_drivers(p, final_lgb)
    for k in range(len(origins)):
        os.remove(_panel_path(p, k))
    os.remove(_history_path(p))
    again = task_partition(*args)
    assert len(built) == len(origins) and reads == [p]
    again_drivers = task_drivers(p, final_lgb)
    assert len(again_drivers) == len(again["pieces"].points) > 0
    pd.testing.assert_frame_equal(reused["points"], again["points"])
    pd.testing.assert_frame_equal(reused_drivers, again_drivers)
    for part in ("forecasts", "points", "series", "young"):
        pd.testing.assert_frame_equal(getattr(reused["pieces"], part),
                                      getattr(again["pieces"], part))
    assert set(reused["pieces"].forecasts["model"]) == set(run.cfg.models)


def test_a_partitions_training_rows_are_the_models_own_rows_and_sample():
    from engine.forecast.features import build_panel, normalize_history
    from engine.forecast.models.lightgbm_model import LightGBMModel
    from engine.forecast.runner import global_training_rows
    from engine.forecast.synthetic import synthetic_panel

    history, signals = synthetic_panel(200, 200, seed=5)
    cfg = ForecastConfig(horizon=14, lgb_train_periods=60).for_grain("D")
    panel = build_panel(normalize_history(history), signals, cfg, normalized=True)
    want = LightGBMModel.training_rows(panel.train, cfg)
    assert len(want) > 1000
    pd.testing.assert_frame_equal(global_training_rows(panel, "lightgbm", cfg), want)
    keep = np.sort(np.random.default_rng(9).choice(len(want), 1000, replace=False))
    got = global_training_rows(panel, "lightgbm", cfg, quota=1000, seed=9)
    pd.testing.assert_frame_equal(got, want.iloc[keep])
    assert got.attrs["cutoff"] == panel.cutoff
