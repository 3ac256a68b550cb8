"""Every alert carries the rupees at stake, computed from the numbers behind it and said
how; alerts are ranked by it (ties: severity, then the newest)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.alerts import generate_alerts, list_alerts, rank_alerts
from engine.alerts_rules import details_json, shown_units, stake
from engine.inventory.planner import load_inputs
from engine.inventory.policy import PolicyConfig, plan_levels
from engine.warehouse import alerts as store
from tests.alerts_frames import AS_OF, build, mandi_frame, sales_frame


@pytest.fixture()
def planted(empty_warehouse):
    build(empty_warehouse, planted=True, with_forecast=False)
    generate_alerts(empty_warehouse, as_of=AS_OF.date())
    return empty_warehouse


def _one(df: pd.DataFrame, rule: str, entity: str | None = None) -> pd.Series:
    hit = df[(df["rule"] == rule) & ((df["entity"] == entity) if entity else True)]
    assert len(hit) == 1, (rule, entity, hit[["rule", "entity"]])
    return hit.iloc[0]


def _qty(sku: str, pin: str, days_back: int) -> float:
    sales = sales_frame(planted=True)
    day = (AS_OF - pd.Timedelta(days=days_back)).date()
    row = sales[(sales["sku_id"] == sku) & (sales["pin_code"] == pin) & (sales["date"] == day)]
    return float(row["quantity"].iloc[0])


def test_price_alerts_stake_the_money_lost_or_overcharged(planted):
    df = list_alerts(planted)
    below = _one(df, "price_below_cost")       # sold at 25 against a cost of 30
    assert below["at_stake"] == pytest.approx(5.0 * _qty("SKU-B", "560002", 1))
    assert below["at_stake_how"].startswith("Loss on sales below cost:")
    above = _one(df, "price_above_mrp")        # sold at 55 against an MRP of 50
    assert above["at_stake"] == pytest.approx(5.0 * _qty("SKU-A", "560002", 3))
    assert above["at_stake_how"].startswith("Overcharged to customers:")


def test_a_mandi_spike_stakes_the_rise_on_a_weeks_purchase(planted):
    prices = mandi_frame(planted=True)
    azadpur = prices[prices["market"] == "Azadpur"].set_index("date")["modal_price"]
    before = azadpur[[(AS_OF - pd.Timedelta(days=k)).date() for k in range(1, 8)]].mean()
    spike = _one(list_alerts(planted), "mandi_spike")
    assert spike["at_stake"] == pytest.approx(round((3000.0 - before) * 50, 2), abs=1)
    assert "x 50 qtl a week" in spike["at_stake_how"]


def test_a_demand_spike_stakes_the_revenue_gap_at_the_selling_price(planted):
    spike = _one(list_alerts(planted), "demand_anomaly", "SKU-A @ 560001")
    expected = json.loads(spike["details"])["expected"]
    assert spike["at_stake"] == pytest.approx(shown_units(90.0 - expected) * 45.0)
    assert "x ₹45.00 (average price)" in spike["at_stake_how"]


def test_a_stale_pin_stakes_its_usual_daily_sales_for_the_missing_days(planted):
    sales = sales_frame(planted=True)
    pin = sales[sales["pin_code"] == "560003"].assign(date=lambda f: pd.to_datetime(f["date"]))
    last = pin["date"].max()
    window = pin[pin["date"] > last - pd.Timedelta(days=28)]
    daily = float((window["quantity"] * window["price"]).sum()) / 28
    stale = _one(list_alerts(planted), "data_freshness", "PIN 560003")
    assert stale["at_stake"] == pytest.approx(round(daily, 2) * 10, abs=1)
    assert "x 10 days without data" in stale["at_stake_how"]


def test_a_stockout_stakes_the_unserved_demand_at_mrp(planted):
    alert = _one(list_alerts(planted), "stock_reorder")
    inputs = load_inputs(planted)
    plan = plan_levels(inputs.lines, inputs.model, PolicyConfig(today=AS_OF.date()))
    line = plan[(plan["sku_id"] == "SKU-A") & (plan["pin_code"] == "560001")].iloc[0]
    # the empty shelf sells ~21 a day: about 14 days (7 lead + 7 cycle) of it go unserved
    assert 14 * 15 < line["at_risk_units"] < 14 * 30
    assert alert["at_stake"] == pytest.approx(shown_units(line["at_risk_units"]) * 50.0)
    assert "(MRP)" in alert["at_stake_how"] and "next 14 days" in alert["at_stake_how"]


def test_alerts_are_listed_most_rupees_first(planted):
    df = list_alerts(planted)
    assert len(df) >= 6 and df["at_stake"].notna().all()
    assert df["at_stake"].is_monotonic_decreasing


def _alert(entity: str, severity: str, day: str, value) -> dict:
    return dict(rule="demand_anomaly", severity=severity, entity=entity, day=pd.Timestamp(day),
                reason=f"planted {entity}",
                details=details_json("Forecast", {}, None, None,
                                     **stake(value, "planted")))


def test_ties_are_broken_by_severity_then_the_newest_and_unestimated_come_last(
        empty_warehouse):
    planted = pd.DataFrame([
        _alert("a", "medium", "2025-11-20", 1000), _alert("b", "critical", "2025-11-19", 1000),
        _alert("c", "critical", "2025-11-20", 1000), _alert("d", "low", "2025-11-01", 5000),
        _alert("e", "critical", "2025-11-21", None)])
    store.insert_alerts(empty_warehouse, planted, "test", {})
    assert list_alerts(empty_warehouse)["entity"].tolist() == ["d", "c", "b", "a", "e"]
    # the same order from the pure ranking, whatever order the rows come in
    shuffled = list_alerts(empty_warehouse).sample(frac=1.0, random_state=3)
    assert rank_alerts(shuffled)["entity"].tolist() == ["d", "c", "b", "a", "e"]


def test_an_alert_stored_before_estimates_gets_one_when_found_again(empty_warehouse):
    old = pd.DataFrame([dict(rule="demand_anomaly", severity="high", entity="x",
                             day=pd.Timestamp("2025-11-20"), reason="old",
                             details=json.dumps({"page": None, "pin_code": None}))])
    store.insert_alerts(empty_warehouse, old, "test", {})
    alert_id = list_alerts(empty_warehouse)["alert_id"].iloc[0]
    from engine.alerts import acknowledge
    acknowledge(empty_warehouse, alert_id, "asha")
    again = old.assign(details=details_json(None, {}, None, None, **stake(750, "planted")))
    assert store.insert_alerts(empty_warehouse, again, "test", {}) == 0
    row = list_alerts(empty_warehouse).iloc[0]
    assert row["alert_id"] == alert_id and row["status"] == "acknowledged"
    assert row["at_stake"] == 750 and row["at_stake_how"] == "planted"
    assert np.isfinite(row["at_stake"])
