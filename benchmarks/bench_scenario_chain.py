"""Scenario chain benchmark: time to recompute one scenario end to end (demand -> margin
-> orders -> mandi buying, beside the baseline) on the demo warehouse (issue 20 targets:
a category x state scenario under 2 s, a single series under 300 ms).

    .venv/bin/python benchmarks/bench_scenario_chain.py [--warehouse PATH] [--runs 7]

Without --warehouse the demo is seeded into a temporary file and made ready (`init --demo
--ready`: a forecast run, elasticities, response curves). Measured:
- "inputs": engine.scenarios.compute.load_inputs, once per data version (what a page or the
  API pays after a sales upload or a new forecast; cached afterwards);
- "recompute": compute() with the inputs loaded, median and worst of --runs, each run with
  a different price change so nothing is reused from the previous one - what a slider or
  an API call pays. Wall time, and the process's CPU time (which other work on the machine
  does not inflate; the load average is printed so a busy machine shows).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.scenarios import Assumptions, Scenario, Selection  # noqa: E402
from engine.scenarios import compute as C  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402


def demo_path() -> Path:
    from engine.ready import make_ready
    from engine.demo import DemoConfig, load_demo

    path = Path(tempfile.mkdtemp(prefix="mp_bench_scn_")) / "demo.duckdb"
    wh = Warehouse(path)
    load_demo(wh, DemoConfig())
    make_ready(wh)
    wh.close()
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", default=None)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    path = Path(args.warehouse) if args.warehouse else demo_path()
    wh = Warehouse(path, read_only=True)
    t = time.perf_counter()
    inputs = C.load_inputs(wh)
    load_s = time.perf_counter() - t
    base = inputs.base
    big = base.groupby(["category", "state"])["forecast"].sum().idxmax()
    top = base.groupby(["sku_id", "pin_code"])["forecast"].sum().idxmax()
    cases = [
        (f"one series ({top[0]} at {top[1]})", Selection(skus=(top[0],), pins=(top[1],)),
         {}, 0.3),
        (f"category x state ({big[0]}, {big[1]})",
         Selection(categories=(big[0],), states=(big[1],)), {}, 2.0),
        (f"category x state + budget, service level, mandi shock",
         Selection(categories=("Edible Oil",), states=(big[1],)),
         {"service_level": 0.98, "budget_inr": 50_000, "mandi_price_shock_pct": 15}, 2.0),
        (f"whole category ({big[0]}, every state)", Selection(categories=(big[0],)), {},
         None),
    ]
    print(f"warehouse: {path}  ({len(base):,} forecast rows, "
          f"{base[['sku_id', 'pin_code']].drop_duplicates().shape[0]:,} series)")
    print(f"inputs (once per data version): {load_s:.2f} s")
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'scenario':58s} {'first':>7s} {'median':>7s} {'worst':>7s} {'cpu':>7s} target")
    for label, sel, extra, target in cases:
        times, cpu = [], []
        for i in range(args.runs + 1):
            sc = Scenario("bench", sel, Assumptions(price_change_pct=-5 - i, **extra))
            t, c = time.perf_counter(), time.process_time()
            C.compute(inputs, sc)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        first, rest = times[0], times[1:]
        med, cpu_med = statistics.median(rest), statistics.median(cpu[1:])
        verdict = "" if target is None else (f"< {target:g} s " +
                                             ("met" if med < target else "NOT MET"))
        print(f"{label:58s} {first:7.3f} {med:7.3f} {max(rest):7.3f} {cpu_med:7.3f} {verdict}")
    wh.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
