"""REST API latency under concurrent load on loopback: p50/p95 of a single stored-forecast
read and of a 100-item batch (spec targets: single p95 < 500 ms, aim < 50 ms; batch of
100 p95 < 5 s), and the same reads right after a write.

Builds a copy of the small demo with one cheap 28-day forecast run and its alerts in a
temporary folder (or copies BENCH_API_WAREHOUSE, a warehouse that already has a forecast
run), starts uvicorn on 127.0.0.1 in a subprocess, then runs THREADS x N requests per
scenario.

"Right after a write" (--after-write rounds): acknowledge an alert (a write that touches
only the alerts domain), then at once time the first forecast read, inventory
recommendation and pricing simulation (one client); then THREADS clients each sending
`--after-write-requests` of each, once without a write and once right after another
acknowledgement (back to back, so both see the same machine load). Per-domain data
versions keep those three caches through the write, so these should cost what warm reads
cost (before per-domain invalidation every acknowledgement emptied every API cache: 2.7 s,
5.4 s and 21 s for the first request of each); the "cold" lines show what a first
computation costs.

    .venv/bin/python benchmarks/bench_api.py [--threads 8] [--requests 200] [--batches 20]
        [--after-write 3] [--after-write-requests 5]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PASSWORD = "bench-pass-1234"


def build_warehouse(folder: Path) -> tuple[Path, list, dict]:
    from engine import auth
    from engine.warehouse.db import Warehouse
    from engine.warehouse.runs import latest_forecast_run

    path = folder / "bench_api.duckdb"
    src = os.environ.get("BENCH_API_WAREHOUSE")
    t0 = time.perf_counter()
    if src:
        shutil.copy(src, path)
        wh = Warehouse(path)
    else:
        from engine.demo import DemoConfig, load_demo
        from engine.forecast.config import ForecastConfig
        from engine.forecast.pipeline import run_forecast

        wh = Warehouse(path)
        load_demo(wh, DemoConfig.small())
        run_forecast(wh, ForecastConfig(horizon=28, folds=1, workers=1, lgb_rounds=60,
                                        models=("seasonal_naive", "moving_average",
                                                "lightgbm")))
    if auth.needs_first_admin(wh):
        auth.create_first_admin(wh, "bench", PASSWORD)
    if not wh.scalar("SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL"):
        from engine.alerts import generate_alerts

        generate_alerts(wh)      # the after-write phase acknowledges them one by one
    series = wh.query("SELECT DISTINCT sku_id, pin_code FROM forecasts WHERE run_id = ?",
                      [latest_forecast_run(wh)["run_id"]])    # the run the API serves
    rows = wh.scalar("SELECT count(*) FROM forecasts")
    choices = {"categories": wh.query("SELECT category, count(*) AS n FROM skus GROUP BY 1 "
                                      "ORDER BY n DESC, 1 LIMIT 2")["category"].tolist(),
               "pins": sorted({p for _, p in series.itertuples(index=False, name=None)})}
    wh.close()
    print(f"warehouse: {len(series):,} series with a stored forecast, {rows:,} forecast rows "
          f"(ready in {time.perf_counter() - t0:.1f} s)")
    return path, list(series.itertuples(index=False, name=None)), choices


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: Path, port: int, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "MICROPULSE_WAREHOUSE": str(path),
           "MICROPULSE_JWT_SECRET": "bench-secret-" + "x" * 40,
           "MICROPULSE_API_RATE_LIMIT": "1000000", "MICROPULSE_API_BATCH_RATE_LIMIT": "1000000",
           "MICROPULSE_API_LOG_LEVEL": "WARNING"}
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             "--no-access-log"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("uvicorn did not start; see " + str(folder / "server.log"))


def load(threads: int, per_thread: int, make_request) -> tuple[list[float], int]:
    """Run `per_thread` requests on each of `threads` threads (one keep-alive client each);
    returns latencies (ms) of successful requests and the number of failures."""
    lat, failures, lock = [], [0], threading.Lock()

    def worker(seed: int):
        rng = random.Random(seed)
        with httpx.Client(timeout=60) as client:
            for _ in range(per_thread):
                t = time.perf_counter()
                res = make_request(client, rng)
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    if res.status_code == 200:
                        lat.append(ms)
                    else:
                        failures[0] += 1
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, failures[0]


def report(name: str, lat: list[float], failures: int, wall: float) -> None:
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
    print(f"{name:<29} n={len(lat):>5}  fail={failures}  p50={q[49]:8.1f} ms  "
          f"p95={q[94]:8.1f} ms  max={max(lat):8.1f} ms  throughput={len(lat) / wall:6.1f}/s")


def after_write_reads(base: str, headers: dict, categories: list[str], pins: list[str]
                      ) -> list[tuple[str, object]]:
    """(name, request(client, rng)) of the inventory and pricing reads of the after-write
    phase; a few parameter variants each (all computed once during the warm-up)."""
    out = []
    for pin in [None, *pins[:2]]:
        params = {} if pin is None else {"pin_code": pin}
        out.append(("GET /v1/recommendations/inventory",
                    lambda c, rng, params=params: c.get(
                        f"{base}/v1/recommendations/inventory", headers=headers,
                        params=params)))
    for cat in (categories[:2] or [None]):
        for pct in (-0.05, -0.10):
            change = {"pct": pct} if cat is None else {"pct": pct, "category": cat}
            out.append(("POST /v1/pricing/simulate",
                        lambda c, rng, change=change: c.post(
                            f"{base}/v1/pricing/simulate", headers=headers,
                            json={"changes": [change]})))
    return out


def acknowledge_next(base: str, headers: dict) -> float:
    """Acknowledge the next new alert; the write's own latency (ms)."""
    res = httpx.get(f"{base}/v1/alerts", headers=headers, timeout=60,
                    params={"status": "new", "limit": 1})
    alerts = res.json()["alerts"]
    if not alerts:
        raise SystemExit("no new alert left to acknowledge; lower --after-write")
    t = time.perf_counter()
    ack = httpx.post(f"{base}/v1/alerts/{alerts[0]['alert_id']}/acknowledge",
                     headers=headers, timeout=60)
    ms = (time.perf_counter() - t) * 1000
    if ack.status_code != 200:
        raise SystemExit(f"acknowledge failed: {ack.status_code} {ack.text[:300]}")
    return ms


