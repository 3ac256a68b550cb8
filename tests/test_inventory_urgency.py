"""Reorder urgency a manager can trust, on planted lines: 'critical' only for a real
stock-out before the next delivery could arrive, no stock-out date in the past, sales at
risk valued at MRP, and the page's tiles summed from the plan shown (the budget plan when
a budget is applied)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.inventory.advice import build_plan
from engine.inventory.demand import DemandModel
from engine.inventory.optimize import OptimizeConfig, optimize_orders
from engine.inventory.planner import budget_plan, pin_risk, plan_tiles
from engine.inventory.policy import PolicyConfig, plan_levels
from tests.test_inventory_policy import AS_OF, flat_model, make_lines


def path_model(lines: pd.DataFrame, daily: np.ndarray, sigma: float = 0.0) -> DemandModel:
    """Every line sells `daily[d]` units on plan day d + 1 (one shared path)."""
    days = AS_OF + pd.to_timedelta(np.arange(1, len(daily) + 1), unit="D")
    path = pd.DataFrame({"sku_id": np.repeat(lines["sku_id"].to_numpy(), len(daily)),
                         "pin_code": np.repeat(lines["pin_code"].to_numpy(), len(daily)),
                         "date": np.tile(days.to_numpy(), len(lines)),
                         "forecast": np.tile(daily, len(lines))})
    sig = lines[["sku_id", "pin_code"]].assign(sigma_daily=sigma, error_source="test")
    return DemandModel(path=path, sigma=sig, source="forecast", label="test",
                       as_of=AS_OF.date())


def test_a_line_with_reorder_point_zero_is_never_critical():
    # Nothing sells during the 5-day lead time (sales start on day 10): the reorder point
    # is 0, so an empty shelf loses no sale before a delivery could arrive; the order for
    # the sales after it goes with the next purchase order.
    lines = make_lines(1, lead_time_days=5, on_hand=0.0)
    daily = np.r_[np.zeros(9), np.full(50, 3.0)]
    row = build_plan(lines, path_model(lines, daily), PolicyConfig()).iloc[0]
    assert row["reorder_point"] == 0 and row["order_qty"] > 0
    assert row["urgency"] != "critical" and row["urgency"] == "medium"
    assert "sells less than one unit over the 5-day lead time" in row["reason"]
    assert "with the next purchase order" in row["reason"]


def test_a_line_without_demand_is_low_and_has_no_stockout_date():
    lines = make_lines(1, lead_time_days=5, on_hand=0.0)
    row = build_plan(lines, flat_model(lines, 0.0, 0.0), PolicyConfig()).iloc[0]
    assert row["urgency"] == "low" and not row["out_of_stock_now"]
    assert pd.isna(row["stockout_date"]) and row["sales_at_risk"] == 0
    assert row["reason"] == "Out of stock now; no sales expected, no order needed."


def test_an_empty_shelf_that_sells_under_a_unit_before_delivery_is_not_critical():
    # 0.05 a day x 5 days = a quarter of a unit over the lead time: order, but not critical.
    lines = make_lines(1, lead_time_days=5, on_hand=0.0)
    row = build_plan(lines, flat_model(lines, 0.05, 0.0), PolicyConfig()).iloc[0]
    assert row["reorder_point"] >= 1 and row["urgency"] == "high"
    assert row["out_of_stock_now"] and row["order_qty"] > 0


def test_stock_that_runs_out_before_the_lead_time_is_critical():
    # 10 a day: 20 on hand last 2 days; an order placed today needs 5 days.
    lines = make_lines(4, lead_time_days=[5, 1, 5, 5], on_hand=[20.0, 20.0, 20.0, 49.5])
    lines["on_order"] = [0.0, 0.0, 40.0, 0.0]
    plan = plan_levels(lines, flat_model(lines, 10.0, 0.0), PolicyConfig())
    assert plan["urgency"].tolist()[0] == "critical"          # loses 30 units
    assert plan["lead_time_shortfall"].iloc[0] == pytest.approx(30.0)
    assert plan["urgency"].iloc[1] != "critical"              # a 1-day lead time: in time
    assert plan["urgency"].iloc[2] != "critical"              # the open order covers it
    assert plan["urgency"].iloc[3] != "critical"              # half a unit short: not real
    assert plan["stockout_date"].iloc[0] == AS_OF + pd.Timedelta(days=3)


def test_a_stockout_in_the_past_is_out_of_stock_now_dated_today():
    # Data to 01-Oct, read on 11-Oct: a line whose 30 units lasted 3 days ran out on
    # 04-Oct, which has passed: it is out of stock now, dated today; the well-stocked line
    # keeps its future date.
    lines = make_lines(3, lead_time_days=5, on_hand=[30.0, 500.0, 0.0])
    today = (AS_OF + pd.Timedelta(days=10)).date()
    plan = build_plan(lines, flat_model(lines, 10.0, 1.0, horizon=60),
                      PolicyConfig(today=today))
    by_stock = plan.set_index("on_hand")
    assert by_stock.loc[30.0, "out_of_stock_now"]
    assert by_stock.loc[30.0, "stockout_date"] == pd.Timestamp(today)
    assert by_stock.loc[30.0, "reason"].startswith("Out of stock now (11-Oct)")
    assert not by_stock.loc[500.0, "out_of_stock_now"]
    assert by_stock.loc[500.0, "stockout_date"] == AS_OF + pd.Timedelta(days=51)
    assert (plan["stockout_date"].dropna() >= pd.Timestamp(today)).all()


def test_without_a_later_today_an_empty_shelf_is_dated_the_plan_day_not_the_last_data_day():
    lines = make_lines(1, lead_time_days=5, on_hand=0.0)
    row = plan_levels(lines, flat_model(lines, 10.0, 1.0), PolicyConfig()).iloc[0]
    assert row["out_of_stock_now"]
    assert row["stockout_date"] == row["plan_day"] == AS_OF + pd.Timedelta(days=1)


def test_sales_at_risk_is_the_unserved_demand_at_mrp():
    # Empty shelf, 10 a day, no forecast error: over 5 days lead + 7 days cycle 120 units
    # go unserved without an order, at MRP 70 = 8,400.
    lines = make_lines(2, lead_time_days=5, on_hand=[0.0, 1000.0])
    plan = plan_levels(lines, flat_model(lines, 10.0, 0.0), PolicyConfig())
    assert plan["at_risk_units"].tolist() == pytest.approx([120.0, 0.0])
    assert plan["sales_at_risk"].tolist() == pytest.approx([8400.0, 0.0])


def test_tiles_equal_the_sums_of_the_budget_plan_rows():
    lines = make_lines(30, seed=5, lead_time_days=6)
    lines["on_hand"] = np.r_[np.zeros(10), np.full(10, 30.0), np.full(10, 900.0)]
    plan = build_plan(lines, flat_model(lines, np.linspace(5, 30, 30), 3.0), PolicyConfig())
    policy = plan_tiles(plan)
    budget = 0.4 * policy["order_value"]
    funded = budget_plan(optimize_orders(plan, OptimizeConfig(budget=budget)))
    tiles = plan_tiles(funded)
    ordered = funded[funded["order_qty"] > 0]
    assert tiles["lines_to_order"] == len(ordered)
    assert tiles["units_to_order"] == pytest.approx(ordered["order_qty"].sum())
    assert tiles["order_value"] == pytest.approx((ordered["order_qty"]
                                                  * ordered["unit_cost"]).sum())
    assert tiles["order_value"] <= budget + 1e-6
    assert tiles["units_to_order"] < policy["units_to_order"]
    crit = funded["urgency"] == "critical"
    assert tiles["critical"] == crit.sum()
    assert tiles["critical_unordered"] == (crit & (funded["order_qty"] == 0)).sum()
    deferred = funded[(funded["policy_qty"] > 0) & (funded["order_qty"] == 0)]
    assert len(deferred) and (deferred["action"] == "deferred").all()
    assert deferred["reason"].str.contains("Budget: this order of").all()


def test_an_unsolved_budget_plan_is_an_error_not_an_empty_plan():
    from engine.inventory.demand import InventoryInputError

    lines = make_lines(3, lead_time_days=6, on_hand=0.0)
    plan = build_plan(lines, flat_model(lines, 10.0, 2.0), PolicyConfig())
    sol = optimize_orders(plan, OptimizeConfig(budget=1.0, must_order_critical=True))
    assert sol.status == "infeasible"
    with pytest.raises(InventoryInputError, match="cannot cover even the minimum orders"):
        budget_plan(sol)


def test_pin_risk_is_the_share_of_all_lines_not_of_the_urgent_ones():
    plan = pd.DataFrame({"pin_code": ["110001"] * 4 + ["110002"] * 2,
                         "sku_id": list("abcdef"), "city": "Delhi", "state": "Delhi",
                         "lat": 28.6, "lon": 77.2, "order_value": 100.0,
                         "urgency": ["critical", "low", "low", "low", "high", "low"]})
    risk = pin_risk(plan).set_index("pin_code")["risk"]
    assert risk["110001"] == pytest.approx(0.25) and risk["110002"] == pytest.approx(0.25)
