"""Competitor prices: the price index (our price vs the competitors' per SKU, category or
city and week), the competitive cross-elasticity, the match review list and match
decisions. Cached per data version of the
sales and the competitor prices (a store user's handle carries their PIN scope)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.routes_forecasts import num
from api.routes_planning import day_or_none, text_or_none
from api.schemas import (CompetitiveElasticityResponse, CompetitorIndexResponse,
                         CompetitorMatchRequest, CompetitorMatchResponse,
                         CompetitorReviewResponse, error_responses)
from api.security import Caller, current_caller

router = APIRouter(tags=["planning"])


@router.get("/v1/pricing/competitors", response_model=CompetitorIndexResponse,
            responses=error_responses(401, 403, 422, 429, 503))
def competitors(level: Literal["sku", "category", "city"] = "sku",
                sku_id: Annotated[str | None, Query(max_length=64)] = None,
                category: Annotated[str | None, Query(max_length=80)] = None,
                city: Annotated[str | None, Query(max_length=80)] = None,
                weeks: Annotated[int, Query(ge=1, le=104)] = 26,
                latest_only: bool = False,
                limit: Annotated[int, Query(ge=1, le=20000)] = 5000,
                caller: Caller = Depends(current_caller)) -> dict:
    """Price index per `level` and week: 100 x our average selling price / the
    competitors' average price for the same SKU, city and week (above 100: we are dearer),
    with the cheapest competitor's price and index. Category and city rows weigh each SKU x
    city by our units. Filters: one SKU, category or city (`level` must show it);
    `latest_only` keeps each group's newest week. Only matched competitor items count
    (auto-accepted, confirmed or corrected)."""
    from engine.pricing.competitors import competitor_index
    from engine.warehouse.competitors import match_summary

    caller.require("view", "Pricing")
    wh = caller.wh
    version = wh.data_version("sales", "competitors")
    table = caller.cached(("competitor_index", version, level, weeks),
                          lambda: competitor_index(wh, level, weeks))
    for col, value in (("sku_id", sku_id), ("category", category), ("city", city)):
        if value is not None and col in table:
            table = table[table[col].astype(str).str.lower() == value.strip().lower()]
    if latest_only and len(table):
        keys = [c for c in ("sku_id", "category", "city") if c in table]
        table = table.sort_values("week").groupby(keys, dropna=False).tail(1)
    rows = [{"sku_id": text_or_none(r.get("sku_id")), "name": text_or_none(r.get("name")),
             "category": text_or_none(r.get("category")), "city": text_or_none(r.get("city")),
             "week": day_or_none(r["week"]), "units": num(r["units"]), "cells": int(r["rows"]),
             **{k: round(num(r[k]), 2) if num(r[k]) is not None else None
                for k in ("our_price", "competitor_price", "cheapest_price", "index",
                          "cheapest_index")}}
            for r in table.head(limit).to_dict("records")]
    return {"level": level, "weeks": weeks, "matching": match_summary(wh),
            "total": int(len(table)), "returned": len(rows), "rows": rows}


@router.get("/v1/pricing/competitors/elasticity", response_model=CompetitiveElasticityResponse,
            responses=error_responses(401, 403, 422, 429, 503))
def competitive_elasticity(caller: Caller = Depends(current_caller)) -> dict:
    """Competitive cross-elasticity per SKU with competitor prices: how our units respond
    to the cheapest competitor's price, holding our own price and the elasticity model's
    controls, with its 95% interval (sampling and specification: `spec_se`), sufficiency,
    a note and the specification (engine.pricing.competitive). 422 without competitor
    prices."""
    from engine.pricing.competitors import competitive_table

    caller.require("view", "Pricing")
    wh = caller.wh
    version = wh.data_version("sales", "festivals", "competitors")
    table = caller.cached(("competitive_elasticities", version),
                          lambda: competitive_table(wh))
    rows = [{"sku_id": str(r["sku_id"]), "name": text_or_none(r.get("name")),
             "category": text_or_none(r.get("category")),
             **{k: num(r[k]) for k in ("cross_elasticity", "lo", "hi", "se", "spec_se")},
             "weeks": int(r["weeks"]), "n_obs": int(r["n_obs"]),
             "sufficient": bool(r["sufficient"]), "note": text_or_none(r.get("note")),
             "spec": text_or_none(r.get("spec"))}
            for r in table.to_dict("records")]
    return {"skus": len(rows), "sufficient": sum(r["sufficient"] for r in rows),
            "rows": rows}


@router.get("/v1/pricing/competitors/review", response_model=CompetitorReviewResponse,
            responses=error_responses(401, 403, 422, 429, 503))
def competitor_review(limit: Annotated[int, Query(ge=1, le=5000)] = 500,
                      caller: Caller = Depends(current_caller)) -> dict:
    """Competitor items whose match to our SKUs waits for a person (confidence between the
    review floor and the auto-accept level), most-listed first, with the suggestion."""
    from engine.warehouse.competitors import review_list

    caller.require("view", "Pricing")
    table = review_list(caller.wh, limit)
    items = [{"item": str(r["item_key"]), "item_name": text_or_none(r.get("item_name")),
              "suggested_sku": text_or_none(r.get("suggested_sku")),
              "suggested_name": text_or_none(r.get("suggested_name")),
              "confidence": num(r["confidence"]) or 0.0, "why": text_or_none(r.get("why")),
              "competitors": text_or_none(r.get("competitors")), "rows": int(r["rows"]),
              "latest_price": num(r.get("latest_price")),
              "latest_date": day_or_none(r.get("latest_date"))}
             for r in table.to_dict("records")]
    return {"items": items}


@router.post("/v1/pricing/competitors/matches", response_model=CompetitorMatchResponse,
             responses=error_responses(401, 403, 422, 429, 503))
def competitor_match(body: CompetitorMatchRequest,
                     caller: Caller = Depends(current_caller)) -> dict:
    """Confirm or correct a competitor item's match (`sku_id`), or mark it as not one of
    ours (`sku_id` null). Remembered: later uploads of the item reuse the decision."""
    from engine.warehouse.competitors import decide_match

    caller.require("upload", "Pricing")
    key = " ".join(body.item.lower().split())
    status = decide_match(caller.wh, key, body.sku_id, caller.user.username)
    return {"item": key, "sku_id": body.sku_id, "status": status}


