"""The live_drift alert rule: sales that arrive far from a stored run's forecast at one PIN
code raise one alert there (reason, rupees at stake, PIN scope, acknowledge), sales that
match the forecast raise none; the per-PIN scores match a recomputation from the raw
tables."""
from __future__ import annotations

import pytest

from engine import alerts
from engine.forecast import live
from engine.ingest.events import EventIngestor
from engine.warehouse import accuracy
from engine.warehouse.db import Warehouse
from tests.events_frames import ndjson, planted_events
from tests.forecast_page_frames import copy_warehouse
from tests.live_frames import run_copy


@pytest.fixture()
def wh(small_warehouse_path, tmp_path):
    handle = Warehouse(copy_warehouse(run_copy(str(small_warehouse_path)), tmp_path / "d.duckdb"))
    yield handle
    handle.close()


def _drifts(wh):
    return alerts.list_alerts(wh, rule="live_drift")


def test_events_far_off_the_forecast_at_one_pin_raise_one_drift_alert_there(wh):
    pins = sorted(wh.query("SELECT DISTINCT pin_code FROM forecasts")["pin_code"])
    bad_pin = pins[0]
    events, week = planted_events(wh, days=7, factor={bad_pin: 3.0})
    ing = EventIngestor(wh, max_wait_ms=0, score_after_s=3600)
    res = ing.ingest(ndjson(events))
    assert res.loaded == len(events)
    out = ing.score_now()             # what the debounce timer runs
    ing.close()
    assert out["rescored"] >= 1 and out["alerts"]["found"]["live_drift"] == 1
    found = _drifts(wh)
    assert len(found) == 1
    alert = found.iloc[0]
    assert alert["pin_code"] == bad_pin and alert["severity"] == "high"
    # actual = 3 x forecast -> live WAPE 66.7% (forecast too low by two thirds)
    assert "off by 67%" in alert["reason"] and "67% too low" in alert["reason"]
    assert f"PIN {bad_pin}" in alert["reason"] and "backtest promised" in alert["reason"]
    at = week[week["pin_code"] == bad_pin]
    actual = float(at["quantity"].sum())
    assert alert["at_stake"] > 0 and "missed beyond the backtest" in alert["at_stake_how"]
    # the per-PIN live scores are the raw tables' numbers
    run = live.drift_run(wh, 3)
    scores = accuracy.pin_scores(wh, run["run_id"], run["through"]).set_index("pin_code")
    points = accuracy.live_points(wh, [run["run_id"]], run["through"])
    mine = points[points["pin_code"] == bad_pin]
    assert scores.loc[bad_pin, "actual_sum"] == pytest.approx(actual)
    assert scores.loc[bad_pin, "wape"] == pytest.approx(
        100 * (mine["actual"] - mine["forecast"]).abs().sum() / mine["actual"].sum())
    assert scores.loc[bad_pin, "error_value"] == pytest.approx(
        ((mine["actual"] - mine["forecast"]).abs() * mine["price"]).sum())
    assert scores.drop(index=bad_pin)["wape"].fillna(0).max() < 1e-3   # units rounded to 1e-6
    # PIN scope: another PIN's reader does not see it; the alert can be acknowledged
    other = [p for p in pins if p != bad_pin][0]
    assert alerts.list_alerts(wh, rule="live_drift", pin_scope=(other,)).empty
    assert alerts.acknowledge(wh, [alert["alert_id"]], "asha") == 1
    # checking again raises nothing new and keeps the acknowledgement
    again = alerts.generate_alerts(wh, rules=["live_drift"])
    assert again.inserted == {"live_drift": 0}
    assert _drifts(wh).iloc[0]["status"] == "acknowledged"


def test_sales_that_match_the_forecast_raise_no_drift_alert(wh):
    events, _ = planted_events(wh, days=7)
    ing = EventIngestor(wh, max_wait_ms=0, score_after_s=3600)
    ing.ingest(ndjson(events))
    out = ing.score_now()
    ing.close()
    assert out["alerts"]["found"] == {"live_drift": 0}
    assert _drifts(wh).empty


def test_drift_rule_waits_for_enough_periods_of_actuals(wh):
    pins = sorted(wh.query("SELECT DISTINCT pin_code FROM forecasts")["pin_code"])
    events, _ = planted_events(wh, days=2, factor={pins[0]: 3.0})
    ing = EventIngestor(wh, max_wait_ms=0, score_after_s=3600)
    ing.ingest(ndjson(events))
    out = ing.score_now()
    ing.close()
    assert "periods of actual sales" in out["alerts"]["skipped"]["live_drift"]


def test_drift_thresholds_come_from_the_drift_settings(wh, monkeypatch):
    pins = sorted(wh.query("SELECT DISTINCT pin_code FROM forecasts")["pin_code"])
    events, _ = planted_events(wh, days=7, factor={pins[0]: 3.0})
    monkeypatch.setenv("MICROPULSE_DRIFT_MIN_POINTS", "90")   # 67% live WAPE is not 90 above
    ing = EventIngestor(wh, max_wait_ms=0, score_after_s=3600)
    ing.ingest(ndjson(events))
    out = ing.score_now()
    ing.close()
    assert out["alerts"]["found"] == {"live_drift": 0}
