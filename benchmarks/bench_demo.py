"""Seed time and warehouse size for the demo dataset.

    python benchmarks/bench_demo.py [--scale 1]

Prints rows per table, generation/write seconds and the warehouse file size.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.demo import DemoConfig, load_demo  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        wh = Warehouse(path)
        summary = load_demo(wh, DemoConfig(scale=args.scale))
        wh.close()
        total = time.perf_counter() - started
        print(f"demo scale {args.scale}: {summary['sales']:,} sales rows, "
              f"{summary['series']:,} series")
        print(f"  generate {summary['generate_seconds']:.1f} s, write "
              f"{summary['write_seconds']:.1f} s, total {total:.1f} s")
        print(f"  warehouse size {path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
