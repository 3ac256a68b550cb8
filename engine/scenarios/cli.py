"""`python -m engine scenario ...`: saved scenarios from the command line.

    scenario list [--json]
    scenario show NAME [--json]
    scenario create NAME [--category C ...] [--sku S ...] [--state S ...] [--city C ...]
                    [--pin P ...] [--start DATE] [--end DATE] [--price-change -10] [--promo]
                    [--plan-version N] [--demand-shock 20] [--temp-anomaly 2]
                    [--rain-anomaly -5] [--festival-intensity 1.5] [--lead-time-change 3]
                    [--service-level 0.97] [--budget 500000] [--mandi-shock 10] [--json]
    scenario run NAME [NAME ...] [--out FILE.xlsx|FILE.html] [--json]
    scenario delete NAME | rename OLD NEW | duplicate NAME NEW   [--json]

NAME is a saved scenario's name (any case) or its id. `run` computes each named scenario
(up to three) against its baseline, stores the step totals with the scenario and the data
version, prints the chain (demand -> margin -> orders -> mandi buying) and writes the
comparison with --out (.xlsx: one sheet per step; .html: a one-page summary). Errors are
one `error: ...` line on stderr: exit 2 for a bad name, value or --out (checked before the
run), never a traceback. The command line acts with full scope (it opens the warehouse
file itself); `--user` names the author recorded with a change (default 'cli').
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from engine.warehouse.cli import add_warehouse_arg, open_warehouse

OUT_FORMATS = (".xlsx", ".html", ".htm")
MAX_COMPARE = 3
# option -> (Assumptions field, type, help)
ASSUMPTION_OPTIONS = {
    "--price-change": ("price_change_pct", float, "price change in percent, e.g. -10"),
    "--plan-version": ("plan_version", int, "an uploaded price/promotion plan version"),
    "--demand-shock": ("demand_shock_pct", float, "demand change in percent, e.g. 20"),
    "--temp-anomaly": ("temp_anomaly_c", float, "°C above the expected temperature"),
    "--rain-anomaly": ("rain_anomaly_mm", float, "mm/day above the expected rainfall"),
    "--festival-intensity": ("festival_intensity", float,
                             "festival effect, 1 = as usual, 0 = none, 2 = double"),
    "--lead-time-change": ("lead_time_change_days", int, "days added to every lead time"),
    "--service-level": ("service_level", float, "reorder fill-rate target, e.g. 0.97"),
    "--budget": ("budget_inr", float, "purchase budget in rupees"),
    "--mandi-shock": ("mandi_price_shock_pct", float, "mandi price change in percent"),
}
SELECTION_OPTIONS = {"--category": "categories", "--sku": "skus", "--state": "states",
                     "--city": "cities", "--pin": "pins"}


def add_commands(sub) -> None:
    p = sub.add_parser("scenario", help="saved what-if scenarios: list, show, create, run "
                                        "(demand -> margin -> orders -> mandi), delete, "
                                        "rename, duplicate")
    acts = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name, help_text):
        a = acts.add_parser(name, help=help_text)
        a.add_argument("--json", action="store_true", help="print JSON")
        add_warehouse_arg(a)
        return a

    a = action("list", "the saved scenarios with their last computed deltas")
    a.set_defaults(func=cmd_list)
    a = action("show", "one scenario's selection, assumptions and last result")
    a.add_argument("name", metavar="NAME", help="scenario name or id")
    a.set_defaults(func=cmd_show)
    a = action("create", "save a new scenario")
    a.add_argument("name", metavar="NAME")
    for opt, field in SELECTION_OPTIONS.items():
        a.add_argument(opt, dest=field, action="append", default=None, metavar="VALUE",
                       help=f"limit to this {opt[2:]} (repeat for several)")
    a.add_argument("--start", default=None, metavar="DATE",
                   help="first day the assumptions apply (YYYY-MM-DD)")
    a.add_argument("--end", default=None, metavar="DATE",
                   help="last day the assumptions apply (YYYY-MM-DD)")
    a.add_argument("--promo", action="store_true",
                   help="a promotion at the category's usual discount")
    for opt, (field, kind, text) in ASSUMPTION_OPTIONS.items():
        a.add_argument(opt, dest=field, type=str, default=None, metavar="N", help=text)
    a.add_argument("--user", default="cli", help="author recorded with the scenario")
    a.set_defaults(func=cmd_create)
    a = action("run", "compute scenarios against their baseline and export the comparison")
    a.add_argument("names", nargs="+", metavar="NAME",
                   help=f"scenario name or id (up to {MAX_COMPARE} to compare)")
    a.add_argument("--out", metavar="FILE", help="write the comparison (.xlsx or .html)")
    a.set_defaults(func=cmd_run)
    a = action("delete", "delete a scenario")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--user", default="cli", help="who to record in the audit log")
    a.set_defaults(func=cmd_delete)
    a = action("rename", "rename a scenario")
    a.add_argument("name", metavar="OLD")
    a.add_argument("new_name", metavar="NEW")
    a.add_argument("--user", default="cli", help="who to record in the audit log")
    a.set_defaults(func=cmd_rename)
    a = action("duplicate", "copy a scenario under a new name")
    a.add_argument("name", metavar="NAME")
    a.add_argument("new_name", metavar="NEW")
    a.add_argument("--user", default="cli", help="author of the copy")
    a.set_defaults(func=cmd_duplicate)


# ---- shared ------------------------------------------------------------------------------
def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def check_out(path) -> Path:
    """`path` when a comparison can be written there, else ValueError with the sentence."""
    path = Path(path)
    if path.suffix.lower() not in OUT_FORMATS:
        raise ValueError(f"Cannot write {str(path)!r}: use a file name ending in .xlsx or "
                         ".html.")
    if path.is_dir():
        raise ValueError(f"Cannot write {path}: it is a folder.")
    if not path.parent.exists():
        raise ValueError(f"Cannot write {path}: the folder {path.parent} does not exist.")
    return path


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def scenario_dict(sc, summary: dict | None = None) -> dict:
    """A stored scenario as JSON (the CLI's --json and the API share the shape)."""
    out = {"scenario_id": sc.scenario_id, "name": sc.name, "created_by": sc.created_by,
           "created_at": sc.created_at, "updated_by": sc.updated_by,
           "updated_at": sc.updated_at, "data_version": sc.data_version,
           "scope": list(sc.scope) if sc.scope is not None else None,
           "selection": sc.selection.to_dict(), "assumptions": sc.assumptions.to_dict(),
           "label": sc.selection.label()}
    if summary is not None:
        out["summary"] = summary
    return _jsonable(out)


def _changed_text(sc) -> str:
    from engine.textfmt import inr

    parts = []
    for name, value in sc.assumptions.changed().items():
        label = name.replace("_pct", "").replace("_inr", "").replace("_", " ")
        if name == "service_level":
            parts.append(f"{label} {value:.1%}")
        elif name == "budget_inr":
            parts.append(f"budget {inr(value)}")
        elif name == "promo":
            parts.append("promotion")
        elif name.endswith("_pct"):
            parts.append(f"{label} {value:+g}%")
        else:
            parts.append(f"{label} {value:g}")
    return ", ".join(parts) or "nothing changed (baseline)"


def _value(v, unit) -> str:
    from engine.textfmt import indian_grouping, inr

    if v is None:
        return "—"
    return f"{indian_grouping(v)} units" if unit == "units" else inr(v)


def _signed(v, unit) -> str:
    text = _value(v, unit)
    return "+" + text if v is not None and v > 0 else text


def chain_lines(result) -> list[str]:
    """The chain as text: one line per step, baseline -> scenario, change and why."""
    from engine.textfmt import pct

    out = []
    for s in result.steps:
        unit = "units" if s["unit"] == "units" else "₹"
        if s["baseline"] is None:
            out.append(f"  {s['label']:<13} —  {s['reason']}")
            continue
        change = _signed(s["delta"], unit)
        if s.get("delta_pct") is not None:
            change += f", {pct(s['delta_pct'])}"
        if unit == "units" and s.get("delta_inr") is not None:
            change += f"; revenue {_signed(s['delta_inr'], '₹')}"
        out.append(f"  {s['label']:<13} {_value(s['baseline'], unit)} -> "
                   f"{_value(s['scenario'], unit)} ({change})  {s['reason']}")
    return out


# ---- commands ----------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    from engine.scenarios import saved as saved_scenarios
    from engine.warehouse import scenarios as scenario_rows

    wh = open_warehouse(args)
    try:
        rows = scenario_rows.list_rows(wh)
        scenarios = saved_scenarios.list_scenarios(wh)
    finally:
        wh.close()
    summaries = dict(zip(rows["scenario_id"], rows["summary"]))
    if args.json:
        print(json.dumps([scenario_dict(s, summaries.get(s.scenario_id) or None)
                          for s in scenarios], ensure_ascii=False))
        return 0
    if not scenarios:
        print("No saved scenarios. Create one with `python -m engine scenario create NAME "
              "--category ... --price-change ...`.")
        return 0
    for s in scenarios:
        last = summaries.get(s.scenario_id) or {}
        deltas = "; ".join(f"{st['label']} {_signed(st.get('delta'), st.get('unit'))}"
                           for st in last.get("steps", []) if st.get("delta") is not None)
        print(f"{s.name}  [{s.scenario_id}]  by {s.created_by or '—'}, updated "
              f"{s.updated_at:%d-%b-%Y %H:%M}" if s.updated_at is not None else s.name)
        print(f"    {s.selection.label()} — {_changed_text(s)}")
        if deltas:
            print(f"    last run: {deltas}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from engine.scenarios import saved as saved_scenarios
    from engine.warehouse import scenarios as scenario_rows

    wh = open_warehouse(args)
    try:
        sc = saved_scenarios.get(wh, args.name)
        rows = scenario_rows.list_rows(wh)
    finally:
        wh.close()
    summary = dict(zip(rows["scenario_id"], rows["summary"])).get(sc.scenario_id) or None
    if args.json:
        print(json.dumps(scenario_dict(sc, summary), ensure_ascii=False))
        return 0
    print(f"{sc.name}  [{sc.scenario_id}]  by {sc.created_by or '—'}")
    print(f"  selection:   {sc.selection.label()}")
    print(f"  assumptions: {_changed_text(sc)}")
    if summary and summary.get("steps"):
        print(f"  last run on data version {sc.data_version}:")
        for st in summary["steps"]:
            unit = "units" if st.get("unit") == "units" else "₹"
            print(f"    {st['label']:<13} {_value(st.get('baseline'), unit)} -> "
                  f"{_value(st.get('scenario'), unit)} ({_signed(st.get('delta'), unit)})")
    else:
        print(f"  not run yet: python -m engine scenario run '{sc.name}'")
    return 0


def _typed(args) -> dict:
    out = {}
    for opt, (field, kind, _t) in ASSUMPTION_OPTIONS.items():
        raw = getattr(args, field)
        if raw is None:
            continue
        try:
            out[field] = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise ValueError(f"{opt} needs {what}; got {raw!r}.") from None
    return out


def cmd_create(args: argparse.Namespace) -> int:
    from engine.scenarios import saved as saved_scenarios
    from engine.scenarios.model import Scenario

    try:
        assumptions = _typed(args)
    except ValueError as exc:
        return _fail(str(exc))
    if args.promo:
        assumptions["promo"] = True
    selection = {field: getattr(args, field) for field in SELECTION_OPTIONS.values()
                 if getattr(args, field)}
    selection.update({k: getattr(args, k) for k in ("start", "end") if getattr(args, k)})
    sc = Scenario.from_dict(args.name, selection, assumptions)   # checks before opening
    wh = open_warehouse(args)
    try:
        saved = saved_scenarios.save(wh, sc, args.user)
    finally:
        wh.close()
    if args.json:
        print(json.dumps(scenario_dict(saved), ensure_ascii=False))
    else:
        print(f"Saved scenario '{saved.name}' [{saved.scenario_id}]: "
              f"{saved.selection.label()} — {_changed_text(saved)}.")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import time

    from engine.scenarios import compute as C
    from engine.scenarios import saved as saved_scenarios
    from engine.warehouse import scenarios as scenario_rows
    from engine.warehouse.db import WarehouseError

    if len(args.names) > MAX_COMPARE:
        return _fail(f"Compare at most {MAX_COMPARE} scenarios at a time; got "
                     f"{len(args.names)}.")
    out = None
    if args.out:
        try:
            out = check_out(args.out)
        except ValueError as exc:
            return _fail(str(exc))
    started = time.perf_counter()
    wh = open_warehouse(args)
    notes = []
    try:
        scenarios = [saved_scenarios.get(wh, n) for n in args.names]
        inputs = C.load_inputs(wh)
        results = [C.compute(inputs, sc) for sc in scenarios]
        for res in results:
            try:
                scenario_rows.record_result(wh, res.scenario.scenario_id, res.summary(),
                                             res.version)
            except WarehouseError as exc:     # read-only or busy: the run still counts
                notes.append(f"The result of '{res.scenario.name}' was not stored: {exc}")
    finally:
        wh.close()
    if out is not None:
        from engine.scenarios.export import to_excel, to_html

        data = to_excel(results) if out.suffix.lower() == ".xlsx" else \
            to_html(results).encode("utf-8")
        try:
            out.write_bytes(data)
        except OSError as exc:
            return _fail(f"Cannot write {out}: {exc.strerror or exc}.")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    seconds = round(time.perf_counter() - started, 2)
    if args.json:
        body = [{**scenario_dict(r.scenario), **_jsonable(r.summary())} for r in results]
        print(json.dumps({"scenarios": body, "out": str(out) if out else None,
                          "seconds": seconds}, ensure_ascii=False))
        return 0
    for res in results:
        sc = res.scenario
        print(f"Scenario '{sc.name}': {sc.selection.label()} — {_changed_text(sc)}")
        print("\n".join(chain_lines(res)))
    print(f"Data version {results[0].version}, forecast run {results[0].run_id}; "
          f"{seconds:g} s.")
    if out is not None:
        print(f"Wrote {out}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from engine.scenarios import saved as saved_scenarios

    wh = open_warehouse(args)
    try:
        gone = saved_scenarios.delete(wh, args.name, args.user)
    finally:
        wh.close()
    if args.json:
        print(json.dumps({"deleted": gone.scenario_id, "name": gone.name}, ensure_ascii=False))
    else:
        print(f"Deleted scenario '{gone.name}' [{gone.scenario_id}].")
    return 0


def _renamed(args, fn, verb: str) -> int:
    from engine.scenarios import saved as saved_scenarios

    wh = open_warehouse(args)
    try:
        sc = getattr(saved_scenarios, fn)(wh, args.name, args.new_name, args.user)
    finally:
        wh.close()
    if args.json:
        print(json.dumps(scenario_dict(sc), ensure_ascii=False))
    else:
        print(f"{verb} '{args.name}' as '{sc.name}' [{sc.scenario_id}].")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    return _renamed(args, "rename", "Renamed")


def cmd_duplicate(args: argparse.Namespace) -> int:
    return _renamed(args, "duplicate", "Copied")
