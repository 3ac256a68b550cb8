"""`python -m engine elasticity`, `python -m engine price-optimize` and
`python -m engine pricing markdown`."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import date


from engine.export import ExportError, check_target, write_table
from engine.pricing.cross import CROSS_COLUMNS, estimate_cross_elasticities
from engine.pricing.elasticity import ElasticityConfig, PricingError, estimate_elasticities
from engine.pricing.endings import DEFAULT_ENDINGS, PRICE_ENDINGS
from engine.pricing.inputs import load_baseline, load_catalog, load_panel_inputs
from engine.pricing.optimize import (InfeasiblePricingError, OptimizeConfig, build_items,
                                     optimize_prices)
from engine.pricing.markdown import MarkdownConfig, MarkdownError, parse_shelf_life
from engine.pricing.regional import REGIONAL_COLUMNS, estimate_regional_elasticities
from engine.pricing.service import markdown_candidates, markdown_plan, with_competitor_prices
from engine.warehouse.cli import add_warehouse_arg, open_warehouse
from engine.warehouse.scoped import PermissionDenied, ScopedWarehouse

ELASTICITY_COLUMNS = ["sku_id", "elasticity", "lo", "hi", "n_obs", "method", "sufficient",
                      "spec", "category", "se", "price_periods", "raw_elasticity", "raw_se",
                      "note"]


def add_commands(sub) -> None:
    p = sub.add_parser("elasticity", help="own-price elasticity per SKU with 95%% intervals")
    p.add_argument("--by", choices=("sku", "region", "subcategory"), default="sku",
                   help="one row per SKU (default), per SKU x region (shrunk towards the "
                        "SKU's national value; thin regions fall back to it), or the "
                        "cross-price elasticity per subcategory (substitutes)")
    p.add_argument("--lagged-price", action="store_true",
                   help="control for the SKU's own previous-period price (a post-promotion "
                        "dip); the slope is then the response to a price that stays where "
                        "it is moved")
    p.add_argument("--out", metavar="FILE.csv",
                   help="write the table to a .csv (or .xlsx / .json) file")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    add_warehouse_arg(p)
    p.set_defaults(func=run_elasticity)

    q = sub.add_parser("price-optimize", help="recommended prices under business rules")
    q.add_argument("--objective", choices=("margin", "revenue"), default="margin")
    q.add_argument("--min-margin", type=float, default=None, metavar="FRACTION",
                   help="every price keeps at least this margin, e.g. 0.15")
    q.add_argument("--margin-scope", choices=("total", "sku"), default="total",
                   help="min margin over the whole price list (default) or on every SKU")
    q.add_argument("--max-change", type=float, default=0.10, metavar="FRACTION",
                   help="largest move from the current price, e.g. 0.1 (default)")
    q.add_argument("--volume-floor", type=float, default=None, metavar="FRACTION",
                   help="each category keeps at least this share of baseline units, e.g. 0.95")
    q.add_argument("--competitor-index", type=float, default=None, metavar="RATIO",
                   help="volume-weighted our/competitor price index ceiling, e.g. 1.05 "
                        "(against the cheapest stored competitor price per SKU)")
    q.add_argument("--max-above-cheapest", type=float, default=None, metavar="FRACTION",
                   help="no price more than this above the cheapest competitor's stored "
                        "price, e.g. 0.05 (SKUs without a competitor price are not bound)")
    q.add_argument("--match-within", type=float, default=None, metavar="RUPEES",
                   help="no price more than this many rupees above the cheapest "
                        "competitor's stored price, e.g. 5")
    q.add_argument("--price-endings", choices=tuple(PRICE_ENDINGS), default=DEFAULT_ENDINGS,
                   help="prices the list may use: " + "; ".join(
                       f"{k} = {v}" for k, v in PRICE_ENDINGS.items()).replace("%", "%%")
                   + f" (default {DEFAULT_ENDINGS})")
    q.add_argument("--snap-9", action="store_true",
                   help="the same as --price-endings nine (kept for older scripts)")
    q.add_argument("--horizon", type=int, default=28, help="days (naive baseline only)")
    q.add_argument("--out", metavar="FILE",
                   help="write recommendations (.csv, .xlsx or .json)")
    q.add_argument("--json", action="store_true", help="print a JSON summary")
    add_warehouse_arg(q)
    q.set_defaults(func=run_optimize)

    g = sub.add_parser("pricing", help="pricing tools: markdown")
    tools = g.add_subparsers(dest="tool", required=True, metavar="TOOL")
    m = tools.add_parser("markdown", help="markdown price paths for short-life and "
                                          "end-of-season stock")
    m.add_argument("--sku", help="plan this SKU (with --pin); without both, list the "
                                 "candidates with their recommended first price")
    m.add_argument("--pin", help="the PIN code of the line to plan")
    m.add_argument("--pins", metavar="PIN,PIN",
                   help="see only these PIN codes (a store user's scope; reads go through "
                        "the PIN-scoped warehouse handle)")
    m.add_argument("--as-of", metavar="YYYY-MM-DD", default=None,
                   help="the day the plan starts after (default: today)")
    m.add_argument("--step-days", type=int, default=7, help="days a price holds (default 7)")
    m.add_argument("--max-discount", type=float, default=0.5, metavar="FRACTION",
                   help="deepest markdown, e.g. 0.5 (default)")
    m.add_argument("--salvage-pct", type=float, default=None, metavar="FRACTION",
                   help="value of a unit left at the deadline, as a share of unit cost "
                        "(default 0 for short-life, 0.3 for seasonal stock)")
    m.add_argument("--days-left", type=int, default=None,
                   help="your own deadline for --sku/--pin, in days")
    m.add_argument("--shelf-life", action="append", default=[], metavar="CATEGORY=DAYS",
                   help="shelf life for a category whose SKUs have none in the catalog "
                        "(repeatable)")
    m.add_argument("--clearance-days", type=int, default=42,
                   help="days after a festival season ends to clear its stock (default 42)")
    m.add_argument("--season-multiplier", type=float, default=2.0,
                   help="a category is seasonal when a festival multiplies its demand by at "
                        "least this much (default 2.0)")
    m.add_argument("--not-monotone", action="store_true",
                   help="allow the price to go back up between steps")
    m.add_argument("--allow-below-cost", action="store_true",
                   help="allow prices below the unit cost")
    m.add_argument("--price-endings", choices=tuple(PRICE_ENDINGS), default=DEFAULT_ENDINGS)
    m.add_argument("--out", metavar="FILE", help="write the path or list (.csv, .xlsx, .json)")
    m.add_argument("--json", action="store_true", help="print JSON")
    add_warehouse_arg(m)
    m.set_defaults(func=run_markdown)


def fail(message: str, as_json: bool, **extra) -> int:
    """Print an error (a JSON object with --json, else one line on stderr) and return the
    exit code 1."""
    if as_json:
        print(json.dumps({"status": "error", "message": message, **extra}))
    else:
        print(f"error: {message}", file=sys.stderr)
    return 1


def out_problem(args) -> str | None:
    """The sentence for an --out file that cannot be written (checked before the work)."""
    try:
        if args.out:
            check_target(args.out)
    except ExportError as exc:
        return str(exc)
    return None


def run_elasticity(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if (bad := out_problem(args)) is not None:
        return fail(bad, args.json)
    wh = open_warehouse(args, read_only=False)
    by = getattr(args, "by", "sku")
    by_region = by == "region"
    ecfg = ElasticityConfig(lagged_price=bool(getattr(args, "lagged_price", False)))
    try:
        inputs = load_panel_inputs(wh)
        if by == "subcategory":
            table = estimate_cross_elasticities(inputs, ecfg=ecfg)
        else:
            table = estimate_elasticities(inputs, ecfg)
        if by_region:
            table = estimate_regional_elasticities(inputs, table, ecfg=ecfg)
    except PricingError as exc:
        return fail(str(exc), args.json)
    finally:
        wh.close()
    out = table[{"sku": ELASTICITY_COLUMNS, "region": REGIONAL_COLUMNS,
                 "subcategory": CROSS_COLUMNS}[by]]
    if args.out:
        try:
            write_table(out, args.out)
        except ExportError as exc:
            return fail(str(exc), args.json)
    if by == "subcategory":
        summary = {"subcategories": int(len(out)), "sufficient": int(out["sufficient"].sum()),
                   "substitutes": int((out["sufficient"] & (out["lo"] > 0)).sum()),
                   "median_cross_elasticity": round(float(out["cross_elasticity"].median()), 3)
                   if out["cross_elasticity"].notna().any() else None,
                   "seconds": round(time.perf_counter() - started, 2), "out": args.out}
    elif by_region:
        summary = {"cells": int(len(out)), "skus": int(out["sku_id"].nunique()),
                   "regions": sorted(out["region"].unique().tolist()),
                   "sufficient": int(out["sufficient"].sum()),
                   "sku_fallback": int((out["method"] == "sku_fallback").sum())}
    else:
        summary = {"skus": int(len(out)), "sufficient": int(out["sufficient"].sum()),
                   "category_fallback": int((out["method"] == "category_fallback").sum())}
    if by != "subcategory":
        summary.update({"median_elasticity": round(float(out["elasticity"].median()), 3),
                        "seconds": round(time.perf_counter() - started, 2), "out": args.out})
    if args.json:
        print(json.dumps(summary))
    elif not args.out:
        print(out.to_csv(index=False), end="")
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def run_optimize(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if (bad := out_problem(args)) is not None:
        return fail(bad, args.json)
    cfg = OptimizeConfig(objective=args.objective, min_margin=args.min_margin,
                         margin_scope=args.margin_scope,
                         max_change=args.max_change, volume_floor=args.volume_floor,
                         competitor_index=args.competitor_index,
                         above_cheapest=args.max_above_cheapest,
                         match_within=args.match_within,
                         price_endings="nine" if args.snap_9 else args.price_endings,
                         horizon_days=args.horizon)
    wh = open_warehouse(args, read_only=False)
    try:
        inputs = load_panel_inputs(wh)
        catalog = with_competitor_prices(wh, load_catalog(wh))
        elasticities = estimate_elasticities(inputs)
        baseline = load_baseline(wh, args.horizon, inputs.sales)
        cfg = replace(cfg, horizon_days=baseline.horizon_days)
        result = optimize_prices(build_items(catalog, elasticities, baseline.frame), cfg)
    except InfeasiblePricingError as exc:
        return fail(str(exc), args.json, status="infeasible", relax=exc.relax)
    except PricingError as exc:
        return fail(str(exc), args.json)
    finally:
        wh.close()
    recs = result.recommendations
    if args.out:
        try:
            write_table(recs, args.out, sheet_name="Price recommendations")
        except ExportError as exc:
            return fail(str(exc), args.json)
    summary = {"status": result.status, "solve_seconds": round(result.solve_seconds, 3),
               "build_seconds": round(result.build_seconds, 3), "objective": cfg.objective,
               "price_endings": cfg.endings(),
               "baseline": baseline.label, **{k: round(v, 2) for k, v in result.totals.items()},
               "seconds": round(time.perf_counter() - started, 2), "out": args.out}
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
        if not args.out:
            print(recs[["sku_id", "current_price", "recommended_price", "reason"]].to_string(index=False))
    return 0


def _markdown_config(args) -> MarkdownConfig:
    shelf = parse_shelf_life(",".join(args.shelf_life))
    return MarkdownConfig(step_days=args.step_days, max_discount=args.max_discount,
                          salvage_pct=args.salvage_pct, days_left=args.days_left,
                          shelf_life=shelf, monotone=not args.not_monotone,
                          clearance_days=args.clearance_days,
                          season_multiplier=args.season_multiplier,
                          allow_below_cost=args.allow_below_cost,
                          price_endings=args.price_endings).validate()


def run_markdown(args: argparse.Namespace) -> int:
    """The candidate list, or one line's recommended path (exit 1 with the reason and its
    code when it cannot be planned)."""
    if (bad := out_problem(args)) is not None:
        return fail(bad, args.json)
    if (args.sku is None) != (args.pin is None):
        return fail("Give both --sku and --pin to plan one line, or neither to list the "
                     "candidates.", args.json, code="bad_settings")
    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    except ValueError:
        return fail(f"--as-of {args.as_of!r} is not a date (use YYYY-MM-DD).", args.json,
                     code="bad_settings")
    wh = open_warehouse(args, read_only=False)
    try:
        cfg = _markdown_config(args)
        view = ScopedWarehouse(wh, args.pins.split(",")) if args.pins else wh
        if args.pins and args.pin and args.pin not in view.pin_scope:
            return fail(f"PIN code {args.pin} is outside --pins.", args.json,
                         code="pin_out_of_scope")
        if args.sku is None:
            table, label = markdown_candidates(view, as_of, cfg)
            summary = {"candidates": int(len(table)), "baseline": label,
                       "as_of": as_of.isoformat(),
                       "kinds": {k: int(v) for k, v in table["kind"].value_counts().items()},
                       "markdown_pays": int((table["gain"] > 0.5).sum()),
                       "value_at_risk": round(float(table["value_at_risk"].sum()), 2)}
        else:
            plan, label = markdown_plan(view, args.sku, args.pin, as_of, cfg)
            table = plan.steps
            summary = {"sku_id": args.sku, "pin_code": args.pin, "kind": plan.line.kind,
                       "days_left": plan.line.days_left, "baseline": label,
                       "elasticity": round(plan.line.elasticity, 3),
                       **{k: round(v, 2) for k, v in plan.totals.items()},
                       "reason": plan.reason}
    except MarkdownError as exc:
        return fail(str(exc), args.json, code=exc.code, evidence=exc.evidence)
    except PricingError as exc:
        return fail(str(exc), args.json, code="pricing_error")
    except PermissionDenied as exc:
        return fail(str(exc), args.json, code="forbidden")
    finally:
        wh.close()
    if args.out:
        try:
            write_table(table, args.out, sheet_name="Markdown")
        except ExportError as exc:
            return fail(str(exc), args.json)
        summary["out"] = args.out
    if args.json:
        rows = json.loads(table.to_json(orient="records", date_format="iso"))
        print(json.dumps({"status": "ok", **summary,
                          ("path" if args.sku else "lines"): rows}, default=str))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
        if not args.out:
            print(table.to_string(index=False))
    return 0