def after_write(base: str, headers: dict, single, reads, args) -> None:
    """The first forecast read, inventory and pricing simulation right after an alert is
    acknowledged (one client), then THREADS clients right after another one."""
    by_name: dict[str, list] = {"GET /v1/forecasts": [single]}
    for name, request in reads:
        by_name.setdefault(name, []).append(request)
    firsts: dict[str, list[float]] = {name: [] for name in by_name}
    writes = []
    rng = random.Random(7)
    for _ in range(args.after_write):
        writes.append(acknowledge_next(base, headers))
        with httpx.Client(timeout=120) as client:
            for name, requests in by_name.items():
                t = time.perf_counter()
                res = rng.choice(requests)(client, rng)
                ms = (time.perf_counter() - t) * 1000
                if res.status_code != 200:
                    raise SystemExit(f"{name} after a write: {res.status_code} "
                                     f"{res.text[:300]}")
                firsts[name].append(ms)
    print(f"right after a write (POST /v1/alerts/{{id}}/acknowledge, touches 'alerts' only; "
          f"{args.after_write} rounds, write p50 {statistics.median(writes):.0f} ms):")
    for name, values in firsts.items():
        print(f"  first {name:<34} " + ", ".join(f"{v:,.0f}" for v in values) + " ms")
    for name, requests in by_name.items():   # the same load without, then right after
        for when in ("no write", "after write"):   # a write, minutes apart at most
            if when == "after write":
                writes.append(acknowledge_next(base, headers))
            t = time.perf_counter()
            lat, fail = load(args.threads, args.after_write_requests,
                             lambda client, r, requests=requests: r.choice(requests)(client, r))
            report(f"{name} ({args.threads} clients, {when})", lat, fail,
                   time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--requests", type=int, default=200, help="single reads per thread")
    ap.add_argument("--batches", type=int, default=10, help="100-item batches per thread")
    ap.add_argument("--after-write", type=int, default=3,
                    help="rounds of 'acknowledge an alert, then time the first reads'")
    ap.add_argument("--after-write-requests", type=int, default=5,
                    help="requests per thread and endpoint in the loaded after-write phase")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mp_bench_api_") as tmp:
        folder = Path(tmp)
        path, series, choices = build_warehouse(folder)
        port = free_port()
        proc = start_server(path, port, folder)
        base = f"http://127.0.0.1:{port}"
        try:
            tok = httpx.post(f"{base}/v1/auth/token", timeout=30,
                             json={"username": "bench", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {tok['access_token']}"}

            def single(client, rng):
                sku, pin = rng.choice(series)
                return client.get(f"{base}/v1/forecasts", headers=headers,
                                  params={"sku_id": sku, "pin_code": pin, "horizon": 28})

            def batch(client, rng):
                items = [{"sku_id": s, "pin_code": p, "horizon": 28}
                         for s, p in rng.sample(series, min(100, len(series)))]
                return client.post(f"{base}/v1/forecasts/batch", headers=headers,
                                   json={"items": items})

            load(1, 5, single)      # warm-up: first request computes the accuracy cache
            load(1, 2, batch)
            reads = after_write_reads(base, headers, **choices)
            cold: dict[str, list[float]] = {}
            with httpx.Client(timeout=300) as client:
                for name, request in reads:       # warm-up: every variant computed once
                    t = time.perf_counter()
                    request(client, None)
                    cold.setdefault(name, []).append((time.perf_counter() - t) * 1000)
            for name, values in cold.items():     # what an emptied cache costs
                print(f"cold (first computation) {name}: "
                      + ", ".join(f"{v:,.0f}" for v in values) + " ms")
            print(f"loopback 127.0.0.1:{port}, one uvicorn process, {args.threads} client "
                  f"threads, {os.cpu_count()} CPU cores")
            t = time.perf_counter()
            lat, fail = load(args.threads, args.requests, single)
            report("GET /v1/forecasts", lat, fail, time.perf_counter() - t)
            t = time.perf_counter()
            lat, fail = load(args.threads, args.batches, batch)
            report("POST /v1/forecasts/batch x100", lat, fail, time.perf_counter() - t)
            t = time.perf_counter()
            lat, fail = load(1, 50, single)
            report("GET /v1/forecasts (1 thread)", lat, fail, time.perf_counter() - t)
            after_write(base, headers, single, reads, args)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
