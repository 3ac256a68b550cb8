"""Purchase-plan MILP and DC allocation on small seeded plans."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.inventory.advice import build_plan
from engine.inventory.demand import InventoryInputError
from engine.inventory.optimize import OptimizeConfig, allocate_dc_stock, optimize_orders
from engine.inventory.policy import PolicyConfig
from tests.test_inventory_policy import flat_model, make_lines


@pytest.fixture(scope="module")
def plan() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 60
    lines = make_lines(n, seed=11)
    lines["on_hand"] = np.floor(rng.uniform(0, 20, n))
    lines["case_pack"] = rng.choice([1, 6, 12, 24], n)
    lines["moq"] = lines["case_pack"] * rng.choice([1, 2, 3], n)
    lines["unit_cost"] = np.round(rng.uniform(20, 400, n), 2)
    lines["mrp"] = lines["unit_cost"] * 1.35
    lines["unit_volume_l"] = np.round(rng.uniform(0.2, 2.0, n), 2)
    model = flat_model(lines, rng.uniform(2, 25, n), rng.uniform(1, 8, n))
    out = build_plan(lines, model, PolicyConfig())
    assert (out["order_qty"] > 0).sum() >= 40
    return out


def _ordered(sol):
    return sol.lines[sol.lines["opt_qty"] > 0]


def test_optimised_orders_respect_moq_case_pack_and_budget(plan):
    budget = 0.4 * float(plan["order_value"].sum())
    sol = optimize_orders(plan, OptimizeConfig(budget=budget))
    assert sol.status == "optimal" and sol.gap is not None and sol.gap <= 0.01
    got = _ordered(sol)
    assert len(got) > 0
    assert (got["opt_qty"] % got["case_pack"] == 0).all()
    assert (got["opt_qty"] >= got["moq"]).all()
    assert (got["opt_qty"] <= got["order_qty"]).all()
    assert sol.total_value <= budget + 1e-6
    assert "short by" in sol.explanation


def test_volume_capacity_is_respected(plan):
    cap = 0.3 * float(plan["order_volume_l"].sum())
    sol = optimize_orders(plan, OptimizeConfig(volume_capacity_l=cap))
    assert sol.total_volume_l <= cap + 1e-6
    assert sol.total_volume_l > 0


def test_more_budget_never_raises_expected_lost_sales(plan):
    ask = float(plan["order_value"].sum())
    lost = [optimize_orders(plan, OptimizeConfig(budget=share * ask, gap_rel=0.0001))
            .lines["expected_lost_units"].sum() for share in (0.2, 0.5, 1.0)]
    assert lost[0] >= lost[1] >= lost[2]


def test_budget_below_forced_critical_minimum_is_infeasible_and_explained(plan):
    assert (plan["urgency"] == "critical").any()
    sol = optimize_orders(plan, OptimizeConfig(budget=100.0, must_order_critical=True))
    assert sol.status == "infeasible"
    assert sol.explanation.startswith("The budget of ₹100 cannot cover even the minimum orders")
    assert sol.total_value == 0


def test_negative_budget_is_rejected_with_a_sentence(plan):
    with pytest.raises(InventoryInputError, match="budget must be zero or more"):
        optimize_orders(plan, OptimizeConfig(budget=-5))


def test_dc_allocation_never_exceeds_stock_or_need(plan):
    need = plan[plan["order_qty"] > 0].groupby("sku_id")["order_qty"].sum()
    dc = pd.DataFrame({"sku_id": need.index, "available": (need * 0.5).round().to_numpy()})
    sol = allocate_dc_stock(plan, dc)
    assert sol.status == "optimal"
    given = sol.lines.groupby("sku_id")["opt_qty"].sum()
    for sku, avail in zip(dc["sku_id"], dc["available"]):
        assert given.get(sku, 0) <= avail + 1e-9
    got = _ordered(sol)
    assert (got["opt_qty"] <= got["order_qty"]).all()
    assert (got["opt_qty"] % got["case_pack"] == 0).all()
    assert given.sum() > 0


def test_dc_allocation_rejects_negative_stock(plan):
    dc = pd.DataFrame({"sku_id": [plan["sku_id"].iloc[0]], "available": [-3]})
    with pytest.raises(InventoryInputError, match="negative or missing DC stock"):
        allocate_dc_stock(plan, dc)
