"""Warehouse-in, frames-out entry points for the Pricing page and notebooks."""
from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from engine.pricing.elasticity import ElasticityConfig, PricingError, estimate_elasticities
from engine.pricing.inputs import load_baseline, load_catalog, load_locations, load_panel_inputs
from engine.pricing.markdown import (MarkdownConfig, MarkdownError, MarkdownLine, MarkdownPlan,
                                     classify_lines, daily_demand, plan_markdown,
                                     recommend_path)
from engine.pricing.optimize import OptimizeConfig, OptimizeResult, build_items, optimize_prices
from engine.pricing.panel import UNIT, grain_of
from engine.pricing.regional import estimate_regional_elasticities
from engine.pricing.simulate import prepare
from engine.textfmt import dd_mmm
from engine.tracing import traced
from engine.warehouse import sales_history
from engine.warehouse import results
from engine.warehouse.db import Warehouse


# What the estimates read (db.DOMAINS): they are stored once per version of these, so a
# scenario, an alert or a forecast run does not throw them away. Bump METHOD when the
# estimators change, so results stored by older code are not reused.
DEPENDS = ("sales", "festivals")
METHOD = "2026-12-spec-spread"


@traced("pricing.elasticities", result=lambda t: {"skus": len(t)})
def elasticity_table(wh: Warehouse, cfg: ElasticityConfig = ElasticityConfig()) -> pd.DataFrame:
    """Elasticity per SKU joined with the SKU name (see elasticity.estimate_elasticities);
    computed once per version of the sales and stored (engine/warehouse/results.py)."""
    def compute() -> pd.DataFrame:
        table = estimate_elasticities(load_panel_inputs(wh), cfg)
        names = load_catalog(wh)[["sku_id", "name", "price", "unit_cost", "mrp"]]
        return table.merge(names, on="sku_id", how="left")

    return results.stored(wh, "elasticities", {"method": METHOD, **asdict(cfg)}, DEPENDS,
                          compute)


def regional_elasticity_table(wh: Warehouse, national: pd.DataFrame) -> pd.DataFrame:
    """Elasticity per SKU x region (see regional.estimate_regional_elasticities), shrunk
    towards `national` (elasticity_table's result), with the SKU name; stored like it."""
    def compute() -> pd.DataFrame:
        table = estimate_regional_elasticities(load_panel_inputs(wh), national)
        names = load_catalog(wh)[["sku_id", "name"]]
        return table.merge(names, on="sku_id", how="left")

    national_key = pd.util.hash_pandas_object(
        national[["sku_id", "elasticity"]], index=False).sum()
    return results.stored(wh, "regional_elasticities",
                          {"method": METHOD, "national": int(national_key)}, DEPENDS, compute)


