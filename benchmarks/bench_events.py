"""Sales-event ingest speed with retries, duplicates and bad events mixed in, and the cost
of the app's idle live-updates poll.

    .venv/bin/python benchmarks/bench_events.py                 # 200,000 events
    .venv/bin/python benchmarks/bench_events.py --events 50000 --clients 8

On a fresh small-demo warehouse (temporary file), `--clients` threads each send requests
of `--request` NDJSON events to one EventIngestor (engine/ingest/events.py: the same
object POST /v1/sales/events uses), so their events share micro-batches. The stream:
~2% bad events (5-digit PIN, negative units, not JSON), ~5% events repeated inside their
request, and every 5th request sent twice (a client retrying after a lost answer).
Printed: events/s over the whole run (wall clock from the first request to the last
answer, parsing, validation, commit and every answer included), micro-batches, and the
check `received = loaded + rejected + duplicates` for every answer, for the sum of the
answers and for the warehouse's event batches - plus the sales rows loaded against the
distinct good event ids (nothing doubled). Then the same through the API in-process
(FastAPI TestClient, `--api-events` events from `--clients` threads), and the app's idle poll: one
`data_version('forecasts', 'alerts', 'sales')` read (what components/live_updates.py does
every MICROPULSE_LIVE_POLL_S seconds), median of 2,000, and its share of one core at a
5 s poll. Target: >= 10,000 events/s with the identity exact.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def requests_for(n: int, size: int, skus: list[str], pins: list[str], day: str,
                 seed: int = 11) -> tuple[list[str], int]:
    """NDJSON request bodies (retries included) and the number of distinct good ids."""
    rng = random.Random(seed)
    bodies, good_ids, i = [], set(), 0
    while i < n:
        lines = []
        for _ in range(min(size, n - i)):
            eid = f"ev-{i}"
            kind = rng.random()
            event = {"event_id": eid, "timestamp": f"{day}T10:{i % 60:02d}:00+05:30",
                     "sku": skus[i % len(skus)], "pin": pins[i % len(pins)],
                     "units": 1 + i % 4, "price": 20.0 + i % 7}
            if kind < 0.007:
                event["pin"] = "56001"
            elif kind < 0.014:
                event["units"] = -2
            if kind < 0.014 or 0.02 <= kind:
                lines.append(json.dumps(event))
            else:
                lines.append("{broken json")
            if 0.02 <= kind and event["units"] > 0 and event["pin"] != "56001":
                good_ids.add(eid)
            if rng.random() < 0.05:
                lines.append(lines[-1])                  # repeated inside the request
            i += 1
        bodies.append("\n".join(lines))
        if len(bodies) % 5 == 0:
            bodies.append(bodies[-1])                    # a client retrying the request
    return bodies, len(good_ids)


def build(path: Path):
    from engine.demo import DemoConfig, load_demo
    from engine.warehouse.db import Warehouse

    wh = Warehouse(path)
    load_demo(wh, DemoConfig.small())
    skus = wh.query("SELECT sku_id FROM skus ORDER BY sku_id")["sku_id"].tolist()
    pins = wh.query("SELECT DISTINCT pin_code FROM sales_daily ORDER BY 1")["pin_code"].tolist()
    day = str(wh.scalar("SELECT max(date) FROM sales_daily"))[:10]
    return wh, skus, pins, day


def engine_run(args, folder: Path) -> None:
    from engine.ingest.events import EventIngestor
    from engine.warehouse.events import totals

    wh, skus, pins, day = build(folder / "engine.duckdb")
    bodies, n_good = requests_for(args.events, args.request, skus, pins, day)
    ing = EventIngestor(wh, max_batch=args.batch, score_after_s=3600)
    ing.ingest(json.dumps({"event_id": "warm-up", "date": day, "sku": skus[0],
                           "pin": pins[0], "units": 1}))
    before = totals(wh)
    answers, lock = [], threading.Lock()
    todo = list(enumerate(bodies))

    def client():
        while True:
            with lock:
                if not todo:
                    return
                _, body = todo.pop(0)
            res = ing.ingest(body)
            with lock:
                answers.append(res)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    batches = ing.batches - 1
    ing.close()
    received = sum(r.received for r in answers)
    loaded, rejected = sum(r.loaded for r in answers), sum(r.rejected for r in answers)
    dups = sum(r.duplicates for r in answers)
    each = all(r.received == r.loaded + r.rejected + r.duplicates for r in answers)
    after = totals(wh)
    stored = {k: after[k] - before[k] for k in ("received", "loaded", "rejected", "duplicates")}
    rows = wh.scalar("SELECT count(*) FROM sales WHERE transaction_id LIKE 'ev-%'")
    distinct = wh.scalar("SELECT count(DISTINCT transaction_id) FROM sales WHERE "
                         "transaction_id LIKE 'ev-%'")
    wh.close()
    print(f"engine: {len(bodies):,} requests ({args.clients} clients, up to {args.request:,} "
          f"events each, every 5th sent twice), {batches:,} micro-batches of up to "
          f"{args.batch:,}")
    print(f"  {received:,} received = {loaded:,} loaded + {rejected:,} rejected + "
          f"{dups:,} duplicates  -> {'exact' if received == loaded + rejected + dups else 'MISMATCH'}"
          f" (every answer: {'exact' if each else 'MISMATCH'})")
    print(f"  warehouse event batches: {stored['received']:,} = {stored['loaded']:,} + "
          f"{stored['rejected']:,} + {stored['duplicates']:,} -> "
          f"{'same as the answers' if stored == {'received': received, 'loaded': loaded, 'rejected': rejected, 'duplicates': dups} else 'MISMATCH'}")
    print(f"  sales rows {rows:,} for {distinct:,} distinct ids; good ids sent {n_good:,} -> "
          f"{'nothing lost or doubled' if rows == distinct == loaded == n_good else 'MISMATCH'}")
    print(f"  {seconds:.2f} s -> {received / seconds:,.0f} events/s (target >= 10,000)")


def api_run(args, folder: Path) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.security import Settings
    from engine import auth

    wh, skus, pins, day = build(folder / "api.duckdb")
    rounds, auth.BCRYPT_ROUNDS = auth.BCRYPT_ROUNDS, 4
    auth.create_first_admin(wh, "admin", "admin-pass-123")
    auth.BCRYPT_ROUNDS = rounds
    wh.close()
    bodies, _ = requests_for(args.api_events, args.request, skus, pins, day, seed=5)
    app = create_app(folder / "api.duckdb", Settings(jwt_secret="b" * 48,
                                                      rate_per_minute=1_000_000))
    with TestClient(app) as client:
        token = client.post("/v1/auth/token", json={"username": "admin",
                                                    "password": "admin-pass-123"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        client.post("/v1/sales/events", content="", headers=headers)
        outs, todo, lock = [], list(bodies), threading.Lock()

        def send():
            while True:
                with lock:
                    if not todo:
                        return
                    body = todo.pop(0)
                out = client.post("/v1/sales/events", content=body, headers=headers).json()
                with lock:
                    outs.append(out)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=send) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        status = client.get("/v1/sales/events/status", headers=headers).json()
    received = sum(o["received"] for o in outs)
    exact = all(o["received"] == o["loaded"] + o["rejected"] + o["duplicates"] for o in outs)
    print(f"API (TestClient in-process, {args.clients} client threads, {len(bodies):,} "
          f"requests): {received:,} events in "
          f"{seconds:.2f} s -> {received / seconds:,.0f} events/s; every answer "
          f"{'exact' if exact else 'MISMATCH'}; status: {status['reconciliation']}")


def idle_poll(folder: Path) -> None:
    from engine.warehouse.db import Warehouse

    wh = Warehouse(folder / "engine.duckdb")
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        wh.data_version("forecasts", "alerts", "sales")
        times.append(time.perf_counter() - t0)
    wh.close()
    med = statistics.median(times)
    print(f"app idle poll: one data-version read {med * 1000:.3f} ms (median of 2,000; p99 "
          f"{sorted(times)[int(len(times) * 0.99)] * 1000:.3f} ms) -> {100 * med / 5:.4f}% "
          "of one core per open page at a 5 s poll")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--api-events", type=int, default=50_000)
    ap.add_argument("--request", type=int, default=5_000, help="events per request")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=20_000, help="micro-batch size")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mp_bench_events_") as tmp:
        folder = Path(tmp)
        engine_run(args, folder)
        api_run(args, folder)
        idle_poll(folder)


if __name__ == "__main__":
    main()
