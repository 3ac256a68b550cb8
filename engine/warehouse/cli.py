"""`init` command and the shared `--warehouse` option for every command."""
from __future__ import annotations

import argparse
import json
import sys
import time

from engine.warehouse.db import (Warehouse, WarehouseError, WarehouseStorageError,
                                 default_path)


def add_warehouse_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warehouse", metavar="PATH", default=None,
                        help="DuckDB file (default: $MICROPULSE_WAREHOUSE or data/warehouse.duckdb)")


def open_warehouse(args: argparse.Namespace, read_only: bool = False) -> Warehouse:
    """Open the warehouse named by --warehouse; exit with a one-line reason if we cannot.
    On a read-only disk it opens read-only: reading commands work, and a command's first
    write ends it with the read-only storage error (exit 74)."""
    path = getattr(args, "warehouse", None) or default_path()
    try:
        return Warehouse(path, read_only=True) if read_only else Warehouse.open_readable(path)
    except WarehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # 74 (EX_IOERR) for a full or read-only disk, as engine/__main__.py exits
        raise SystemExit(74 if isinstance(exc, WarehouseStorageError) else 2) from exc


def print_summary(summary: dict, as_json: bool) -> None:
    """A command's summary on stdout: one JSON object, or one `key: value` line per item."""
    if as_json:
        print(json.dumps(summary, default=str))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")


def add_commands(sub) -> None:
    p = sub.add_parser("init", help="create the warehouse schema, optionally with demo data")
    p.add_argument("--demo", action="store_true",
                   help="seed the demo dataset if the warehouse has no sales yet")
    p.add_argument("--scale", type=float, default=1.0,
                   help="demo size multiplier (1 = default ~3,000 series; 5 gives >10M sales rows)")
    p.add_argument("--seed", type=int, default=42, help="demo random seed")
    p.add_argument("--force", action="store_true",
                   help="replace existing demo data even if the warehouse has sales")
    p.add_argument("--ready", action="store_true",
                   help="then make the demo ready to show: a forecast run (quick backtest) when "
                        "there is none, alerts, and stored elasticities and accuracy tables")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    add_warehouse_arg(p)
    p.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    wh = open_warehouse(args)
    summary: dict = {"warehouse": str(wh.path), "schema_version": wh.schema_version()}
    if not wh.count("festivals"):
        from engine.signals.festivals import load_festival_reference

        summary["festivals"] = load_festival_reference(wh)
    if args.demo:
        if wh.count("sales_daily") and not args.force:
            summary["demo"] = "skipped: the warehouse already has sales (use --force to replace)"
        else:
            from engine.demo import DemoConfig, load_demo

            summary["demo"] = load_demo(wh, DemoConfig(seed=args.seed, scale=args.scale))
    if args.ready and wh.count("demo_truth"):    # the demo only: never a surprise run on
        from engine.ready import make_ready        # a retailer's own (maybe large) data

        say = (lambda _msg: None) if args.json else (lambda msg: print(msg, flush=True))
        summary["ready"] = make_ready(wh, say)
    elif args.ready:
        summary["ready"] = "skipped: not the demo warehouse (run 'python -m engine forecast')"
    summary["size_mb"] = round(wh.size_bytes() / 1e6, 1)
    wh.close()
    summary["seconds"] = round(time.perf_counter() - started, 2)
    print_summary(summary, args.json)
    return 0
