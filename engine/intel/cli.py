"""`python -m engine trends ...`: emerging / declining items, what changed, store clusters
and the weekly digest.

    trends [items] [--level category|brand|sku|pin_code|city] [--weeks 26] [--alpha 0.05]
                   [--status emerging|declining|steady|all] [--out FILE] [--json]
    trends changed [--category NAME] [--weeks 4] [--place city|pin_code] [--out FILE] [--json]
    trends clusters [--out FILE] [--json]
    trends digest --out FILE.html|FILE.xlsx [--weeks 26]

A bad option value or a question the data cannot answer ends as one `error: ...` line
(exit 2), never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from engine.warehouse.cli import add_warehouse_arg, open_warehouse

VIEWS = ("items", "changed", "clusters", "digest")


def add_commands(sub) -> None:
    p = sub.add_parser("trends", help="emerging and declining items, what changed, store "
                                      "clusters, the weekly digest")
    p.add_argument("view", nargs="?", choices=VIEWS, default="items")
    p.add_argument("--level", default="category",
                   help="items: category, brand, sku, pin_code or city (default category)")
    p.add_argument("--weeks", type=int, default=None,
                   help="items/digest: weeks tested for a trend (default 26); changed: "
                        "weeks in each period (default 4)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="items: false-discovery rate across items (default 0.05)")
    p.add_argument("--status", choices=["emerging", "declining", "steady", "all"],
                   default="all", help="items: which items to list")
    p.add_argument("--category", default=None, help="changed: one category (default all)")
    p.add_argument("--place", choices=["city", "pin_code"], default="city",
                   help="changed: explain by city or PIN code")
    p.add_argument("--out", metavar="FILE", default=None,
                   help=".csv/.xlsx/.json table (items, changed: the by-SKU table, clusters); "
                        "digest: .html or .xlsx")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_warehouse_arg(p)
    p.set_defaults(func=run_trends)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _records(df: pd.DataFrame) -> list[dict]:
    from engine.export import json_records

    return json.loads(json_records(df))


def run_trends(args: argparse.Namespace) -> int:
    from engine.export import ExportError, check_target
    from engine.intel import IntelError

    if args.out and args.view != "digest":
        try:
            check_target(args.out)
        except ExportError as exc:
            return _fail(str(exc))
    if args.view == "digest":
        if not args.out or Path(args.out).suffix.lower() not in (".html", ".xlsx"):
            return _fail("trends digest needs --out FILE.html or FILE.xlsx.")
        if not Path(args.out).parent.exists():
            return _fail(f"Cannot write {args.out}: the folder {Path(args.out).parent} "
                         "does not exist.")
    wh = open_warehouse(args)
    try:
        return _run(wh, args)
    except IntelError as exc:
        return _fail(exc.message)
    except ExportError as exc:
        return _fail(str(exc))
    finally:
        wh.close()


def _run(wh, args) -> int:
    from engine.export import write_table
    from engine.intel import clusters as C
    from engine.intel import trends as T
    from engine.warehouse.sql import Filters

    f = Filters()
    if args.view == "items":
        res = T.trends(wh, f, T.TrendConfig(level=args.level, weeks=args.weeks or 26,
                                             alpha=args.alpha))
        table = res.table if args.status == "all" else res.by_status(args.status)
        print(res.summary(), file=sys.stderr)
        if args.out:
            write_table(table, args.out)
        if args.json:
            print(json.dumps({"level": args.level, "start": str(res.start),
                              "end": str(res.end), "items": _records(table)},
                             ensure_ascii=False))
        elif not args.out:
            for r in table.itertuples():
                print(f"{r.status:<16} {str(r.label)[:40]:<40} {r.reason}")
        return 0
    if args.view == "changed":
        w = T.what_changed(wh, f, args.category, weeks=args.weeks or 4, place=args.place)
        if args.out:
            write_table(w.by_sku, args.out)
        if args.json:
            print(json.dumps({"category": args.category, "headline": w.headline(),
                              "periods": {k: [str(s), str(e)] for k, (s, e) in w.periods.items()},
                              "bridge": _records(w.bridge[["step", "label", "amount"]]),
                              "by_sku": _records(w.by_sku), "by_place": _records(w.by_place)},
                             ensure_ascii=False))
        elif not args.out:
            print(w.headline())
            for r in w.bridge.itertuples():
                print(f"  {r.label:<24} {r.amount:>16,.0f}")
        return 0
    if args.view == "clusters":
        rows = C.store_clusters(wh)
        summary = C.cluster_summary(rows)
        if args.out:
            write_table(rows[["pin_code", "cluster", "cluster_name", "description"]], args.out)
        if args.json:
            print(json.dumps({"k": int(rows["k"].iat[0]) if len(rows) else None,
                              "clusters": _records(summary),
                              "pins": _records(rows[["pin_code", "cluster"]])},
                             ensure_ascii=False))
        elif not args.out:
            for r in summary.itertuples():
                print(f"{r.cluster_name} ({r.n_pins} PIN codes): {r.description}")
        return 0
    from engine.intel.digest import build_digest, to_excel, to_html

    d = build_digest(wh, f, weeks=args.weeks or 26)
    data = to_html(d).encode("utf-8") if args.out.lower().endswith(".html") else to_excel(d)
    Path(args.out).write_bytes(data)
    print(f"digest written to {args.out} ({len(data):,} bytes)", file=sys.stderr)
    return 0

