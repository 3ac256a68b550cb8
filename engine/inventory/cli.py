"""`python -m engine reorder`: the reorder plan (optionally optimised under a budget)."""
from __future__ import annotations

import argparse
import sys
import time

from engine.export import ExportError, check_target, write_table
from engine.inventory.demand import InventoryInputError
from engine.inventory.optimize import OptimizeConfig, optimize_orders
from engine.inventory.planner import budget_plan, load_inputs, make_plan
from engine.inventory.policy import PolicyConfig
from engine.warehouse.cli import add_warehouse_arg, open_warehouse, print_summary

OUT_COLUMNS = ["sku_id", "pin_code", "name", "category", "city", "supplier", "on_hand",
               "on_order", "lead_time_days", "moq", "case_pack", "daily_demand",
               "safety_stock", "reorder_point", "order_up_to", "days_of_cover",
               "stockout_date", "out_of_stock_now", "sales_at_risk", "urgency", "order_qty",
               "order_value", "action", "promo",
               "reason", "demand_source", "error_source"]


def add_commands(sub) -> None:
    p = sub.add_parser("reorder", help="safety stock, reorder points and a purchase plan")
    p.add_argument("--service-level", type=float, default=0.95,
                   help="target fill rate, e.g. 0.95 (default)")
    p.add_argument("--budget", type=float, default=None,
                   help="purchase budget in rupees; optimises the orders to fit (PuLP/CBC)")
    p.add_argument("--capacity-litres", type=float, default=None,
                   help="truck / store capacity in litres (with the optimiser)")
    p.add_argument("--lead-time-change", type=int, default=0,
                   help="days added to every lead time (what-if)")
    p.add_argument("--demand-shock", type=float, default=0.0,
                   help="percent change in demand (what-if), e.g. 20 or -10")
    p.add_argument("--time-limit", type=float, default=25.0, help="solver time limit, seconds")
    p.add_argument("--out", metavar="FILE", help="write the plan (.csv, .xlsx or .json)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    add_warehouse_arg(p)
    p.set_defaults(func=run_reorder)


def run_reorder(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        if args.out:
            check_target(args.out)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wh = open_warehouse(args, read_only=True)
    try:
        cfg = PolicyConfig(service_level=args.service_level,
                           lead_time_change_days=args.lead_time_change,
                           demand_shock_pct=args.demand_shock)
        inputs = load_inputs(wh)
        plan = make_plan(inputs, cfg)
        summary: dict = {"lines": len(plan), "demand_model": inputs.model.source,
                         "demand_note": inputs.model.label,
                         "service_level": args.service_level}
        if args.budget is not None or args.capacity_litres is not None:
            sol = optimize_orders(plan, OptimizeConfig(
                budget=args.budget, volume_capacity_l=args.capacity_litres,
                time_limit_s=args.time_limit))
            summary.update({"solver_status": sol.status, "gap": sol.gap,
                            "solve_seconds": round(sol.seconds, 2),
                            "budget": args.budget, "explanation": sol.explanation,
                            "expected_fill_rate": round(sol.expected_fill_rate, 4)})
            if sol.status in ("infeasible", "not solved"):
                print(f"error: {sol.explanation}", file=sys.stderr)
                return 3
            plan = budget_plan(sol)
    except InventoryInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        wh.close()
    ordered = plan[plan["order_qty"] > 0]
    summary.update({
        "lines_to_order": int(len(ordered)),
        "order_units": float(ordered["order_qty"].sum()),
        "order_value": round(float(ordered["order_value"].sum()), 2),
        "urgency": {k: int(v) for k, v in plan["urgency"].value_counts().items()},
        "seconds": round(time.perf_counter() - started, 2),
    })
    if args.out:
        try:
            write_table(plan[OUT_COLUMNS], args.out, sheet_name="Reorder plan")
        except ExportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        summary["out"] = args.out
    print_summary(summary, args.json)
    return 0
