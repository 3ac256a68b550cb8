"""Market trends and store clusters (the Trends page's numbers): emerging / declining items
with their significance, the "what changed" decomposition of a category, and the store
clusters the caller may see. Store users get their PIN codes' sales and clusters only
(their warehouse handle is PIN-scoped); results are cached per data version and scope."""
from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.routes_forecasts import num
from api.schemas import error_responses
from api.security import Caller, current_caller

router = APIRouter(tags=["trends"])


class TrendItem(BaseModel):
    item: str
    label: str
    status: str
    revenue: float
    revenue_ly: float | None
    growth_yoy: float | None
    slope_pct_week: float | None
    p_value: float | None
    q_value: float | None
    significant: bool
    reason: str


class BridgeStep(BaseModel):
    step: str
    label: str
    amount: float


class WhatChangedOut(BaseModel):
    category: str | None
    period_a: tuple[date, date]
    period_b: tuple[date, date]
    headline: str
    bridge: list[BridgeStep]


class ClusterOut(BaseModel):
    cluster: int
    cluster_name: str
    description: str
    n_pins: int
    pin_codes: list[str]


class TrendsResponse(BaseModel):
    level: str
    start: date
    end: date
    alpha: float
    summary: str
    items: list[TrendItem]
    what_changed: WhatChangedOut | None = None
    clusters: list[ClusterOut] | None = None


@router.get("/v1/trends", response_model=TrendsResponse,
            responses=error_responses(401, 403, 422, 429, 503))
def trends(level: Literal["category", "brand", "sku", "pin_code", "city"] = "category",
           weeks: Annotated[int, Query(ge=8, le=104)] = 26,
           alpha: Annotated[float, Query(gt=0, lt=0.5)] = 0.05,
           status: Literal["emerging", "declining", "steady", "all"] = "all",
           category: Annotated[str | None, Query(max_length=80)] = None,
           include_clusters: bool = False,
           limit: Annotated[int, Query(ge=1, le=2000)] = 200,
           caller: Caller = Depends(current_caller)) -> dict:
    """Items of `level` with their growth against the same weeks last year and their
    recent trend (Mann-Kendall with Benjamini-Hochberg control at `alpha`), emerging and
    declining first. With `category` (a category name, or `all`) also what changed in it
    over the last 4 weeks against the 4 before, split into parts that add up exactly;
    with `include_clusters` the store clusters of the caller's PIN codes."""
    from engine.intel import clusters as C
    from engine.intel import trends as T
    from engine.warehouse.sql import Filters

    caller.require("view", "Trends")
    wh = caller.wh
    cfg = T.TrendConfig(level=level, weeks=weeks, alpha=alpha)
    res = caller.cached(("trends", wh.data_version("sales"), cfg),
                        lambda: T.trends(wh, Filters(), cfg))
    table = res.table if status == "all" else res.by_status(status)
    items = [{**{k: num(r[k]) for k in ("revenue_ly", "growth_yoy", "slope_pct_week",
                                        "p_value", "q_value")},
              "item": str(r["item"]), "label": str(r["label"]), "status": r["status"],
              "revenue": num(r["revenue"]) or 0.0, "significant": bool(r["significant"]),
              "reason": r["reason"]} for r in table.head(limit).to_dict("records")]
    out = {"level": level, "start": res.start, "end": res.end, "alpha": alpha,
           "summary": res.summary(), "items": items}
    if category is not None:
        cat = None if category.strip().lower() == "all" else category
        w = caller.cached(("what_changed", wh.data_version("sales"), cat),
                          lambda: T.what_changed(wh, Filters(), cat))
        out["what_changed"] = {
            "category": cat, "period_a": w.periods["a"], "period_b": w.periods["b"],
            "headline": w.headline(),
            "bridge": [{"step": r["step"], "label": r["label"], "amount": num(r["amount"])}
                       for r in w.bridge.to_dict("records")]}
    if include_clusters:
        rows = C.store_clusters(wh)
        out["clusters"] = [
            {"cluster": int(s.cluster), "cluster_name": s.cluster_name,
             "description": s.description, "n_pins": int(s.n_pins),
             "pin_codes": sorted(rows.loc[rows["cluster"] == s.cluster, "pin_code"])}
            for s in C.cluster_summary(rows).itertuples()]
    return out
