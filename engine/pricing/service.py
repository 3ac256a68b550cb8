"""Warehouse-in, frames-out entry points for the Pricing page and notebooks."""
from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from engine.pricing.elasticity import ElasticityConfig, estimate_elasticities
from engine.pricing.inputs import load_baseline, load_catalog, load_locations, load_panel_inputs
from engine.pricing.optimize import OptimizeConfig, OptimizeResult, build_items, optimize_prices
from engine.pricing.panel import UNIT, grain_of
from engine.pricing.regional import estimate_regional_elasticities
from engine.pricing.simulate import prepare
from engine.warehouse import pricing_store as store
from engine.warehouse import results
from engine.warehouse.db import Warehouse


# What the estimates read (db.DOMAINS): they are stored once per version of these, so a
# scenario, an alert or a forecast run does not throw them away. Bump METHOD when the
# estimators change, so results stored by older code are not reused.
DEPENDS = ("sales", "festivals")
METHOD = "2026-12-pm-spread-regional"


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
    sales = store.sales_history(wh, [sku_id])
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
    (engine.warehouse.competitor_store.cheapest_by_sku), NaN without one."""
    from engine.warehouse.competitor_store import cheapest_by_sku

    cheapest = cheapest_by_sku(wh)[["sku_id", "cheapest_price"]]
    return catalog.merge(cheapest.rename(columns={"cheapest_price": "competitor_price"}),
                         on="sku_id", how="left")


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