def price_demand(wh: Warehouse, sku_id: str, elasticity: float, lo: float, hi: float
                 ) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Units per day or week (the data's grain; all PINs) against that period's price for
    one SKU, the fitted constant-elasticity curve (with its 95% band) anchored at the
    SKU's usual price, and the period unit ('day' or 'week')."""
    sales = sales_history.sales_history(wh, [sku_id])
    if sales.empty:
        return (pd.DataFrame(columns=["date", "price", "quantity", "promo"]), pd.DataFrame(),
                "day")
    unit = UNIT[grain_of(sales)]
    points = sales.groupby("date", as_index=False).agg(
        quantity=("quantity", "sum"), price=("price", "median"), promo=("promo", "max"))
    usual = float(points["price"].round(2).mode().iloc[0])
    at_usual = points.loc[(points["price"] - usual).abs() <= 0.01 * usual, "quantity"]
    anchor = float(at_usual.mean() if len(at_usual) else points["quantity"].mean())
    grid = np.linspace(points["price"].min() * 0.9, points["price"].max() * 1.1, 60)
    ratio = grid / usual
    curve = pd.DataFrame({"price": grid, "units": anchor * ratio ** elasticity,
                          "units_lo": anchor * np.minimum(ratio ** lo, ratio ** hi),
                          "units_hi": anchor * np.maximum(ratio ** lo, ratio ** hi)})
    return points, curve, unit


def simulation_base(wh: Warehouse, elasticities: pd.DataFrame, horizon: int = 28,
                    regional: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str, str]:
    """(frame for simulate(), baseline source 'forecast'|'naive', baseline label). With
    `regional`, rows in a region with a sufficient SKU x region estimate use it."""
    baseline = load_baseline(wh, horizon)
    base = prepare(baseline, load_catalog(wh), elasticities, load_locations(wh), regional)
    return base, baseline.source, baseline.label


def optimizer_items(wh: Warehouse, elasticities: pd.DataFrame, horizon: int = 28
                    ) -> tuple[pd.DataFrame, str, int]:
    """(optimiser input, baseline label, horizon days of the baseline). Each SKU's
    competitor_price is the cheapest competitor's stored price (none: NaN)."""
    baseline = load_baseline(wh, horizon)
    items = build_items(with_competitor_prices(wh, load_catalog(wh)), elasticities,
                        baseline.frame)
    return items, baseline.label, baseline.horizon_days


def with_competitor_prices(wh: Warehouse, catalog: pd.DataFrame) -> pd.DataFrame:
    """The catalog with competitor_price: the cheapest competitor's latest stored price
    (engine.warehouse.competitors.cheapest_by_sku), NaN without one."""
    from engine.warehouse.competitors import cheapest_by_sku

    cheapest = cheapest_by_sku(wh)[["sku_id", "cheapest_price"]]
    return catalog.merge(cheapest.rename(columns={"cheapest_price": "competitor_price"}),
                         on="sku_id", how="left")


@traced("pricing.optimize", lambda a: {"objective": a["cfg"].objective},
        lambda r: {"status": r[0].status, "skus": len(r[0].recommendations)})
def recommend(wh: Warehouse, elasticities: pd.DataFrame, cfg: OptimizeConfig
              ) -> tuple[OptimizeResult, str]:
    """Optimise every SKU with a baseline; the horizon is the baseline's. (result, label)."""
    items, label, days = optimizer_items(wh, elasticities, cfg.horizon_days)
    return optimize_prices(items, replace(cfg, horizon_days=days)), label


def simulation_options(base: pd.DataFrame) -> dict:
    """Choices the simulator offers: categories, states, and the baseline's date range."""
    return {"categories": sorted(base["category"].dropna().unique().tolist()),
            "states": sorted(base["state"].dropna().unique().tolist()),
            "start": pd.Timestamp(base["date"].min()).date(),
            "end": pd.Timestamp(base["date"].max()).date()}


# ---- markdowns (engine/pricing/markdown.py) -----------------------------------------------
MARKDOWN_COLUMNS = ["sku_id", "pin_code", "name", "category", "city", "kind", "on_hand",
                    "unit_cost", "price", "elasticity", "days_left", "deadline", "why",
                    "expected_sales", "excess_units", "value_at_risk"]
PLAN_SUMMARY = ["first_price", "lowest_price", "sell_through", "units_left",
                "recovered_margin", "gain"]


def _national_elasticities(wh: Warehouse) -> pd.DataFrame:
    """The stored per-SKU elasticities; a PIN-scoped handle reads its base warehouse's
    (a SKU's price response is estimated on every store's sales; its rows stay hidden)."""
    return elasticity_table(getattr(wh, "base", wh))[["sku_id", "elasticity"]]


def _markdown_frame(wh: Warehouse, as_of, cfg: MarkdownConfig, sku_id: str | None = None,
                    pin_code: str | None = None) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Inventory lines (one line when sku_id / pin_code are given) classified, with today's
    price, elasticity and baseline demand per day up to each line's deadline; the baseline
    label."""
    from engine.inventory.planner import load_festivals
    from engine.warehouse.inventory import read_inventory_lines

    lines = read_inventory_lines(wh)
    if sku_id is not None:
        lines = lines[(lines["sku_id"] == sku_id) & (lines["pin_code"] == pin_code)]
    if lines.empty:
        where = f" for {sku_id} at PIN {pin_code}" if sku_id is not None else ""
        raise MarkdownError(f"There is no inventory line{where} in the stock you can see; "
                            "upload an inventory count (Data page, or `python -m engine "
                            "ingest inventory FILE`).", "no_inventory",
                            {"sku_id": sku_id, "pin_code": pin_code})
    calendar, effects = load_festivals(wh) or (pd.DataFrame(columns=[
        "name", "date", "states", "pre_days", "post_days"]), pd.DataFrame(
        columns=["name", "category", "multiplier"]))
    lines = classify_lines(lines.reset_index(drop=True), calendar, effects, as_of, cfg)
    if cfg.days_left is not None and sku_id is not None:
        deadline = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=cfg.days_left)
        lines["kind"] = lines["kind"].fillna("clearance")
        lines["deadline"], lines["days_left"] = deadline, cfg.days_left
        lines["why"] = f"your deadline {dd_mmm(deadline)}"
    skus = None if sku_id is None else [sku_id]
    prices = load_catalog(wh)[["sku_id", "price"]]
    lines = (lines.drop(columns=["price"], errors="ignore").merge(prices, on="sku_id", how="left")
             .merge(sales_history.line_prices(wh, skus), on=["sku_id", "pin_code"], how="left")
             .merge(_national_elasticities(wh), on="sku_id", how="left"))
    # the line's own shelf price; the SKU's usual price where the line has not sold yet
    lines["price"] = lines["line_price"].fillna(lines["price"])
    try:
        baseline = load_baseline(wh, sku_ids=skus)
        frame, label = baseline.frame, baseline.label
    except PricingError:              # one SKU that has never sold: no demand to plan on
        if skus is None:
            raise
        frame, label = pd.DataFrame(columns=["sku_id", "pin_code", "date", "forecast"]), \
            "no sales history for this SKU"
    horizon = int(np.clip(lines["days_left"].max(skipna=True) if lines["days_left"].notna().any()
                          else 0, 0, 365))
    demand = daily_demand(frame, lines, as_of, horizon)
    days = np.nan_to_num(lines["days_left"].to_numpy(float), nan=0).clip(0, horizon)
    lines["expected_sales"] = [demand[i, :int(d)].sum() for i, d in enumerate(days)]
    lines["excess_units"] = np.maximum(lines["on_hand"] - lines["expected_sales"], 0.0)
    lines.loc[lines["days_left"] <= 0, "excess_units"] = lines["on_hand"]
    lines["value_at_risk"] = lines["excess_units"] * lines["unit_cost"].fillna(0.0)
    return lines, demand, label


def _line(r: dict, demand: np.ndarray) -> MarkdownLine:
    days = int(r["days_left"])
    return MarkdownLine(
        sku_id=str(r["sku_id"]), pin_code=str(r["pin_code"]),
        name=str(r["name"] or r["sku_id"]), category=str(r["category"]), kind=r["kind"],
        on_hand=float(r["on_hand"]), unit_cost=float(np.nan_to_num(r["unit_cost"])),
        price=float(r["price"]) if pd.notna(r["price"]) else float("nan"),
        elasticity=float(r["elasticity"]) if pd.notna(r["elasticity"]) else float("nan"),
        days_left=days, deadline=pd.Timestamp(r["deadline"]), why=str(r["why"]),
        demand=demand[:max(days, 0)], city=str(r["city"] or ""))


def markdown_candidates(wh: Warehouse, as_of, cfg: MarkdownConfig = MarkdownConfig()
                        ) -> tuple[pd.DataFrame, str]:
    """Stock that must go and will not sell at today's price by its deadline (short shelf
    life, or a season that has ended): one row per SKU x PIN with its recommended path's
    first price, sell-through and gain over keeping today's price (NaN when it cannot be
    planned, e.g. expired: days_left <= 0), the most cost at risk first.
    (frame, baseline label)."""
    lines, demand, label = _markdown_frame(wh, as_of, cfg.validate())
    keep = (lines["kind"].notna() & (lines["on_hand"] > 0) & (lines["excess_units"] >= 1)
            ).to_numpy()
    out, demand = lines[keep].reset_index(drop=True), demand[keep]
    plans = []
    for i, r in enumerate(out.to_dict("records")):
        try:
            totals = recommend_path(_line(r, demand[i]), cfg)[-1]
            plans.append({**{k: totals[k] for k in PLAN_SUMMARY if k in totals},
                          "units_left": totals["left"]})
        except MarkdownError:
            plans.append({})
    out = pd.concat([out, pd.DataFrame(plans, index=out.index, columns=PLAN_SUMMARY)],
                    axis=1)
    out = out.sort_values(["value_at_risk", "sku_id", "pin_code"],
                          ascending=[False, True, True])
    return out[MARKDOWN_COLUMNS + PLAN_SUMMARY].reset_index(drop=True), label


def markdown_plan(wh: Warehouse, sku_id: str, pin_code: str, as_of,
                  cfg: MarkdownConfig = MarkdownConfig()) -> tuple[MarkdownPlan, str]:
    """The recommended markdown path for one SKU x PIN (MarkdownError with a code when it
    cannot be planned). (plan, baseline label)."""
    lines, demand, label = _markdown_frame(wh, as_of, cfg.validate(), sku_id, pin_code)
    r = lines.iloc[0].to_dict()
    if not isinstance(r["kind"], str):
        raise MarkdownError(
            f"{r['name'] or sku_id} ({sku_id}) at PIN {pin_code} is neither short-life stock "
            "nor seasonal stock past its season; give it a deadline (days to clear) to plan "
            "a clearance anyway.", "not_markdown_stock", {"sku_id": sku_id, "pin_code": pin_code})
    return plan_markdown(_line(r, demand[0]), cfg), label
