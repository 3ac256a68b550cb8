"""`python -m engine accuracy live [--json] [--run RUN_ID] [--rescore]`: how the stored
forecast runs did against the sales that have arrived since (engine/forecast/live.py)."""
from __future__ import annotations

import argparse
import json
import sys

from engine.warehouse.cli import add_warehouse_arg, open_warehouse


def add_commands(sub) -> None:
    p = sub.add_parser("accuracy", help="forecast accuracy; `accuracy live`: stored forecast "
                                        "runs scored against the sales that arrived since")
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    live = what.add_parser("live", help="score every stored forecast run on the actuals of "
                                        "its horizon (WAPE, bias, coverage, drift)")
    live.add_argument("--run", metavar="RUN_ID", default=None, help="only this run")
    live.add_argument("--rescore", action="store_true",
                      help="score every run again, even when its stored scores are current")
    live.add_argument("--json", action="store_true",
                      help="print a JSON object {runs: [...], drift_rule: {...}}")
    add_warehouse_arg(live)
    live.set_defaults(func=run_live)


def run_live(args: argparse.Namespace) -> int:
    from engine.forecast import live
    from engine.warehouse.runs import run_exists

    wh = open_warehouse(args)
    try:
        if args.run and not run_exists(wh, args.run):
            print(f"error: There is no forecast run {args.run!r}; `python -m engine "
                  "accuracy live` lists the runs that have actuals.", file=sys.stderr)
            return 2
        if args.rescore and not wh.read_only:
            live.refresh(wh, run_ids=[args.run] if args.run else None, force=True)
        rule = live.DriftRule.from_env()
        runs = live.summaries(live.scores(wh, args.run, rule))
    finally:
        wh.close()
    if args.json:
        print(json.dumps({"runs": runs, "drift_rule": {"ratio": rule.ratio,
                                                       "min_points": rule.min_points}},
                         default=str))
        return 0
    if not runs:
        print("No stored forecast run has actuals yet: the sales in the warehouse end "
              "before every run's horizon starts. Upload newer sales, then ask again.")
        return 0
    for run in runs:
        print(f"{run['run_id']}: {run['sentence']}")
        for g in run["by_category"]:
            print("  " + live.group_line(g["category"], g))
    return 0
