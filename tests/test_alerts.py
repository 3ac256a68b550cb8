"""Alert rules fire on planted cases and stay quiet on clean ones; dedup; lifecycle; audit."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.alerts import (AlertConfigError, AlertError, acknowledge, audit_trail,
                           generate_alerts, get_rules, list_alerts, resolve, rule_configs,
                           update_rule)
from tests.alerts_frames import AS_OF, build


@pytest.fixture()
def planted(empty_warehouse):
    build(empty_warehouse, planted=True)
    return empty_warehouse


@pytest.fixture()
def clean(empty_warehouse):
    build(empty_warehouse, planted=False)
    return empty_warehouse


def _fired(wh, rule):
    df = list_alerts(wh, rule=rule)
    return df


def test_generation_runs_every_rule_on_crafted_data(planted):
    res = generate_alerts(planted, as_of=AS_OF.date())
    assert res.failed == {}
    assert res.skipped == {}
    assert set(res.found) == set(rule_configs(planted))


def test_demand_anomaly_flags_planted_spike_and_drop_only(planted):
    generate_alerts(planted, as_of=AS_OF.date(), rules=["demand_anomaly"])
    df = _fired(planted, "demand_anomaly")
    kinds = {(r.entity, json.loads(r.details)["kind"]) for r in df.itertuples()}
    assert ("SKU-A @ 560001", "spike") in kinds
    assert ("SKU-C @ 560001", "drop") in kinds
    assert not df["entity"].eq("SKU-B @ 560001").any()
    spike = df[df["entity"] == "SKU-A @ 560001"].iloc[0]
    assert str(spike["day"].date()) == str((AS_OF - pd.Timedelta(days=1)).date())
    assert "Amul Taaza 1L" in spike["reason"] and "usual level" in spike["reason"]
    assert spike["link"] == "/Forecast?sku_id=SKU-A&pin_code=560001"


def test_demand_anomaly_quiet_on_clean_data(clean):
    generate_alerts(clean, as_of=AS_OF.date(), rules=["demand_anomaly"])
    assert _fired(clean, "demand_anomaly").empty


def test_price_rules_flag_above_mrp_and_below_cost(planted):
    generate_alerts(planted, as_of=AS_OF.date(), rules=["price_above_mrp", "price_below_cost"])
    above = _fired(planted, "price_above_mrp")
    below = _fired(planted, "price_below_cost")
    assert above["entity"].tolist() == ["SKU-A @ 560002"]
    assert "₹55.00" in above["reason"].iloc[0] and "MRP of ₹50.00" in above["reason"].iloc[0]
    assert above["severity"].iloc[0] == "high"
    assert below["entity"].tolist() == ["SKU-B @ 560002"]
    assert "unit cost of ₹30.00" in below["reason"].iloc[0]


def test_price_rules_quiet_on_clean_data(clean):
    res = generate_alerts(clean, as_of=AS_OF.date(),
                          rules=["price_above_mrp", "price_below_cost"])
    assert res.found == {"price_above_mrp": 0, "price_below_cost": 0}


def test_data_freshness_flags_stale_pin_and_old_warehouse(planted):
    generate_alerts(planted, as_of=AS_OF.date(), rules=["data_freshness"])
    df = _fired(planted, "data_freshness")
    assert df["entity"].tolist() == ["PIN 560003"]
    assert "10 days behind" in df["reason"].iloc[0]
    # judged against a later 'today', the whole warehouse is stale too
    later = (AS_OF + pd.Timedelta(days=30)).date()
    generate_alerts(planted, as_of=later, rules=["data_freshness"])
    assert "All PINs" in set(_fired(planted, "data_freshness")["entity"])


def test_data_freshness_quiet_on_clean_data(clean):
    res = generate_alerts(clean, as_of=AS_OF.date(), rules=["data_freshness"])
    assert res.found == {"data_freshness": 0}


def test_mandi_spike_flags_planted_market_only(planted):
    generate_alerts(planted, as_of=AS_OF.date(), rules=["mandi_spike"])
    df = _fired(planted, "mandi_spike")
    assert df["entity"].tolist() == ["Azadpur / onion"]
    assert "above its 7-day average" in df["reason"].iloc[0]
    assert df["link"].iloc[0].startswith("/Sourcing?commodity=Onion")


def test_mandi_spike_quiet_on_clean_data(clean):
    res = generate_alerts(clean, as_of=AS_OF.date(), rules=["mandi_spike"])
    assert res.found == {"mandi_spike": 0}


def test_forecast_rules_flag_missed_series_only(planted):
    generate_alerts(planted, as_of=AS_OF.date(),
                    rules=["forecast_deviation", "forecast_accuracy"])
    dev = _fired(planted, "forecast_deviation")
    acc = _fired(planted, "forecast_accuracy")
    assert dev["entity"].tolist() == ["SKU-D @ 560001"]
    assert "below the forecast" in dev["reason"].iloc[0]
    assert acc["entity"].tolist() == ["SKU-D @ 560001"]
    assert "backtest WAPE of 20%" in acc["reason"].iloc[0]


def test_forecast_rules_quiet_on_clean_data(clean):
    res = generate_alerts(clean, as_of=AS_OF.date(),
                          rules=["forecast_deviation", "forecast_accuracy"])
    assert res.found == {"forecast_deviation": 0, "forecast_accuracy": 0}


def test_forecast_rules_skip_without_a_forecast_run(empty_warehouse):
    build(empty_warehouse, planted=True, with_forecast=False)
    res = generate_alerts(empty_warehouse, as_of=AS_OF.date(),
                          rules=["forecast_deviation", "forecast_accuracy"])
    assert res.skipped == {"forecast_deviation": "no forecast run yet",
                           "forecast_accuracy": "no forecast run yet"}


def test_stock_rule_flags_empty_shelf_only(empty_warehouse):
    build(empty_warehouse, planted=True, with_forecast=False)
    generate_alerts(empty_warehouse, as_of=AS_OF.date(), rules=["stock_reorder"])
    df = _fired(empty_warehouse, "stock_reorder")
    assert df["entity"].tolist() == ["SKU-A @ 560001"]
    assert df["severity"].iloc[0] == "critical"        # runs out within the lead time
    assert df["link"].iloc[0] == "/Reorder?sku_id=SKU-A&pin_code=560001"


def test_stock_rule_quiet_on_clean_data(empty_warehouse):
    build(empty_warehouse, planted=False, with_forecast=False)
    res = generate_alerts(empty_warehouse, as_of=AS_OF.date(), rules=["stock_reorder"])
    assert res.found == {"stock_reorder": 0}


def test_empty_warehouse_skips_with_reasons(empty_warehouse):
    res = generate_alerts(empty_warehouse)
    assert res.failed == {}
    assert res.total_found == 0
    assert res.skipped["demand_anomaly"] == "no sales in the warehouse yet"
    assert "inventory" in res.skipped["stock_reorder"]
    assert res.skipped["mandi_spike"] == "no mandi prices in the warehouse yet"


def test_regeneration_does_not_duplicate_or_reset_status(planted):
    first = generate_alerts(planted, as_of=AS_OF.date())
    n = len(list_alerts(planted))
    assert first.total_inserted == n > 0
    one = list_alerts(planted, rule="mandi_spike")["alert_id"].iloc[0]
    acknowledge(planted, one, "asha")
    again = generate_alerts(planted, as_of=AS_OF.date())
    assert again.total_found == first.total_found and again.total_inserted == 0
    after = list_alerts(planted)
    assert len(after) == n
    assert after.set_index("alert_id").loc[one, "status"] == "acknowledged"


def test_acknowledge_and_resolve_are_audited(planted):
    generate_alerts(planted, as_of=AS_OF.date(), rules=["mandi_spike", "price_above_mrp"])
    ids = list_alerts(planted)["alert_id"].tolist()
    assert acknowledge(planted, ids[0], "asha") == 1
    row = list_alerts(planted).set_index("alert_id").loc[ids[0]]
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "asha"
    assert row["acknowledged_at"] is not None
    assert resolve(planted, ids, "ravi") == 2
    assert set(list_alerts(planted)["status"]) == {"resolved"}
    audit = audit_trail(planted)
    acks = audit[audit["action"] == "alert_acknowledged"]
    assert acks["actor"].tolist() == ["asha"]
    assert json.loads(acks["details"].iloc[0])["alert_id"] == ids[0]
    assert (audit["action"] == "alert_resolved").sum() == 2
    with pytest.raises(AlertError, match="already resolved"):
        acknowledge(planted, ids[0], "asha")
    with pytest.raises(AlertError, match="does not exist"):
        resolve(planted, ["al_nope"], "asha")


def test_rule_config_change_is_stored_validated_and_audited(planted):
    update_rule(planted, "mandi_spike", True, "critical", {"threshold_pct": 80}, "meera")
    rules = get_rules(planted).set_index("rule")
    assert rules.loc["mandi_spike", "severity"] == "critical"
    assert rules.loc["mandi_spike", "params"]["threshold_pct"] == 80
    assert rules.loc["mandi_spike", "updated_by"] == "meera"
    audit = audit_trail(planted)
    change = audit[audit["action"] == "alert_rule_changed"]
    assert change["actor"].tolist() == ["meera"]
    assert json.loads(change["details"].iloc[0])["before"]["params"]["threshold_pct"] == 25
    # the planted +50% spike is below the new 80% threshold
    res = generate_alerts(planted, as_of=AS_OF.date(), rules=["mandi_spike"])
    assert res.found == {"mandi_spike": 0}
    with pytest.raises(AlertConfigError, match="between 1 and 500"):
        update_rule(planted, "mandi_spike", True, "high", {"threshold_pct": 0}, "meera")
    with pytest.raises(AlertConfigError, match="no setting 'bogus'"):
        update_rule(planted, "mandi_spike", True, "high", {"bogus": 1}, "meera")


def test_disabled_rule_is_skipped(planted):
    update_rule(planted, "price_above_mrp", False, "high", {}, "meera")
    res = generate_alerts(planted, as_of=AS_OF.date(), rules=["price_above_mrp"])
    assert res.skipped == {"price_above_mrp": "disabled"}


def test_pin_scope_keeps_own_pins_and_unpinned_alerts(planted):
    generate_alerts(planted, as_of=AS_OF.date(),
                    rules=["price_above_mrp", "price_below_cost", "mandi_spike"])
    scoped = list_alerts(planted, pin_scope=("560001",))
    assert set(scoped["entity"]) == {"Azadpur / onion"}
    scoped = list_alerts(planted, pin_scope=("560002",))
    assert set(scoped["entity"]) == {"Azadpur / onion", "SKU-A @ 560002", "SKU-B @ 560002"}


def test_competitor_undercut_fires_on_planted_cut(planted):
    generate_alerts(planted, as_of=AS_OF.date(), rules=["competitor_undercut"])
    df = _fired(planted, "competitor_undercut")
    assert "SKU-C @ 560001" in set(df["entity"])
    row = df[df["entity"] == "SKU-C @ 560001"].iloc[0]
    assert "DMart sells Tata Salt 1 kg (SKU-C) at ₹30.00" in row["reason"]
    assert row["at_stake"] > 0 and row["link"] == "/Pricing?sku_id=SKU-C"


def test_competitor_undercut_quiet_on_a_small_gap(clean):
    res = generate_alerts(clean, as_of=AS_OF.date(), rules=["competitor_undercut"])
    assert res.found == {"competitor_undercut": 0}
