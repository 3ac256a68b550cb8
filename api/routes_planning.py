"""Reorder lines, price simulation and mandi sourcing: the engine calls behind the
Reorder, Pricing and Sourcing pages, with their results cached per data version (and, for
store users, per PIN scope: the scoped handle's data version includes the scope)."""
from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Query

from api.routes_forecasts import num
from api.schemas import (PIN_PATTERN, InventoryResponse, MarkdownRequest, MarkdownResponse,
                         OptimizeRequest, OptimizeResponse, PricingRequest, PricingResponse,
                         SourcingResponse, Urgency, error_responses)
from api.security import Caller, current_caller

router = APIRouter(tags=["planning"])
REORDER_FIELDS = ["sku_id", "pin_code", "name", "category", "city", "state", "urgency",
                  "action", "on_hand", "on_order", "lead_time_days", "daily_demand",
                  "safety_stock", "reorder_point", "order_up_to", "days_of_cover",
                  "stockout_date", "order_qty", "order_cases", "order_value", "reason",
                  "demand_source"]
_TEXT = {"sku_id", "pin_code", "name", "category", "city", "state", "urgency", "action",
         "reason", "demand_source"}


def text_or_none(value):
    """A value as str for a JSON response, None (not 'nan') when it is missing."""
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def day_or_none(value):
    """A value as a date for a JSON response, None when it is missing."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _reorder_line(r: dict) -> dict:
    out = {}
    for k in REORDER_FIELDS:
        v = r.get(k)
        out[k] = day_or_none(v) if k == "stockout_date" else text_or_none(v) if k in _TEXT else num(v)
    out["reason"] = out["reason"] or ""
    out["urgency"] = out["urgency"] or "low"
    return out


@router.get("/v1/recommendations/inventory", response_model=InventoryResponse,
            responses=error_responses(401, 403, 409, 422, 429, 503))
def inventory(pin_code: Annotated[str | None, Query(pattern=PIN_PATTERN)] = None,
              urgency: Urgency | None = None,
              limit: Annotated[int, Query(ge=1, le=5000)] = 500,
              caller: Caller = Depends(current_caller)) -> dict:
    """Reorder lines (safety stock, reorder point, order quantity, urgency and the reason)
    from the reorder planner, most urgent first; optionally one PIN code and one urgency."""
    from engine.inventory.planner import load_inputs, make_plan

    caller.require("view", "Reorder")
    caller.check_pin(pin_code)
    wh = caller.wh

    def build():
        inputs = load_inputs(wh)
        return make_plan(inputs), inputs.model.label

    version = wh.data_version("sales", "inventory", "forecasts", "festivals")
    plan, label = caller.cached(("reorder_plan", version), build)
    shown = plan
    if pin_code is not None:
        shown = shown[shown["pin_code"] == pin_code]
    if urgency is not None:
        shown = shown[shown["urgency"] == urgency]
    lines = [_reorder_line(r) for r in shown.head(limit).to_dict("records")]
    return {"demand_basis": label, "total_lines": int(len(shown)), "returned": len(lines),
            "lines": lines}


@router.post("/v1/pricing/simulate", response_model=PricingResponse,
             responses=error_responses(401, 403, 422, 429, 503))
def pricing_simulate(body: PricingRequest, caller: Caller = Depends(current_caller)) -> dict:
    """What price changes do to units, revenue and margin over the forecast horizon (the
    latest stored forecast, else a naive baseline), with 95% bands from the elasticity and
    the baseline's interval. Later changes override earlier ones where they overlap."""
    from engine.pricing.service import elasticity_table, simulation_base
    from engine.pricing.simulate import PriceChange, simulate

    caller.require("run_scenario", "Pricing")
    wh = caller.wh
    version = wh.data_version("sales", "festivals", "forecasts")
    table = caller.cached(("elasticities", version), lambda: elasticity_table(wh))
    base, _, label = caller.cached(("pricing_base", version),
                                   lambda: simulation_base(wh, table))
    changes = [PriceChange(pct=c.pct, sku_ids=tuple(c.sku_ids), category=c.category,
                           state=c.state, start=c.start, end=c.end) for c in body.changes]
    res = simulate(base, changes)
    by_sku = [{"sku_id": str(r["sku_id"]), "category": text_or_none(r.get("category")),
               **{k: num(r[k]) or 0.0 for k in ("baseline_units", "units", "baseline_revenue",
                                                "revenue", "baseline_margin", "margin")}}
              for r in res.by_sku.to_dict("records")]
    return {"baseline": label, "changes": [c.describe() for c in changes],
            "totals": {k: num(v) for k, v in res.totals.items()}, "by_sku": by_sku}


@router.post("/v1/pricing/optimize", response_model=OptimizeResponse,
             responses=error_responses(401, 403, 422, 429, 503))
