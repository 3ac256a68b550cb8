"""Reorder policy on small seeded frames: monotonicity, MOQ / case packs, urgency, reasons,
overstock, expiry and promotion suggestions, and the error models."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.inventory.advice import build_plan
from engine.inventory.demand import (DemandModel, InventoryInputError, demand_from_forecast,
                                     demand_from_sales)
from engine.inventory.policy import PolicyConfig, plan_levels

AS_OF = pd.Timestamp("2026-10-01")


def make_lines(n: int = 40, seed: int = 3, **overrides) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lines = pd.DataFrame({
        "sku_id": [f"SW-{i % 8:04d}" for i in range(n)],
        "pin_code": [f"{110001 + i}" for i in range(n)],
        "on_hand": rng.integers(0, 200, n).astype(float), "on_order": 0.0,
        "lead_time_days": rng.integers(2, 10, n), "moq": 12, "case_pack": 6,
        "unit_cost": 50.0, "mrp": 70.0, "unit_volume_l": 0.5, "shelf_life_days": np.nan,
        "category": "Sweets", "state": "Delhi", "city": "Delhi", "name": "Kaju katli",
        "supplier": "Haldiram", "lat": 28.6, "lon": 77.2})
    for col, val in overrides.items():
        lines[col] = val
    return lines


def flat_model(lines: pd.DataFrame, daily, sigma, horizon: int = 28) -> DemandModel:
    daily = np.broadcast_to(np.asarray(daily, float), (len(lines),))
    sigma = np.broadcast_to(np.asarray(sigma, float), (len(lines),))
    dates = AS_OF + pd.to_timedelta(np.arange(1, horizon + 1), unit="D")
    path = pd.DataFrame({"sku_id": np.repeat(lines["sku_id"].to_numpy(), horizon),
                         "pin_code": np.repeat(lines["pin_code"].to_numpy(), horizon),
                         "date": np.tile(dates.to_numpy(), len(lines)),
                         "forecast": np.repeat(daily, horizon)})
    sig = lines[["sku_id", "pin_code"]].assign(sigma_daily=sigma, error_source="test")
    return DemandModel(path=path, sigma=sig, source="forecast", label="test", as_of=AS_OF.date())


def test_higher_service_level_never_lowers_safety_stock():
    lines = make_lines()
    model = flat_model(lines, np.linspace(0.5, 30, len(lines)), np.linspace(0.3, 12, len(lines)))
    previous = None
    for sl in (0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995):
        ss = plan_levels(lines, model, PolicyConfig(service_level=sl))["safety_stock"].to_numpy()
        if previous is not None:
            assert (ss >= previous).all()
        previous = ss
    assert previous.max() > 0


def test_longer_lead_time_never_lowers_reorder_point():
    lines = make_lines()
    model = flat_model(lines, np.linspace(0.5, 30, len(lines)), np.linspace(0.3, 12, len(lines)))
    previous = None
    for change in range(0, 8):
        rop = plan_levels(lines, model, PolicyConfig(lead_time_change_days=change))[
            "reorder_point"].to_numpy()
        if previous is not None:
            assert (rop >= previous).all()
        previous = rop


def test_safety_stock_grows_with_forecast_error():
    lines = make_lines()
    calm = plan_levels(lines, flat_model(lines, 10, 1.0), PolicyConfig())["safety_stock"]
    wild = plan_levels(lines, flat_model(lines, 10, 6.0), PolicyConfig())["safety_stock"]
    assert (wild >= calm).all() and wild.sum() > calm.sum()


def test_every_policy_order_respects_moq_and_case_pack():
    lines = make_lines(moq=30, case_pack=12)
    plan = plan_levels(lines, flat_model(lines, 8, 3), PolicyConfig())
    ordered = plan[plan["order_qty"] > 0]
    assert len(ordered) > 0
    assert (ordered["order_qty"] % 12 == 0).all() and (ordered["order_qty"] >= 30).all()


def test_cover_shorter_than_lead_time_is_critical_and_well_stocked_is_low():
    lines = make_lines(2, lead_time_days=5)
    lines["on_hand"] = [4.0, 400.0]
    plan = build_plan(lines, flat_model(lines, 10, 2), PolicyConfig())
    urgency = dict(zip(plan["on_hand"], plan["urgency"]))
    assert urgency[4.0] == "critical" and urgency[400.0] == "low"
    crit = plan[plan["on_hand"] == 4.0].iloc[0]
    assert crit["order_qty"] > 0
    assert crit["stockout_date"] == AS_OF + pd.Timedelta(days=1)
    assert "less than the 5-day lead time" in crit["reason"]


def test_reason_names_reorder_point_and_upcoming_festival():
    lines = make_lines(1, lead_time_days=7, on_hand=80.0)
    calendar = pd.DataFrame({"name": ["Diwali"], "date": [AS_OF + pd.Timedelta(days=6)],
                             "festival_type": ["national"], "states": ["ALL"],
                             "pre_days": [10], "post_days": [2], "source": ["test"]})
    effects = pd.DataFrame({"name": ["Diwali"], "category": ["Sweets"], "multiplier": [2.4]})
    plan = build_plan(lines, flat_model(lines, 10, 8), PolicyConfig(),
                      festivals=(calendar, effects))
    row = plan.iloc[0]
    assert row["urgency"] == "high"
    assert (f"On hand 80: at or below the reorder level of {int(row['reorder_point'])} "
            f"(expected sales of 70 over the 7-day lead time + safety stock of "
            f"{int(row['safety_stock'])})") in row["reason"]
    assert "Diwali in 6 days lifts demand 2.4x" in row["reason"]
    assert row["promo"] == "bundle"


def test_overstock_is_redistributed_to_a_short_pin_of_the_same_sku():
    lines = make_lines(2, sku_id="SW-0001", lead_time_days=4)
    lines["on_hand"] = [2000.0, 0.0]
    plan = build_plan(lines, flat_model(lines, 10, 2), PolicyConfig())
    donor = plan[plan["on_hand"] == 2000.0].iloc[0]
    short = plan[plan["on_hand"] == 0.0].iloc[0]
    assert donor["action"] == "redistribute"
    assert short["pin_code"] in donor["transfer_to"]
    assert donor["overstock_units"] > 0


def test_perishable_stock_beyond_shelf_life_is_flagged():
    lines = make_lines(1, on_hand=300.0, shelf_life_days=10)
    plan = build_plan(lines, flat_model(lines, 10, 2), PolicyConfig())
    row = plan.iloc[0]
    assert row["expiry_units"] == pytest.approx(200.0)
    assert "risk expiring" in row["reason"]


def test_declining_sales_with_high_cover_suggest_discount_sized_by_elasticity():
    lines = make_lines(1, on_hand=500.0)
    trend = lines[["sku_id", "pin_code"]].assign(trend=0.6)
    el = pd.DataFrame({"sku_id": [lines.loc[0, "sku_id"]], "elasticity": [-2.0]})
    plan = build_plan(lines, flat_model(lines, 5, 1), PolicyConfig(), trend=trend,
                      elasticities=el)
    row = plan.iloc[0]
    assert row["promo"] == "discount" and row["action"] == "promote"
    lift = 0.9 ** -2.0 - 1
    assert f"{lift:+.0%}" in row["promo_impact"]


def test_forecast_error_model_uses_backtest_residuals_when_enough():
    lines = make_lines(2)
    fc = flat_model(lines, 10, 0).path.assign(lo=5.0, hi=15.0)
    rng = np.random.default_rng(0)
    res = pd.DataFrame({"sku_id": lines.loc[0, "sku_id"], "pin_code": lines.loc[0, "pin_code"],
                        "forecast": 10.0, "actual": 10.0 + rng.choice([-4.0, 4.0], 60)})
    model = demand_from_forecast(fc, res)
    sig = model.sigma.set_index("pin_code")
    assert sig.loc[lines.loc[0, "pin_code"], "sigma_daily"] == pytest.approx(4.0)
    assert sig.loc[lines.loc[0, "pin_code"], "error_source"] == "backtest residuals"
    assert sig.loc[lines.loc[1, "pin_code"], "sigma_daily"] == pytest.approx(10 / (2 * 1.959964), 1e-4)
    assert sig.loc[lines.loc[1, "pin_code"], "error_source"] == "forecast interval"


def test_empirical_fallback_uses_day_of_week_means_and_says_so():
    lines = make_lines(1)
    days = pd.date_range(end=AS_OF, periods=56, freq="D")
    qty = np.where(days.dayofweek == 6, 30.0, 10.0)   # Sundays sell 3x
    sales = pd.DataFrame({"sku_id": lines.loc[0, "sku_id"], "pin_code": lines.loc[0, "pin_code"],
                          "date": days, "quantity": qty})
    model = demand_from_sales(sales, lines, as_of=AS_OF, horizon=14)
    assert "No forecast run" in model.label and model.source == "empirical"
    by_dow = model.path.groupby(pd.to_datetime(model.path["date"]).dt.dayofweek)["forecast"].mean()
    assert by_dow[6] == pytest.approx(30.0) and by_dow[2] == pytest.approx(10.0)
    assert model.sigma["sigma_daily"].iloc[0] == pytest.approx(0.0)


def test_service_level_outside_range_is_a_clear_error():
    lines = make_lines(1)
    with pytest.raises(InventoryInputError, match="Service level must be between"):
        plan_levels(lines, flat_model(lines, 5, 1), PolicyConfig(service_level=1.2))


def test_reason_for_an_empty_shelf_says_out_of_stock_not_zero_days_of_cover():
    lines = make_lines(1, lead_time_days=5)
    lines["on_hand"] = [0.0]
    lines["on_order"] = [0.0]
    row = build_plan(lines, flat_model(lines, 10, 2), PolicyConfig()).iloc[0]
    assert row["urgency"] == "critical"
    assert row["reason"].startswith("Out of stock now (02-Oct) with nothing on order; an "
                                    "order takes 5 days to arrive, so about 50 units of sales "
                                    "will be lost before an order placed today arrives; "
                                    "order ")
    assert "0.0 days" not in row["reason"] and "covers" not in row["reason"]
