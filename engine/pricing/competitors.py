"""Competitor price views: the price index per SKU / category / city over time and the
competitive cross-elasticity table (warehouse in, frames out; the Pricing page, the API
and the CLI all read these).

Price index = 100 x our average selling price / the competitors' average price for the same
SKU, city and week (both from stored prices; a week runs Monday to Sunday). Above 100 we are
dearer. A category's or a city's index weighs each SKU x city by our units that week:
100 x sum(our price x units) / sum(competitor price x units).
"""
from __future__ import annotations

import pandas as pd

from engine.pricing.competitive import competitive_elasticities
from engine.pricing.elasticity import PricingError
from engine.pricing.inputs import load_catalog, load_panel_inputs
from engine.warehouse import competitors as store
from engine.warehouse import results

# bump when the estimator changes, so results stored by older code are not reused
METHOD = "2026-12-competitive-spec-spread"

LEVELS = {"sku": ["sku_id", "name", "category"], "category": ["category"], "city": ["city"]}
INDEX_COLUMNS = ["week", "our_price", "competitor_price", "cheapest_price", "index",
                 "cheapest_index", "units", "rows"]


def price_index(weekly: pd.DataFrame, level: str = "sku") -> pd.DataFrame:
    """weekly: warehouse.competitors.weekly_index. One row per group of `level` (sku: also name
    and category; category; city) and week: our_price, competitor_price (average),
    cheapest_price, index, cheapest_index (100 x ours / the cheapest), units, rows (SKU x
    city cells behind it). Prices of a group are unit-weighted averages."""
    if level not in LEVELS:
        raise PricingError(f"Price index level must be one of {', '.join(LEVELS)}, "
                           f"not {level!r}.")
    keys = LEVELS[level] + ["week"]
    if weekly.empty:
        return pd.DataFrame(columns=keys + INDEX_COLUMNS[1:])
    w = weekly.assign(units=weekly["units"].clip(lower=0) + 1e-9)
    w = w.assign(ours=w["our_price"] * w["units"], theirs=w["competitor_price"] * w["units"],
                 low=w["cheapest_price"] * w["units"])
    g = w.groupby(keys, as_index=False, dropna=False).agg(
        ours=("ours", "sum"), theirs=("theirs", "sum"), low=("low", "sum"),
        units=("units", "sum"), rows=("sku_id", "size"))
    out = g.assign(our_price=g["ours"] / g["units"], competitor_price=g["theirs"] / g["units"],
                   cheapest_price=g["low"] / g["units"], index=100 * g["ours"] / g["theirs"],
                   cheapest_index=100 * g["ours"] / g["low"], units=g["units"].round(3))
    return out[keys + INDEX_COLUMNS[1:]].sort_values(keys, ignore_index=True)


def competitor_index(wh, level: str = "sku", weeks: int = 26) -> pd.DataFrame:
    """price_index over the last `weeks` weeks of competitor data."""
    since = wh.scalar("SELECT max(date) FROM competitor_prices")
    if since is not None:
        since = (pd.Timestamp(since) - pd.Timedelta(weeks=weeks)).date()
    return price_index(store.weekly_index(wh, since), level)


def competitive_table(wh) -> pd.DataFrame:
    """Competitive cross-elasticity per SKU with competitor prices
    (engine.pricing.competitive), with the SKU's name; computed once per version of the
    sales, festivals and competitor prices and stored (engine/warehouse/results.py)."""
    comp = store.competitor_price_panel(wh)
    if comp.empty:
        raise PricingError("No competitor prices are matched to our SKUs yet: upload a "
                           "competitor price file (Data page, kind 'Competitor prices').")

    def compute() -> pd.DataFrame:
        table = competitive_elasticities(
            load_panel_inputs(wh, sorted(comp["sku_id"].unique())), comp)
        return table.merge(load_catalog(wh)[["sku_id", "name"]], on="sku_id", how="left")

    return results.stored(wh, "competitive_elasticities", {"method": METHOD},
                          ("sales", "festivals", "competitors"), compute)
