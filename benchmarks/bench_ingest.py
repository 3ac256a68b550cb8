"""Validated ingest speed vs DuckDB's raw read_csv, on a generated N-row sales CSV.

    .venv/bin/python benchmarks/bench_ingest.py            # N = 5,000,000
    .venv/bin/python benchmarks/bench_ingest.py --rows 2000000

Generates a POS-style CSV (transaction id, DD-MM-YYYY bill date, SKU, real PIN codes,
store, quantity, price with thousands separators on some rows, ~0.1% bad rows), then
times, on fresh warehouse files:
  1. raw:       CREATE TABLE t AS SELECT * FROM read_csv(file)   (DuckDB, in-process),
                 timed to the end of the statement and, separately, its close: DuckDB
                 leaves part of writing the new table to the checkpoint at close (on 5M
                 rows the file is ~70 MB when the statement returns and ~135 MB after
                 close, which takes ~1.8 s)
  2. validated: `python -m engine ingest sales FILE --json --no-alerts` (the CLI, wall
                 clock, including Python start-up, sha256, validation, quarantine,
                 sales_daily, commit and close; --no-alerts skips re-checking the alert
                 rules afterwards, which is not part of loading)
and prints rows/s for both and their ratio, against the raw load both with and without
its close. Each is run --repeat times (default 3) on a
fresh warehouse and the median is reported, with every run listed: single runs on a
shared 2-core machine vary by +-10%. Targets: >= 1,000,000 rows/s and >= 50%.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_csv(path: Path, rows: int, seed: int = 7) -> None:
    from engine.geo import pin_reference

    pins = pin_reference()["pin_code"].head(400).tolist()
    con = duckdb.connect()
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute("CREATE TEMP TABLE pins AS SELECT unnest(?) AS pin, "
                "generate_subscripts(?, 1) AS i", [pins, pins])
    n_pins = len(pins)
    con.execute(f"""
        COPY (
          SELECT 'T' || lpad(CAST(g AS VARCHAR), 10, '0') AS "Bill No",
                 strftime(DATE '2023-01-01' + CAST(g % 700 AS INTEGER), '%d-%m-%Y') AS "Bill Date",
                 'SKU' || lpad(CAST((g * 7919) % 3000 AS VARCHAR), 5, '0') AS "Item Code",
                 CASE WHEN g % 1000 = 17 THEN '56001'
                      ELSE (SELECT pin FROM pins WHERE i = 1 + (g * 31) % {n_pins}) END AS "Pincode",
                 'S' || CAST(g % 50 AS VARCHAR) AS "Store",
                 CASE WHEN g % 1000 = 503 THEN 'ten' ELSE CAST(1 + g % 5 AS VARCHAR) END AS "Qty",
                 CASE WHEN g % 10 = 0 THEN '1,' || lpad(CAST(g % 1000 AS VARCHAR), 3, '0')
                      ELSE CAST(10 + g % 490 AS VARCHAR) || '.50' END AS "Rate"
          FROM range({rows}) t(g)
        ) TO '{path}' (HEADER, DELIMITER ',')""")
    con.close()


def time_raw(csv: Path, work: Path) -> tuple[float, float]:
    """Seconds for the CREATE TABLE ... read_csv statement, and for closing the file."""
    db = work / "raw.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(csv)])
    t1 = time.perf_counter()
    con.close()
    return t1 - t0, time.perf_counter() - t1


def time_cli(csv: Path, work: Path) -> tuple[float, dict]:
    db = work / "validated.duckdb"
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "engine", "init", "--warehouse", str(db)],
                   cwd=REPO, check=True, capture_output=True)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "engine", "ingest", "sales", str(csv), "--json",
                          "--no-alerts",
                          "--warehouse", str(db)], cwd=REPO, check=True, capture_output=True,
                         text=True)
    dt = time.perf_counter() - t0
    return dt, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the median is reported")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        work = Path(tmp)
        csv = work / "sales.csv"
        t0 = time.perf_counter()
        make_csv(csv, args.rows)
        print(f"generated {args.rows:,} rows ({csv.stat().st_size / 1e6:,.0f} MB) "
              f"in {time.perf_counter() - t0:.1f} s")
        stmts, closes, clis = [], [], []
        for _ in range(args.repeat):     # interleaved, so both see the same machine load
            stmt, close = time_raw(csv, work)
            stmts.append(stmt)
            closes.append(close)
            cli, result = time_cli(csv, work)
            clis.append(cli)
            assert result["rows_read"] == (result["rows_loaded"] + result["rows_quarantined"]
                                           + result["duplicates_skipped"])
        raw, close, cli = (statistics.median(x) for x in (stmts, closes, clis))
        whole = statistics.median(s + c for s, c in zip(stmts, closes))
        n = args.rows
        print("runs (s): " + "; ".join(f"{name} {', '.join(f'{x:.2f}' for x in xs)}" for
                                        name, xs in (("raw statement", stmts),
                                                     ("raw close", closes),
                                                     ("validated", clis))))
        print(f"raw DuckDB read_csv -> table : {raw:6.2f} s  {n / raw:>12,.0f} rows/s"
              f"   (statement only)")
        print(f"  with its close             : {whole:6.2f} s  {n / whole:>12,.0f} rows/s"
              f"   (close {close:.2f} s)")
        print(f"validated ingest (CLI)       : {cli:6.2f} s  {n / cli:>12,.0f} rows/s")
        print(f"ratio validated / raw        : {raw / cli:6.1%} of the statement, "
              f"{whole / cli:.1%} of statement + close   (medians of {args.repeat})")
        print(f"loaded {result['rows_loaded']:,}, quarantined {result['rows_quarantined']:,}, "
              f"duplicates {result['duplicates_skipped']:,}; "
              f"pins repaired {result.get('pins_repaired', 0):,}")


if __name__ == "__main__":
    main()
