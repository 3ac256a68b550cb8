"""`python -m engine competitors {index|review|match|elasticity}`: competitor prices.

- index [--level sku|category|city] [--weeks 26] [--out FILE] [--json]: our price vs the
  competitors' per week;
- review [--json]: items waiting for a person (low-confidence matches);
- match ITEM (--sku SKU_ID | --not-ours) [--user NAME]: confirm or correct a match, or mark
  the item as not ours (remembered for later uploads);
- elasticity [--out FILE] [--json]: competitive cross-elasticity per SKU.
Uploads go through `python -m engine ingest competitor FILE`.
"""
from __future__ import annotations

import argparse
import json

import pandas as pd

from engine.export import ExportError, write_table
from engine.pricing.cli import out_problem, fail
from engine.pricing.elasticity import PricingError
from engine.warehouse.cli import add_warehouse_arg, open_warehouse


def add_commands(sub) -> None:
    p = sub.add_parser("competitors", help="competitor prices: price index, match review, "
                                           "competitive cross-elasticity")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    i = verbs.add_parser("index", help="our price vs the competitors' per week")
    i.add_argument("--level", choices=("sku", "category", "city"), default="sku")
    i.add_argument("--weeks", type=int, default=26, help="weeks of competitor data (26)")
    i.add_argument("--out", metavar="FILE", help="write the table (.csv, .xlsx or .json)")
    i.add_argument("--json", action="store_true", help="print a JSON summary")
    r = verbs.add_parser("review", help="competitor items waiting for a person")
    r.add_argument("--json", action="store_true", help="print the list as JSON")
    m = verbs.add_parser("match", help="confirm, correct or reject an item's match")
    m.add_argument("item", help="the competitor's item name (as listed by 'review')")
    who = m.add_mutually_exclusive_group(required=True)
    who.add_argument("--sku", help="our SKU id the item is")
    who.add_argument("--not-ours", action="store_true", help="the item is not one of ours")
    m.add_argument("--user", default="cli", help="who decided (kept in the audit log)")
    m.add_argument("--json", action="store_true")
    e = verbs.add_parser("elasticity", help="competitive cross-elasticity per SKU")
    e.add_argument("--out", metavar="FILE", help="write the table (.csv, .xlsx or .json)")
    e.add_argument("--json", action="store_true", help="print a JSON summary")
    for q in (i, r, m, e):
        add_warehouse_arg(q)
        q.set_defaults(func=run_competitors)


def run_competitors(args: argparse.Namespace) -> int:
    from engine.pricing.competitors import competitive_table, competitor_index
    from engine.warehouse import competitors as store

    if (bad := out_problem(args) if hasattr(args, "out") else None) is not None:
        return fail(bad, args.json)
    wh = open_warehouse(args, read_only=args.verb != "match")
    try:
        if args.verb == "match":
            key = " ".join(args.item.lower().split())
            try:
                status = store.decide_match(wh, key, None if args.not_ours else args.sku,
                                            args.user)
            except store.CompetitorMatchError as exc:
                return fail(str(exc), args.json, code=exc.code)
            out = {"status": "ok", "item": key, "match": status,
                   "sku_id": None if args.not_ours else args.sku}
            print(json.dumps(out) if args.json else f"{key}: {status}"
                  + (f" as {args.sku}" if args.sku else ""))
            return 0
        if args.verb == "review":
            table = store.review_list(wh)
            if args.json:
                print(table.to_json(orient="records", date_format="iso"))
            elif table.empty:
                print("No competitor items wait for review.")
            else:
                print(table[["item_name", "suggested_sku", "suggested_name", "confidence",
                             "competitors", "latest_price"]].to_string(index=False))
            return 0
        try:
            table = (competitor_index(wh, args.level, args.weeks) if args.verb == "index"
                     else competitive_table(wh))
        except PricingError as exc:
            return fail(str(exc), args.json)
    finally:
        wh.close()
    if args.out:
        try:
            write_table(table, args.out)
        except ExportError as exc:
            return fail(str(exc), args.json)
    if args.verb == "index":
        latest = table[table["week"] == table["week"].max()] if len(table) else table
        week = str(pd.Timestamp(table["week"].max()).date()) if len(table) else None
        summary = {"level": args.level, "rows": int(len(table)),
                   "groups": int(len(latest)), "latest_week": week,
                   "median_index": round(float(latest["index"].median()), 1)
                   if len(latest) else None, "out": args.out}
    else:
        summary = {"skus": int(len(table)), "sufficient": int(table["sufficient"].sum()),
                   "out": args.out}
    if args.json:
        print(json.dumps(summary))
    elif not args.out:
        print(table.to_csv(index=False), end="")
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0
