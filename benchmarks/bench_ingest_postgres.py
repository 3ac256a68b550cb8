"""Validated sales ingest into PostgreSQL vs into the DuckDB file, on one generated CSV.

    .venv/bin/python benchmarks/bench_ingest_postgres.py               # N = 1,000,000
    .venv/bin/python benchmarks/bench_ingest_postgres.py --rows 200000

Generates bench_ingest.py's POS-style sales CSV (~0.1% bad rows), starts a throwaway
PostgreSQL server (engine/warehouse/pgserver.py, as the test suite does), and loads the
file with `ingest_file` (in process: sha256, staging and validation in DuckDB, quarantine,
sales, sales_daily, new SKUs, commit) into a fresh DuckDB warehouse and into a fresh
PostgreSQL warehouse (where the validated rows reach PostgreSQL by COPY; see
engine/warehouse/ingest_local.py). Prints seconds and rows/s for each, and checks that
both loaded and quarantined the same rows. Target on PostgreSQL: >= 200,000 rows/s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_ingest import make_csv  # noqa: E402

COUNTS = ("rows_read", "rows_loaded", "rows_quarantined", "duplicates_skipped")


def load(csv: Path, warehouse: Path) -> tuple[float, dict, tuple]:
    """Seconds to ingest `csv` into a fresh warehouse, its counts, and what it stored."""
    from engine.ingest.load import ingest_file
    from engine.warehouse.db import Warehouse

    wh = Warehouse(warehouse)
    try:
        t0 = time.perf_counter()
        result = ingest_file(wh, "sales", csv)
        seconds = time.perf_counter() - t0
        stored = (wh.scalar("SELECT count(*) FROM sales"),
                  wh.scalar("SELECT count(*) FROM quarantine"),
                  wh.scalar("SELECT count(*) FROM sales_daily"),
                  round(float(wh.scalar("SELECT sum(quantity * price) FROM sales")), 2))
    finally:
        wh.close()
    return seconds, {k: getattr(result, k) for k in COUNTS}, stored


def main() -> None:
    from engine.warehouse import pgserver

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ingest_pg_") as tmp:
        work = Path(tmp)
        csv = work / "sales.csv"
        make_csv(csv, args.rows)
        print(f"generated {args.rows:,} rows ({csv.stat().st_size / 1e6:,.0f} MB)")
        os.environ.pop("MICROPULSE_DATABASE_URL", None)
        duck_s, duck, duck_stored = load(csv, work / "bench.duckdb")
        folder = tempfile.mkdtemp(prefix="micropulse-pg-")
        try:
            os.environ["MICROPULSE_DATABASE_URL"] = pgserver.start(folder)
            pg_s, pg, pg_stored = load(csv, work / "bench.duckdb")
        finally:
            os.environ.pop("MICROPULSE_DATABASE_URL", None)
            pgserver.stop(folder)
            shutil.rmtree(folder, ignore_errors=True)
        n = args.rows
        print(f"DuckDB file     : {duck_s:6.2f} s  {n / duck_s:>10,.0f} rows/s  {duck}")
        print(f"PostgreSQL      : {pg_s:6.2f} s  {n / pg_s:>10,.0f} rows/s  {pg}")
        print(f"PostgreSQL / DuckDB time: {pg_s / duck_s:.1f}x")
        print("stored (sales rows, quarantine rows, sales_daily rows, revenue): "
              f"DuckDB {duck_stored}, PostgreSQL {pg_stored}")
        same = duck == pg and duck_stored == pg_stored
        print("same rows loaded and quarantined on both: " + ("yes" if same else "NO"))
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