def pricing_optimize(body: OptimizeRequest, caller: Caller = Depends(current_caller)) -> dict:
    """Recommended prices under business rules (the Pricing page's optimiser): every price
    uses the allowed `price_endings` and meets every rule; an impossible rule set is a 422
    that names the rule to relax."""
    from engine.pricing.optimize import OptimizeConfig
    from engine.pricing.service import elasticity_table, recommend

    caller.require("run_scenario", "Pricing")
    wh = caller.wh
    table = caller.cached(("elasticities", wh.data_version("sales", "festivals")),
                          lambda: elasticity_table(wh))
    result, label = recommend(wh, table, OptimizeConfig(**body.model_dump()))
    money = ("current_price", "recommended_price", "baseline_revenue", "revenue",
             "baseline_margin", "margin")
    recs = [{"sku_id": str(r["sku_id"]), "name": text_or_none(r.get("name")),
             "category": text_or_none(r.get("category")), "reason": str(r["reason"]),
             **{k: round(num(r[k]) or 0.0, 2) for k in money},
             **{k: round(num(r[k]) or 0.0, 4) for k in ("change_pct", "baseline_units", "units")}}
            for r in result.recommendations.to_dict("records")]
    return {"status": result.status, "baseline": label,
            "price_endings": result.config.endings(),
            "totals": {k: num(v) for k, v in result.totals.items()}, "recommendations": recs}


@router.post("/v1/pricing/markdown", response_model=MarkdownResponse,
             responses=error_responses(401, 403, 422, 429, 503))
def pricing_markdown(body: MarkdownRequest, caller: Caller = Depends(current_caller)) -> dict:
    """The markdown price path for one SKU x PIN's stock that must go (short shelf life, or
    a season that has ended): one price per step on the retailer's price endings, with
    expected sell-through per step and what is left. Store users: their PIN codes only.
    A line that cannot be planned is a 422 whose code says why (no_elasticity, no_stock,
    expired, not_markdown_stock, no_inventory)."""
    from datetime import date

    from engine.pricing.markdown import MarkdownConfig
    from engine.pricing.service import markdown_plan

    caller.require("view", "Reorder")
    caller.check_pin(body.pin_code)
    cfg = MarkdownConfig(step_days=body.step_days, max_discount=body.max_discount,
                         salvage_pct=body.salvage_pct, days_left=body.days_left,
                         shelf_life=tuple(sorted(body.shelf_life.items())),
                         monotone=body.monotone, allow_below_cost=body.allow_below_cost,
                         clearance_days=body.clearance_days,
                         season_multiplier=body.season_multiplier,
                         price_endings=body.price_endings)
    plan, label = markdown_plan(caller.wh, body.sku_id, body.pin_code,
                                body.as_of or date.today(), cfg)
    line = plan.line
    steps = [{"step": int(r["step"]), "start": day_or_none(r["start"]), "end": day_or_none(r["end"]),
              "days": int(r["days"]), "price": round(float(r["price"]), 2),
              "discount": round(float(r["discount"]), 4),
              "expected_demand": round(float(r["demand"]), 3),
              "expected_units": round(float(r["units"]), 3),
              "revenue": round(float(r["revenue"]), 2),
              "stock_start": round(float(r["stock_start"]), 3),
              "stock_left": round(float(r["stock_left"]), 3)}
             for r in plan.steps.to_dict("records")]
    return {"sku_id": line.sku_id, "pin_code": line.pin_code, "name": line.name,
            "category": line.category, "kind": line.kind, "days_left": line.days_left,
            "deadline": day_or_none(line.deadline), "elasticity": round(line.elasticity, 4),
            "current_price": line.price, "unit_cost": line.unit_cost, "baseline": label,
            "reason": plan.reason, "totals": {k: num(v) for k, v in plan.totals.items()},
            "steps": steps}


@router.get("/v1/sourcing/mandis", response_model=SourcingResponse,
            responses=error_responses(401, 403, 422, 429, 503))
def sourcing(commodity: Annotated[str, Query(min_length=1, max_length=80,
                                             examples=["Onion"])],
             pin_code: Annotated[str, Query(pattern=PIN_PATTERN, examples=["560001"])],
             quantity: Annotated[float, Query(gt=0, le=1_000_000,
                                              description="quintals")] = 10.0,
             limit: Annotated[int, Query(ge=1, le=200)] = 20,
             caller: Caller = Depends(current_caller)) -> dict:
    """Mandis ranked for buying `quantity` quintals of a commodity for delivery to a PIN
    code: landed price (modal + transport), quality, logistics and reliability, each
    with a reason."""
    from engine.sourcing.service import rank_for_pin

    caller.require("view", "Sourcing")
    caller.check_pin(pin_code)
    wh = caller.wh
    ranked = caller.cached(("mandis", wh.data_version("mandi", "sales"),
                            commodity.strip().lower(), pin_code,
                            float(quantity)),
                           lambda: rank_for_pin(wh, commodity, pin_code, float(quantity)))
    dest = ranked.attrs.get("destination", {})
    rows = []
    for r in ranked.head(limit).to_dict("records"):
        rows.append({"rank": int(r["rank"]), "market": str(r["market"]),
                     "state": text_or_none(r.get("state")), "district": text_or_none(r.get("district")),
                     "last_date": day_or_none(r.get("last_date")), "reason": text_or_none(r.get("reason")),
                     **{k: num(r.get(k)) for k in (
                         "score", "modal_price", "transport_per_qtl", "landed_price",
                         "road_km", "lead_time_days", "price_score", "quality_score",
                         "logistics_score", "reliability_score")}})
    name = str(ranked["commodity"].iloc[0]) if len(ranked) else commodity
    return {"commodity": name, "pin_code": pin_code, "destination": dest.get("label"),
            "quantity_qtl": float(quantity), "mandis": rows}
