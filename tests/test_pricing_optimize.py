"""Price optimiser: every rule holds, decisions are deterministic and point the way the
elasticity implies, and infeasible rules name what to relax."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.pricing.optimize import (InfeasiblePricingError, OptimizeConfig, optimize_prices,
                                     snap_to_9)

RULE_WORDS = {"min_margin": "minimum margin (50% on every SKU)",
              "volume_floor": "category volume floor (120% of baseline units)",
              "competitor_index": "competitor price-index ceiling (0.50)"}
from engine.pricing.synthetic import synthetic_catalog


@pytest.fixture(scope="module")
def items() -> pd.DataFrame:
    return synthetic_catalog(n_skus=60, seed=4, n_categories=3)


def _two_skus(**over) -> pd.DataFrame:
    base = pd.DataFrame({"sku_id": ["INEL", "ELAS"], "category": ["Snacks", "Snacks"],
                         "price": [100.0, 100.0], "unit_cost": [60.0, 60.0],
                         "mrp": [200.0, 200.0], "elasticity": [-0.4, -4.0],
                         "baseline_units": [1000.0, 1000.0]})
    return base.assign(**over)


def test_only_max_change_moves_prices_the_way_elasticity_implies():
    res = optimize_prices(_two_skus(), OptimizeConfig(objective="margin", max_change=0.10))
    recs = res.recommendations.set_index("sku_id")
    assert res.status == "Optimal"
    assert recs.loc["INEL", "change_pct"] == pytest.approx(0.10)    # inelastic -> up
    # elastic at 40% margin: optimum p* = c e/(1+e) = 80 -> down to the 10% limit
    assert recs.loc["ELAS", "change_pct"] == pytest.approx(-0.10)
    assert recs.loc["INEL", "margin"] > recs.loc["INEL", "baseline_margin"]
    assert "Inelastic (-0.4): +10% lifts margin" in recs.loc["INEL", "reason"]
    assert "max change" in recs.loc["INEL", "reason"]


def test_revenue_objective_cuts_elastic_and_raises_inelastic_prices():
    res = optimize_prices(_two_skus(), OptimizeConfig(objective="revenue", max_change=0.05))
    recs = res.recommendations.set_index("sku_id")
    assert recs.loc["INEL", "change_pct"] > 0 and recs.loc["ELAS", "change_pct"] < 0


def test_max_change_respected(items):
    recs = optimize_prices(items, OptimizeConfig(max_change=0.04)).recommendations
    assert (recs["change_pct"].abs() <= 0.04 + 1e-9).all()
    assert (recs["change_pct"].abs() > 0).any()


def test_mrp_is_a_ceiling(items):
    tight = items.assign(mrp=items["price"] * 1.02)
    recs = optimize_prices(tight, OptimizeConfig(max_change=0.15)).recommendations
    assert (recs["recommended_price"] <= tight.sort_values("sku_id")["mrp"].to_numpy() + 1e-9).all()
    assert (recs["recommended_price"] > recs["current_price"] * 1.02 + 1e-9).sum() == 0


def test_min_margin_per_sku_respected(items):
    cfg = OptimizeConfig(min_margin=0.25, margin_scope="sku", max_change=None)
    recs = optimize_prices(items.assign(mrp=np.nan), cfg).recommendations
    margin_pct = 1 - items.set_index("sku_id").loc[recs["sku_id"], "unit_cost"].to_numpy() \
        / recs["recommended_price"].to_numpy()
    assert (margin_pct >= 0.25 - 1e-9).all()


def test_min_margin_over_price_list_respected_and_binding(items):
    free = optimize_prices(items, OptimizeConfig(objective="revenue", max_change=0.15)).totals
    free_pct = 1 - (free["revenue"] - free["margin"]) / free["revenue"]
    target = free_pct + 0.03
    res = optimize_prices(items, OptimizeConfig(objective="revenue", max_change=0.15,
                                                min_margin=target))
    assert res.totals["margin"] >= target * res.totals["revenue"] - 1e-6
    assert res.totals["revenue"] <= free["revenue"] + 1e-6


def test_category_volume_floor_respected(items):
    cfg = OptimizeConfig(max_change=0.15, volume_floor=0.99)
    recs = optimize_prices(items, cfg).recommendations
    by = recs.groupby("category")[["units", "baseline_units"]].sum()
    assert (by["units"] >= 0.99 * by["baseline_units"] - 1e-6).all()
    free = optimize_prices(items, OptimizeConfig(max_change=0.15)).recommendations
    free_by = free.groupby("category")[["units", "baseline_units"]].sum()
    assert (free_by["units"] < 0.99 * free_by["baseline_units"]).any()   # the floor binds


def test_competitor_index_ceiling_respected(items):
    comp = items.assign(competitor_price=items["price"] * 1.01)
    res = optimize_prices(comp, OptimizeConfig(max_change=0.15, competitor_index=1.0))
    recs = res.recommendations.merge(comp[["sku_id", "competitor_price"]], on="sku_id")
    index = (recs["recommended_price"] * recs["baseline_units"]).sum() / \
        (recs["competitor_price"] * recs["baseline_units"]).sum()
    assert index <= 1.0 + 1e-9


def test_snap_to_9_gives_price_points_ending_in_9(items):
    recs = optimize_prices(items, OptimizeConfig(max_change=0.15, snap_9=True)).recommendations
    moved = recs[recs["change_pct"].abs() > 1e-9]
    assert len(moved)
    big = moved[moved["recommended_price"] >= 20]
    assert (np.round(big["recommended_price"]) % 10 == 9).all()
    assert list(snap_to_9(np.array([101.0, 47.2, 8.3, 8.6]))) == pytest.approx([99.0, 49.0, 7.9, 8.9])


def test_optimiser_is_deterministic(items):
    cfg = OptimizeConfig(max_change=0.12, volume_floor=0.97, min_margin=0.2)
    a = optimize_prices(items, cfg).recommendations
    b = optimize_prices(items.sample(frac=1.0, random_state=1), cfg).recommendations
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("rule, cfg, fix", [
    ("min_margin", OptimizeConfig(min_margin=0.5, margin_scope="sku", max_change=0.05),
     {"min_margin": None}),
    ("volume_floor", OptimizeConfig(max_change=0.05, volume_floor=1.2), {"volume_floor": None}),
    ("competitor_index", OptimizeConfig(max_change=0.05, competitor_index=0.5),
     {"competitor_index": None}),
])
def test_infeasible_rules_name_the_rule_to_relax(items, rule, cfg, fix):
    data = items.assign(competitor_price=items["price"])
    with pytest.raises(InfeasiblePricingError) as info:
        optimize_prices(data, cfg)
    assert rule in info.value.relax
    assert str(info.value).startswith("No price list meets every rule. Relax ")
    assert RULE_WORDS[rule] in str(info.value)
    # relaxing exactly that rule makes it solvable
    relaxed = OptimizeConfig(**{**cfg.__dict__, **fix})
    assert optimize_prices(data, relaxed).status == "Optimal"


def test_infeasible_max_change_with_cost_above_price_is_named():
    data = _two_skus(unit_cost=[95.0, 60.0])
    with pytest.raises(InfeasiblePricingError, match="maximum price change") as info:
        optimize_prices(data, OptimizeConfig(min_margin=0.15, margin_scope="sku", max_change=0.05))
    assert set(info.value.relax) == {"min_margin", "max_change"}
    assert info.value.evidence["sku_id"].tolist() == ["INEL"]
    assert "INEL" in str(info.value)
