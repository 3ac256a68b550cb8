"""`python -m engine alerts [--json] [--as-of DATE] [--status S]`: generate, then list."""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from engine.textfmt import inr_compact
from engine.warehouse.cli import add_warehouse_arg, open_warehouse

JSON_COLUMNS = ["alert_id", "rule", "severity", "entity", "day", "reason", "status",
                "created_at", "acknowledged_by", "acknowledged_at", "resolved_at", "link",
                "at_stake", "at_stake_how"]


def add_commands(sub) -> None:
    p = sub.add_parser("alerts", help="generate alerts from the warehouse, then list them")
    p.add_argument("--as-of", metavar="DATE", default=None,
                   help="evaluate the rules as of this day (default: the newest sales date)")
    p.add_argument("--status", choices=["new", "acknowledged", "resolved", "open", "all"],
                   default="all", help="which alerts to list (open = new or acknowledged)")
    p.add_argument("--no-generate", action="store_true", help="only list stored alerts")
    p.add_argument("--actor", default="cli", help="who to record in the audit log")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of alerts (alert_id, rule, severity, entity, "
                        "reason, status, created_at, ...)")
    add_warehouse_arg(p)
    p.set_defaults(func=run_alerts)


def _jsonable(value):
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def run_alerts(args: argparse.Namespace) -> int:
    from engine.alerts import generate_alerts, list_alerts

    as_of = None
    if args.as_of:
        try:
            as_of = pd.Timestamp(args.as_of).date()
        except ValueError:
            print(f"error: --as-of {args.as_of!r} is not a date (use YYYY-MM-DD).",
                  file=sys.stderr)
            return 2
    wh = open_warehouse(args)
    try:
        result = None if args.no_generate else generate_alerts(wh, as_of=as_of,
                                                               actor=args.actor)
        status = {"all": None, "open": ["new", "acknowledged"]}.get(args.status, args.status)
        alerts = list_alerts(wh, status=status)
    finally:
        wh.close()
    if result is not None:
        print(result.summary(), file=sys.stderr)
    if args.json:
        rows = [{c: _jsonable(r[c]) for c in JSON_COLUMNS} for _, r in alerts.iterrows()]
        for row, day in zip(rows, alerts["day"]):
            row["day"] = pd.Timestamp(day).date().isoformat()
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if alerts.empty:
        print("No alerts.")
        return 0
    for r in alerts.itertuples(index=False):         # most rupees at stake first
        stake = inr_compact(r.at_stake) if pd.notna(r.at_stake) else "—"
        print(f"[{r.severity:<8}] {r.status:<12} {stake:>13} {r.rule:<18} {r.entity:<22} "
              f"{pd.Timestamp(r.day):%d-%b}  {r.reason}")
    return 0
