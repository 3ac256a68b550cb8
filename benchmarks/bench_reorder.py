"""Reorder planning benchmark: policy speed, MILP on 10,000 lines under a budget, and the
8-week replay fill rate on the demo.

    .venv/bin/python benchmarks/bench_reorder.py [--lines 10000] [--budget-share 0.6]
        [--demo-scale 1.0] [--skip-replay]

Prints figures only; nothing is asserted here.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.inventory.advice import build_plan  # noqa: E402
from engine.inventory.demand import DemandModel  # noqa: E402
from engine.inventory.optimize import OptimizeConfig, optimize_orders, rupees  # noqa: E402
from engine.inventory.policy import PolicyConfig  # noqa: E402


def synthetic_lines(n: int, seed: int = 7, horizon: int = 28):
    """n SKU x PIN lines with skewed demand, most of them at or below the reorder point."""
    rng = np.random.default_rng(seed)
    sku = [f"SKU-{i // 20:04d}" for i in range(n)]
    pin = [f"{110001 + i % 20 * 7}" for i in range(n)]
    daily = rng.lognormal(1.2, 1.0, n)
    pack = rng.choice([1, 6, 12, 24], n)
    cost = np.round(rng.lognormal(4.0, 0.8, n), 2)
    lines = pd.DataFrame({
        "sku_id": sku, "pin_code": pin, "on_hand": np.floor(daily * rng.uniform(0, 3, n)),
        "on_order": 0.0, "lead_time_days": rng.integers(2, 12, n), "case_pack": pack,
        "moq": pack * rng.choice([1, 1, 2, 3], n), "unit_cost": cost,
        "mrp": np.round(cost * rng.uniform(1.15, 1.6, n), 2),
        "unit_volume_l": np.round(rng.uniform(0.1, 2.0, n), 2), "category": "Staples",
        "state": "Delhi", "city": "Delhi", "name": sku, "supplier": "Bench Supplier",
        "shelf_life_days": np.nan, "lat": 28.6, "lon": 77.2})
    as_of = pd.Timestamp("2026-01-01")
    dates = as_of + pd.to_timedelta(np.arange(1, horizon + 1), unit="D")
    path = pd.DataFrame({"sku_id": np.repeat(sku, horizon), "pin_code": np.repeat(pin, horizon),
                         "date": np.tile(dates.to_numpy(), n),
                         "forecast": np.repeat(daily, horizon)})
    sigma = pd.DataFrame({"sku_id": sku, "pin_code": pin,
                          "sigma_daily": daily * rng.uniform(0.3, 0.9, n),
                          "error_source": "synthetic"})
    model = DemandModel(path=path, sigma=sigma, source="forecast", label="synthetic",
                        as_of=as_of.date())
    return lines, model


def bench_milp(n: int, budget_share: float) -> None:
    lines, model = synthetic_lines(n)
    t = time.perf_counter()
    plan = build_plan(lines, model, PolicyConfig())
    policy_s = time.perf_counter() - t
    ask = float(plan["order_value"].sum())
    budget = budget_share * ask
    cap = 0.8 * float(plan["order_volume_l"].sum())
    print(f"policy: {n:,} lines planned in {policy_s:.2f} s "
          f"({n / policy_s:,.0f} lines/s); {int((plan['order_qty'] > 0).sum()):,} lines "
          f"to order worth {rupees(ask)}")
    cfg = OptimizeConfig(budget=budget, volume_capacity_l=cap, gap_rel=0.01,
                         time_limit_s=25.0)
    t = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sol = optimize_orders(plan, cfg)
    total = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cbc_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(f"milp: {sol.n_candidates:,} candidate lines, budget {rupees(budget)} "
          f"({budget_share:.0%} of the ask), volume cap {cap:,.0f} L")
    print(f"milp: status={sol.status} gap={100 * (sol.gap or 0):.3f}% "
          f"build={sol.build_seconds:.2f} s solve={sol.seconds:.2f} s total={total:.2f} s "
          f"(CBC CPU {cbc_cpu:.1f} s; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")
    print(f"milp: spend {rupees(sol.total_value)} (<= budget: "
          f"{sol.total_value <= budget + 1e-6}), volume {sol.total_volume_l:,.0f} L, "
          f"expected fill rate {sol.expected_fill_rate:.1%}")
    ok = sol.lines[sol.lines["opt_qty"] > 0]
    pack_ok = bool(((ok["opt_qty"] % ok["case_pack"]) == 0).all())
    moq_ok = bool((ok["opt_qty"] >= ok["moq"]).all())
    print(f"milp: case-pack multiples {pack_ok}, MOQ respected {moq_ok}")
    print(f"milp: {sol.explanation}")


def bench_replay(scale: float) -> None:
    from engine.demo import DemoConfig, load_demo
    from engine.inventory.planner import load_festivals
    from engine.inventory.simulate import replay_policy
    from engine.warehouse.db import Warehouse
    from engine.warehouse.inventory import read_inventory_lines
    from engine.warehouse.sales import last_sales_date
    from engine.warehouse.sales_history import read_sales_window

    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        t = time.perf_counter()
        load_demo(wh, DemoConfig(scale=scale))
        print(f"demo: loaded scale {scale} in {time.perf_counter() - t:.1f} s")
        last = last_sales_date(wh)
        sales = read_sales_window(wh, pd.Timestamp(last) - pd.Timedelta(days=7 * 17), last)
        lines = read_inventory_lines(wh)
        festivals = load_festivals(wh)
        for sl in (0.90, 0.95, 0.98):
            t = time.perf_counter()
            res = replay_policy(sales, lines, PolicyConfig(service_level=sl),
                                festivals=festivals)
            print(f"replay ({time.perf_counter() - t:.1f} s): {res.summary()}")
        wh.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--budget-share", type=float, default=0.6)
    ap.add_argument("--demo-scale", type=float, default=1.0)
    ap.add_argument("--skip-replay", action="store_true")
    args = ap.parse_args()
    bench_milp(args.lines, args.budget_share)
    if not args.skip_replay:
        bench_replay(args.demo_scale)


if __name__ == "__main__":
    main()
