"""GraphQL vs REST for the same data, under concurrent load on loopback: p50/p95 of a
single-series forecast read (GET /v1/forecasts vs `forecast`) and of a 100-series batch
(POST /v1/forecasts/batch vs `forecast_batch`), with 20 concurrent clients by default.
Target: GraphQL within 1.5x of REST (p95). The GraphQL queries ask for every field the
REST answer carries, so both serialise the same data: the days as `columns` (one field per
column) and as `forecast` points (four fields per day; GraphQL's per-field cost shows).

Then the server's own CPU time per request (psutil, the uvicorn process only; one client,
`--cpu-requests` requests of each kind): what each API costs the server for the same data,
without the clients' CPU and with less noise from a loaded machine than latencies have.

Uses bench_api.py's warehouse (a copy of the small demo with one 28-day forecast run, or
BENCH_API_WAREHOUSE) and server (one uvicorn process). The two APIs are measured in
alternating rounds, so both see the same machine load.

    .venv/bin/python benchmarks/bench_graphql.py [--threads 20] [--requests 25]
        [--batches 3] [--rounds 2] [--cpu-requests 40]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import (PASSWORD, build_warehouse, free_port, load,  # noqa: E402
                       start_server)

SERIES_FIELDS = ("sku_id pin_code run_id model interval_level horizon horizon_requested "
                 "cutoff last_updated note {days} accuracy {{ source model n wape mape smape "
                 "mae rmse bias_pct coverage95 coverage80 }}")
DAYS = {"columns": "columns { date forecast lo hi }",          # one field per column
        "points": "forecast { date forecast lo hi planned forecast_no_plan }"}  # per day


def single_query(days: str) -> str:
    fields = SERIES_FIELDS.format(days=DAYS[days])
    return ("query($sku: String!, $pin: String!) { forecast(sku_id: $sku, pin_code: $pin, "
            f"horizon: 28) {{ {fields} }} }}")


def batch_query(days: str) -> str:
    fields = SERIES_FIELDS.format(days=DAYS[days])
    return ("query($items: [SeriesRequest!]!) { forecast_batch(items: $items) { run_id "
            f"last_updated results {{ {fields} }} errors {{ index sku_id pin_code code "
            "message } } }")


class _Failed:
    status_code = 599


def graphql(client, base: str, headers: dict, query: str, variables: dict):
    """POST /graphql; a response with GraphQL errors counts as a failure."""
    res = client.post(f"{base}/graphql", headers=headers,
                      json={"query": query, "variables": variables})
    if res.status_code == 200 and res.json().get("errors"):
        return _Failed()
    return res


def quantiles(lat: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
    return q[49], q[94]


def server_cpu(pid: int, calls: dict, series: list, n: int) -> None:
    """The uvicorn process's CPU seconds per request of each kind, one client, alternating
    kinds request by request (so both APIs see the same machine load)."""
    import random

    import psutil

    server = psutil.Process(pid)
    spent = {key: 0.0 for key in calls}
    rng = random.Random(7)
    with httpx.Client(timeout=60) as client:
        for _ in range(n):
            for key, request in calls.items():
                before = server.cpu_times()
                res = request(client, rng)
                after = server.cpu_times()
                if res.status_code != 200:
                    raise SystemExit(f"{key}: HTTP {res.status_code}")
                spent[key] += (after.user - before.user) + (after.system - before.system)
    print(f"server CPU per request (one client, {n} of each, alternating):")
    for what in ("single", "batch"):
        rest = spent[(what, "REST")] / n
        for (kind, api), total in spent.items():
            if kind == what:
                each = total / n
                ratio = "" if api == "REST" else f"  {each / rest:.2f}x REST"
                print(f"  {what:<7} {api:<16} {each * 1000:7.1f} ms{ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=20, help="concurrent clients")
    ap.add_argument("--requests", type=int, default=25, help="single reads per client "
                                                             "and round")
    ap.add_argument("--batches", type=int, default=3, help="100-series batches per client "
                                                           "and round")
    ap.add_argument("--rounds", type=int, default=2, help="alternating REST/GraphQL rounds")
    ap.add_argument("--cpu-requests", type=int, default=40,
                    help="requests of each kind for the server CPU per request")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mp_bench_graphql_") as tmp:
        folder = Path(tmp)
        path, series, _ = build_warehouse(folder)
        port = free_port()
        proc = start_server(path, port, folder)
        base = f"http://127.0.0.1:{port}"
        try:
            tok = httpx.post(f"{base}/v1/auth/token", timeout=30,
                             json={"username": "bench", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {tok['access_token']}"}

            def items(rng):
                return [{"sku_id": s, "pin_code": p, "horizon": 28}
                        for s, p in rng.sample(series, min(100, len(series)))]

            calls = {
                ("single", "REST"): lambda c, rng: c.get(
                    f"{base}/v1/forecasts", headers=headers,
                    params=dict(zip(("sku_id", "pin_code"), rng.choice(series)),
                                horizon=28)),
                ("batch", "REST"): lambda c, rng: c.post(
                    f"{base}/v1/forecasts/batch", headers=headers, json={"items": items(rng)}),
            }
            for days in DAYS:
                calls[("single", f"GraphQL {days}")] = \
                    lambda c, rng, q=single_query(days): graphql(
                        c, base, headers, q, dict(zip(("sku", "pin"), rng.choice(series))))
                calls[("batch", f"GraphQL {days}")] = \
                    lambda c, rng, q=batch_query(days): graphql(
                        c, base, headers, q, {"items": items(rng)})
            for request in calls.values():          # warm-up: caches, imports
                load(1, 3, request)
            print(f"loopback 127.0.0.1:{port}, one uvicorn process, {args.threads} "
                  f"concurrent clients, {args.rounds} alternating rounds, "
                  f"{os.cpu_count()} CPU cores")
            results: dict = {key: ([], 0, 0.0) for key in calls}
            for _ in range(args.rounds):
                for (what, api), request in calls.items():
                    n = args.requests if what == "single" else args.batches
                    t = time.perf_counter()
                    lat, fail = load(args.threads, n, request)
                    old = results[(what, api)]
                    results[(what, api)] = (old[0] + lat, old[1] + fail,
                                            old[2] + time.perf_counter() - t)
            for what, label in (("single", "single-series read (28 days)"),
                                ("batch", "100-series batch (28 days)")):
                p95 = {}
                for api in ("REST", *(f"GraphQL {days}" for days in DAYS)):
                    lat, fail, wall = results[(what, api)]
                    p50, p95[api] = quantiles(lat)
                    ratio = "" if api == "REST" else (
                        f"  {p95[api] / p95['REST']:.2f}x REST's p95 "
                        f"({'within' if p95[api] <= 1.5 * p95['REST'] else 'ABOVE'} 1.5x)")
                    print(f"{label:<30} {api:<16} n={len(lat):>5} fail={fail}  "
                          f"p50={p50:8.1f} ms  p95={p95[api]:8.1f} ms  "
                          f"throughput={len(lat) / wall:6.1f}/s{ratio}")
            server_cpu(proc.pid, calls, series, args.cpu_requests)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
