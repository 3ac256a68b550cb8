"""PIN-scoped reads for store users: what the scoping views cost per query, and bcrypt.

    .venv/bin/python benchmarks/bench_scoped.py [--demo-scale small|1.0] [--repeat 50]

Seeds a demo warehouse in a temp dir, then times (median ms) the same queries through the
plain `Warehouse` and through a `ScopedWarehouse` for two PIN codes: a trivial query (the
pure overhead), the overview KPIs, and the sales-by-PIN map query; plus preparing a fresh
cursor (one CREATE TEMP VIEW per table) and one bcrypt hash/check at the
default cost. Prints figures only; nothing is asserted here.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import auth  # noqa: E402
from engine.demo import DemoConfig, load_demo  # noqa: E402
from engine.warehouse import sql, sales_summary as q  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402
from timing import median_ms  # noqa: E402
from engine.warehouse.scoped import ScopedWarehouse  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo-scale", default="small")
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    cfg = DemoConfig.small() if args.demo_scale == "small" else DemoConfig(
        scale=float(args.demo_scale))
    with tempfile.TemporaryDirectory() as tmp:
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        t = time.perf_counter()
        load_demo(wh, cfg)
        print(f"demo ({args.demo_scale}) seeded in {time.perf_counter() - t:.1f} s; "
              f"sales_daily rows: {wh.count('sales_daily'):,}")
        pins = wh.query("SELECT DISTINCT pin_code FROM sales_daily ORDER BY 1")["pin_code"]
        scoped = ScopedWarehouse(wh, pins[:2])
        f = sql.Filters()
        cases = {
            "SELECT 1": lambda w: w.scalar("SELECT 1"),
            "overview kpis": lambda w: q.kpis(w, f),
            "sales by PIN (map)": lambda w: q.sales_by_pin(w, f),
        }
        print(f"{'query':<22}{'Warehouse ms':>14}{'Scoped ms':>12}")
        for name, fn in cases.items():
            base_ms = median_ms(lambda: fn(wh), args.repeat)
            scoped_ms = median_ms(lambda: fn(scoped), args.repeat)
            print(f"{name:<22}{base_ms:>14.2f}{scoped_ms:>12.2f}")
        n_views = len(scoped._view_sql(scoped._columns(wh.cursor())))
        fresh = median_ms(lambda: scoped.cursor().close(), max(5, args.repeat // 5))
        print(f"fresh scoped cursor ({n_views} views): {fresh:.1f} ms "
              "(paid once per pooled cursor, and when a table or column appears)")
        hashed = auth.hash_password("benchmark-password")
        t = time.perf_counter()
        auth.hash_password("benchmark-password")
        h_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        auth._check("benchmark-password", hashed)
        c_ms = (time.perf_counter() - t) * 1000
        print(f"bcrypt cost {auth.BCRYPT_ROUNDS}: hash {h_ms:.0f} ms, check {c_ms:.0f} ms")
        wh.close()


if __name__ == "__main__":
    main()
