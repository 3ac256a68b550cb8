"""Markdown benchmark: how much of the best margin the recommended path recovers, on the
demo's markdown candidates with their planted (known) elasticity, and time per plan.

    .venv/bin/python benchmarks/bench_markdown.py [--warehouse PATH | --small] [--lines 12]

Without --warehouse the default demo (DemoConfig(); --small: DemoConfig.small()) is seeded
into a temporary file.
For each candidate line (short-life and end-of-season stock, as the Pricing page lists
them; steps widened so a line has at most 5, which keeps exhaustive search small):

- "same model": the DP's path vs the best of EVERY path of the price ladder (exhaustive
  search), both with the elasticity the product uses (the stored estimate);
- "planted": the product's path (planned with the estimate) evaluated with the demo's
  planted elasticity (demo_truth) vs the best path found by exhaustive search with the
  planted elasticity; and the same at planted elasticities -0.5 ... -3.5 on the line's own
  stock and baseline (the path planned with that elasticity).

Recovered = (revenue + salvage) of the path / that of the best path (the stock's cost is
sunk and the same for both, so this is the recovered margin's share of the best plus the
cost); also printed: both margins (revenue + salvage - cost). Target (issue 27): >= 95%.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.pricing.markdown import (MarkdownConfig, exhaustive_best, plan_markdown,  # noqa: E402
                                     price_ladder, simulate_paths, step_demand)
from engine.pricing.service import markdown_candidates, markdown_plan  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402
from engine.warehouse.catalog import demo_truth_elasticity  # noqa: E402


def _open(path: str | None, small: bool) -> Warehouse:
    if path:
        return Warehouse(path)
    from engine.demo import DemoConfig, load_demo

    tmp = Path(tempfile.mkdtemp()) / "bench_markdown.duckdb"
    wh = Warehouse(tmp)
    t = time.perf_counter()
    load_demo(wh, DemoConfig.small() if small else DemoConfig())
    print(f"seeded the {'small' if small else 'default'} demo in "
          f"{time.perf_counter() - t:.1f} s")
    return wh


def _value(line, cfg, path) -> float:
    """Revenue + salvage of a ladder path for `line` (its elasticity)."""
    prices = price_ladder(line.price, line.unit_cost, cfg)
    _, demand = step_demand(line, prices, cfg)
    salvage = line.salvage_value(cfg)
    revenue, _, left = simulate_paths(line.on_hand, prices, demand, path, salvage)
    return float(revenue[0] + salvage * left[0])


def _compare(line, planned_path, cfg) -> tuple[float, float, float]:
    """(path value, best value, exhaustive seconds) under `line`'s elasticity."""
    t = time.perf_counter()
    best_path, _ = exhaustive_best(line, cfg)
    secs = time.perf_counter() - t
    return _value(line, cfg, planned_path), _value(line, cfg, best_path), secs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", default=None)
    ap.add_argument("--small", action="store_true", help="seed the small demo")
    ap.add_argument("--lines", type=int, default=12)
    ap.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the stock count day)")
    args = ap.parse_args()
    wh = _open(args.warehouse, args.small)
    as_of = (date.fromisoformat(args.as_of) if args.as_of else
             wh.scalar("SELECT max(snapshot_date) FROM inventory"))
    from engine.pricing.service import elasticity_table

    t = time.perf_counter()
    elasticity_table(wh)
    print(f"elasticities estimated and stored in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    cands, label = markdown_candidates(wh, as_of)
    kinds = {k: int(v) for k, v in cands["kind"].value_counts().items()}
    print(f"candidates: {len(cands)} lines ({kinds}) in "
          f"{time.perf_counter() - t:.2f} s incl. a plan each; baseline: {label}")
    truth = demo_truth_elasticity(wh).set_index("sku_id")["elasticity"]
    planned = cands[cands["days_left"] > 0]
    picks = planned.groupby("kind", group_keys=False).head(args.lines // 2)
    same, planted, grid, plan_ms = [], [], [], []
    print(f"{'line':<22}{'kind':<14}{'days':>5}{'est':>7}{'true':>7}"
          f"{'same model':>12}{'planted':>9}{'margin path / best (planted)':>32}{'DP ms':>7}")
    for r in picks.itertuples(index=False):
        steps = min(5, r.days_left)
        cfg = MarkdownConfig(step_days=int(math.ceil(r.days_left / steps)))
        t = time.perf_counter()
        plan, _ = markdown_plan(wh, r.sku_id, r.pin_code, as_of, cfg)
        plan_ms.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        plan_markdown(plan.line, cfg)
        dp_ms = 1000 * (time.perf_counter() - t)
        prices = price_ladder(plan.line.price, plan.line.unit_cost, cfg)
        path = [[int(abs(prices - p).argmin()) for p in plan.steps["price"]]]
        got, best, _ = _compare(plan.line, path, cfg)
        same.append(got / best if best > 0 else 1.0)
        true_e = float(truth.get(r.sku_id, float("nan")))
        cost = plan.line.unit_cost * plan.line.on_hand
        if math.isfinite(true_e):
            real = replace(plan.line, elasticity=true_e)
            got_t, best_t, _ = _compare(real, path, cfg)
            planted.append(got_t / best_t if best_t > 0 else 1.0)
            margins = f"{got_t - cost:>14,.0f} / {best_t - cost:>14,.0f}"
        else:
            margins = f"{'(no demo_truth)':>32}"
        for e in (-0.5, -1.5, -2.5, -3.5):
            line = replace(plan.line, elasticity=e)
            p = plan_markdown(line, cfg)
            idx = [[int(abs(prices - q).argmin()) for q in p.steps["price"]]]
            g, b, _ = _compare(line, idx, cfg)
            grid.append(g / b if b > 0 else 1.0)
        print(f"{r.sku_id + ' @ ' + r.pin_code:<22}{r.kind:<14}{r.days_left:>5}"
              f"{plan.line.elasticity:>7.2f}{true_e:>7.2f}{same[-1]:>12.2%}"
              f"{planted[-1] if math.isfinite(true_e) else float('nan'):>9.2%}{margins}"
              f"{dp_ms:>7.1f}")
    print(f"same model (DP vs exhaustive): min {min(same):.2%}, median "
          f"{statistics.median(same):.2%} over {len(same)} lines")
    if planted:
        print(f"planted elasticity (path planned on the estimate): min {min(planted):.2%}, "
              f"median {statistics.median(planted):.2%}, >= 95% on "
              f"{sum(x >= 0.95 for x in planted)} of {len(planted)}")
    print(f"planted elasticities -0.5/-1.5/-2.5/-3.5 on these lines: min {min(grid):.2%}, "
          f"median {statistics.median(grid):.2%} over {len(grid)} cases")
    print(f"time per plan from the warehouse (load + DP): median "
          f"{statistics.median(plan_ms):.0f} ms, max {max(plan_ms):.0f} ms")
    wh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
