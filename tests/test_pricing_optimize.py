"""Price optimiser: every rule holds, decisions are deterministic and point the way the
elasticity implies, and infeasible rules name what to relax."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from engine.__main__ import main
from engine.pricing.elasticity import PricingError
from engine.pricing.endings import ceil_price, floor_price, is_allowed, nearest_price
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


# ---- price endings ------------------------------------------------------------------------
def _paise_items(items: pd.DataFrame) -> pd.DataFrame:
    """The synthetic catalog at prices a shelf label would not carry (₹263.37, ₹39.79...),
    MRPs a few paise above some of them."""
    out = items.assign(price=(items["price"] * 0.9937).round(2))
    tight = out.index % 4 == 0
    out.loc[tight, "mrp"] = (out.loc[tight, "price"] * 1.013).round(2)
    return out


def _rules_hold(recs: pd.DataFrame, items: pd.DataFrame, cfg: OptimizeConfig) -> None:
    src = items.set_index("sku_id").loc[recs["sku_id"]]
    price = recs["recommended_price"].to_numpy()
    assert (np.abs(price / src["price"].to_numpy() - 1) <= cfg.max_change + 1e-9).all()
    mrp = src["mrp"].to_numpy()
    assert (np.isnan(mrp) | (price <= mrp + 1e-9)).all()
    if cfg.min_margin is not None and cfg.margin_scope == "sku":
        assert (price - src["unit_cost"].to_numpy() >= cfg.min_margin * price - 1e-9).all()


@pytest.mark.parametrize("endings", ["retail", "whole", "nine"])
def test_every_recommended_price_has_an_allowed_ending_and_meets_every_rule(items, endings):
    data = _paise_items(items)
    for cfg in (OptimizeConfig(max_change=0.10, min_margin=0.15, margin_scope="sku",
                               price_endings=endings),
                OptimizeConfig(max_change=0.08, min_margin=0.25, volume_floor=0.97,
                               price_endings=endings)):
        res = optimize_prices(data, cfg)
        recs = res.recommendations
        assert recs["allowed_ending"].all()
        assert is_allowed(recs["recommended_price"], endings).all(), \
            recs.loc[~is_allowed(recs["recommended_price"], endings), "recommended_price"]
        _rules_hold(recs, data, cfg)
        if cfg.margin_scope == "total":
            assert res.totals["margin"] >= cfg.min_margin * res.totals["revenue"] - 1e-6
            by = recs.groupby("category")[["units", "baseline_units"]].sum()
            assert (by["units"] >= 0.97 * by["baseline_units"] - 1e-6).all()


def test_default_endings_are_whole_rupees_or_fifty_paise_below_100(items):
    assert OptimizeConfig().price_endings == "retail"
    recs = optimize_prices(_paise_items(items), OptimizeConfig()).recommendations
    price = recs["recommended_price"]
    assert ((price >= 100) <= (price == price.round(0))).all()
    assert ((price * 2) == (price * 2).round(0)).all()
    assert (price != recs["current_price"]).any()


def _margin(items: pd.DataFrame, prices: np.ndarray) -> np.ndarray:
    p0, c = items["price"].to_numpy(), items["unit_cost"].to_numpy()
    q = items["baseline_units"].to_numpy() * (prices / p0) ** items["elasticity"].to_numpy()
    return (prices - c) * q


@pytest.mark.parametrize("endings", ["retail", "whole", "nine"])
def test_endings_inside_the_solve_beat_rounding_the_paise_answer(items, endings):
    data = _paise_items(items).sort_values("sku_id").reset_index(drop=True)
    cfg = OptimizeConfig(max_change=0.10, min_margin=0.15, margin_scope="sku")
    paise = optimize_prices(data, replace(cfg, price_endings="paise")).recommendations
    rounded = nearest_price(paise["recommended_price"].to_numpy(), endings)
    ok = ((np.abs(rounded / data["price"].to_numpy() - 1) <= cfg.max_change + 1e-9)
          & ~(rounded > data["mrp"].to_numpy() + 1e-9)
          & (rounded - data["unit_cost"].to_numpy() >= cfg.min_margin * rounded - 1e-9))
    assert (~ok).any()            # rounding afterwards breaks a rule somewhere (the MRPs)...
    best = optimize_prices(data, replace(cfg, price_endings=endings)).recommendations
    mine = best["margin"].to_numpy()
    # ...and where it does not, the endings-aware list earns at least as much per SKU
    assert (mine[ok] >= _margin(data, rounded)[ok] - 1e-6).all()
    assert mine.sum() >= _margin(data, rounded)[ok].sum() + mine[~ok].sum() - 1e-6


def test_rounding_afterwards_would_break_the_mrp_but_the_endings_grid_does_not():
    data = _two_skus(price=[39.79, 100.0], mrp=[40.30, 200.0])     # inelastic: up to MRP
    paise = optimize_prices(data, OptimizeConfig(price_endings="paise")).recommendations
    ref = paise.set_index("sku_id").loc["ELAS", "recommended_price"]
    assert paise.set_index("sku_id").loc["INEL", "recommended_price"] == pytest.approx(40.30)
    assert nearest_price([40.30], "retail")[0] == 40.5            # above the MRP
    recs = optimize_prices(data, OptimizeConfig()).recommendations.set_index("sku_id")
    assert recs.loc["INEL", "recommended_price"] == 40.0
    assert "₹39.79 today is not an allowed price ending" in recs.loc["INEL", "reason"]
    assert "MRP ₹40.30" in recs.loc["INEL", "reason"]
    assert is_allowed([recs.loc["ELAS", "recommended_price"]], "retail")[0]
    assert abs(recs.loc["ELAS", "recommended_price"] - ref) <= 0.5


def test_a_sku_no_allowed_price_fits_keeps_todays_price_and_says_why(items):
    data = _two_skus(price=[38.0, 100.0], mrp=[38.0, 200.0])   # at MRP: 39 too high, 29 too far
    recs = optimize_prices(data, OptimizeConfig(price_endings="nine")).recommendations
    recs = recs.set_index("sku_id")
    assert recs.loc["INEL", "recommended_price"] == 38.0
    assert not recs.loc["INEL", "allowed_ending"]
    assert recs.loc["INEL", "reason"] == ("Inelastic (-0.4): keep ₹38; no price with the allowed "
                                          "endings (ending in 9 (₹x.90 below ₹20, then ₹19, "
                                          "₹29, ₹49, ₹199)) meets its rules")
    assert recs.loc["ELAS", "allowed_ending"] and recs.loc["ELAS", "recommended_price"] == 99.0
    # the synthetic list never needs the fallback
    res = optimize_prices(_paise_items(items), OptimizeConfig(price_endings="nine"))
    assert res.recommendations["allowed_ending"].all()


def test_endings_that_leave_a_sku_no_price_are_named_as_the_rule_to_relax():
    data = _two_skus(price=[39.79, 100.0], mrp=[39.70, 200.0])   # today's price is above MRP
    with pytest.raises(InfeasiblePricingError) as info:
        optimize_prices(data, OptimizeConfig(max_change=0.004))
    assert set(info.value.relax) == {"max_change", "price_endings"}
    assert ("Relax the maximum price change (±0.4%) or the price endings (whole rupees, or "
            "₹0.50 steps below ₹100; 'paise' allows any price).") in str(info.value)
    assert info.value.evidence["sku_id"].tolist() == ["INEL"]
    assert optimize_prices(data, OptimizeConfig(max_change=0.004, price_endings="paise")
                           ).status == "Optimal"


def test_unknown_price_endings_are_refused_with_the_choices():
    with pytest.raises(PricingError, match="Price endings must be one of: 'retail' = whole "
                                           "rupees, or ₹0.50 steps below ₹100;"):
        optimize_prices(_two_skus(), OptimizeConfig(price_endings="round"))


def test_allowed_price_points_of_each_scheme():
    x = np.array([0.3, 8.25, 19.5, 39.79, 99.7, 100.4, 149.5, 1234.56])
    assert floor_price(x, "retail").tolist()[1:] == [8.0, 19.5, 39.5, 99.5, 100, 149, 1234]
    assert ceil_price(x, "retail").tolist() == [0.5, 8.5, 19.5, 40, 100, 101, 150, 1235]
    assert ceil_price(x, "whole").tolist() == [1, 9, 20, 40, 100, 101, 150, 1235]
    assert floor_price(x, "nine").tolist()[1:] == [7.9, 19.0, 39.0, 99.0, 99.0, 149.0, 1229.0]
    assert ceil_price(x, "nine").tolist() == [0.9, 8.9, 19.9, 49, 109, 109, 159, 1239]
    assert np.isnan(floor_price([0.3], "retail")[0])
    assert is_allowed([39.5, 120.0, 120.5, 59.0, 8.9], "retail").tolist() == \
        [True, True, False, True, False]
    assert nearest_price([39.79, 39.74, 0.1], "retail").tolist() == [40.0, 39.5, 0.5]


def test_price_optimize_cli_uses_the_chosen_price_endings(small_warehouse_path, tmp_path,
                                                          capsys):
    out = tmp_path / "recs.csv"
    code = main(["price-optimize", "--warehouse", str(small_warehouse_path),
                 "--price-endings", "nine", "--out", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["price_endings"] == "nine"
    recs = pd.read_csv(out)
    fits = recs["allowed_ending"]
    assert is_allowed(recs.loc[fits, "recommended_price"], "nine").all()
    # SKUs at their MRP with no ...9 price within 10% keep today's price, and are counted
    assert (recs.loc[~fits, "recommended_price"] == recs.loc[~fits, "current_price"]).all()
    assert summary["skus_off_ending"] == int((~fits).sum()) < len(recs) / 4
    assert main(["price-optimize", "--warehouse", str(small_warehouse_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["price_endings"] == "retail"
