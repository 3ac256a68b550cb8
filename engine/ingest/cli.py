"""`python -m engine ingest {sales|catalog|inventory|mandi|plan|competitor} FILE [--json]` and
`python -m engine events FILE.ndjson [--json]` (sales events, as POST /v1/sales/events)."""
from __future__ import annotations

import argparse
import json
import sys

from engine.ingest.mapping import KINDS


def add_commands(sub) -> None:
    from engine.warehouse.cli import add_warehouse_arg

    p = sub.add_parser("ingest", help="load a sales, catalog, inventory, mandi, plan "
                                      "(planned prices and promotions) or competitor "
                                      "(competitors' shelf prices) file")
    p.add_argument("kind", choices=KINDS, help="what the file holds")
    p.add_argument("file", help="CSV (any common delimiter, UTF-8/BOM/Latin-1), .xlsx or Parquet")
    p.add_argument("--json", action="store_true", help="print one JSON object with the counts")
    p.add_argument("--sheet", default=None, help="Excel sheet to read (default: the first)")
    p.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD",
                   help="map a file column to a field by hand, e.g. --map 'Bill Qty=quantity' "
                        "(repeatable; FIELD empty to ignore the column)")
    p.add_argument("--user", default=None, help="who is uploading (recorded with the batch)")
    p.add_argument("--no-alerts", action="store_true",
                   help="do not re-check the alert rules after loading")
    add_warehouse_arg(p)
    p.set_defaults(func=run_ingest)
    ev = sub.add_parser("events", help="load sales events from an NDJSON file (one JSON "
                                       "object per line), as POST /v1/sales/events does")
    ev.add_argument("file", help="NDJSON: event_id, date or timestamp, sku, pin, units, ...")
    ev.add_argument("--json", action="store_true",
                    help="print one JSON object: received, loaded, rejected, duplicates, "
                         "rejects ...")
    ev.add_argument("--user", default=None, help="who is sending (recorded with the batch)")
    add_warehouse_arg(ev)
    ev.set_defaults(func=run_events)


def run_ingest(args: argparse.Namespace) -> int:
    from engine.ingest.load import ingest_file
    from engine.ingest.mapping import parse_map_args
    from engine.warehouse.cli import open_warehouse

    # an IngestError ends the command as one `error:` line, exit 2 (engine/__main__.py)
    overrides = parse_map_args(args.map)
    wh = open_warehouse(args)
    try:
        result = ingest_file(wh, args.kind, args.file, sheet=args.sheet, overrides=overrides,
                             user=args.user)
        if result.rows_loaded and not args.no_alerts:
            from engine.alerts import refresh_after

            print(refresh_after(wh, "upload", args.user), file=sys.stderr)
    finally:
        wh.close()
    if args.json:
        out = {k: result.as_dict()[k] for k in (
            "batch_id", "kind", "file_name", "sha256", "status", "grain", "rows_read",
            "rows_loaded", "rows_quarantined", "duplicates_skipped", "blank_lines",
            "total_rows", "mapping")}
        out["reconciliation"] = result.reconciliation
        out["columns"] = result.columns
        out["ignored_columns"] = result.ignored_columns
        out["issues"] = [i["sentence"] for i in result.issues]
        for key in ("pins_repaired", "unknown_skus_created", "date_min", "date_max",
                    "promo_from", "plan_version", "promo_type_from", "promo_type_inferred",
                    "matching"):
            if key in result.report:
                out[key] = result.report[key]
        out["warnings"] = [w["sentence"] for w in result.warnings]
        print(json.dumps(out, default=str))
        return 0
    # 'batch b_1 (loaded): 26 read = 6 loaded + 18 quarantined + 0 duplicates + 2 blank
    # + 0 total rows': every line of the file, accounted for on one line.
    print(f"batch {result.batch_id} ({result.status}): {result.reconciliation}")
    for line in column_lines(result.columns):
        print(f"  {line}")
    if result.report.get("promo_from"):
        print("  - promo set from the 0/1 column(s) "
              + ", ".join(f"'{c}'" for c in result.report["promo_from"]))
    if result.report.get("plan_version"):
        print(f"  - plan version {result.report['plan_version']} "
              f"({result.report['date_min']} to {result.report['date_max']})")
    if result.report.get("promo_type_from"):
        print(f"  - promo_type set to price_cut on {result.report['promo_type_inferred']:,} "
              "rows without one, from " + ", ".join(
                  f"'{c}'" for c in result.report["promo_type_from"]))
    if result.report.get("matching"):
        m = result.report["matching"]
        print(f"  - {m['items']:,} competitor items: {m['remembered']:,} matched before, "
              f"{m['auto']:,} matched now, {m['review']:,} to review "
              f"('competitors review'), {m['none']:,} not ours")
    for issue in result.issues:
        print(f"  - {issue['sentence']}")
    for warning in result.report.get("warnings", []):
        print(f"  - warning: {warning['sentence']}")
    if result.report.get("pins_repaired"):
        print(f"  - repaired {result.report['pins_repaired']:,} PIN codes (e.g. 560001.0 -> 560001)")
    if result.report.get("unknown_skus_created"):
        print(f"  - created {result.report['unknown_skus_created']:,} unknown SKUs as "
              "'Uncategorised'")
    return 0


def run_events(args: argparse.Namespace) -> int:
    """Load the file's events in micro-batches, then score live accuracy and check the
    drift alert at once (the API debounces that; a command line run ends here)."""
    from engine.ingest.errors import IngestError
    from engine.ingest.events import EventIngestor
    from engine.warehouse.cli import open_warehouse

    try:
        with open(args.file, "rb") as fh:
            body = fh.read()
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    wh = open_warehouse(args)
    try:
        ing = EventIngestor(wh, max_wait_ms=0, score_after_s=3600)
        try:
            result = ing.ingest(body, user=args.user)
            scored = ing.score_now()
        finally:
            ing.close()
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        wh.close()
    if args.json:
        print(json.dumps({**result.as_dict(), "live_accuracy": scored}, default=str))
        return 0
    print(f"{result.reconciliation} ({len(result.batches)} batch"
          f"{'es' if len(result.batches) != 1 else ''}: {', '.join(result.batches)})")
    if result.ignored_fields:
        print("  fields not used: " + ", ".join(result.ignored_fields))
    for r in result.rejects[:20]:
        print(f"  - {r['reason']}" if r["reason"].startswith("Line ")
              else f"  - line {r['line']}: {r['reason']}")
    if len(result.rejects) > 20:
        print(f"  - ... {len(result.rejects) - 20:,} more rejected (all in the quarantine)")
    return 0


def column_lines(columns: list[dict]) -> list[str]:
    """'used: Qty -> quantity, ...' and 'not used: Notes; feat (looks like feature: add
    --map 'feat=feature')' for the human summary."""
    used = [f"{c['column']} -> {c['field']}" for c in columns if c["status"] == "mapped"]
    lines = [f"columns used ({len(used)}): " + ", ".join(used)] if used else []
    ignored = []
    for c in columns:
        if c["status"] != "ignored":
            continue
        note = " (ignored as asked)" if c["match"] == "user" else ""
        if c["suggested_field"]:
            note = (f" (looks like {c['suggested_field']}: add --map "
                    f"'{c['column']}={c['suggested_field']}')")
        ignored.append(c["column"] + note)
    if ignored:
        lines.append(f"columns not used ({len(ignored)}): " + "; ".join(ignored))
    return lines
