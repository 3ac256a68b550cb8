"""Weekly uploads are checked as weekly: anomalies per week with a yearly pattern, never an
alert on a day the data does not have, freshness in weeks (and none for a historical
load), forecasts compared week with week."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.alerts import generate_alerts, list_alerts, update_rule
from engine.alerts_anomaly import demand_anomalies
from engine.alerts_detect import data_freshness, historical_load
from engine.alerts_rules import RULES, RuleConfig
from engine.warehouse.grain import grain_of_dates, periods_for, periods_text
from tests import weekly_frames as wf
from tests.alerts_frames import put


def _cfg(rule: str, **params) -> RuleConfig:
    return RuleConfig(rule, True, RULES[rule].severity, {**RULES[rule].defaults(), **params})


def _names() -> pd.DataFrame:
    return pd.DataFrame({"sku_id": wf.SKUS, "name": [f"Item {s}" for s in wf.SKUS],
                         "category": [wf.CATEGORY[s] for s in wf.SKUS]})


def _frame(**kw) -> pd.DataFrame:
    s = wf.weekly_sales(**kw)
    return s.assign(date=pd.to_datetime(s["date"]))


def test_grain_of_dates_tells_weekly_from_daily():
    assert grain_of_dates(wf.WEEKS) == "W"
    assert grain_of_dates(pd.date_range("2025-01-01", periods=30)) == "D"
    assert grain_of_dates(wf.WEEKS[::2]) == "D"              # fortnightly is not weekly
    assert grain_of_dates(wf.WEEKS[:1]) == "D"
    assert periods_for(7, "W") == 1 and periods_for(28, "W") == 4 and periods_for(10, "W") == 2
    assert periods_text(1, "W") == "1 week" and periods_text(3, "D") == "3 days"


def test_planted_weekly_spike_gives_exactly_one_anomaly_on_that_week():
    sales = _frame(spike=True)
    found = demand_anomalies(sales, _cfg("demand_anomaly", lookback_days=28), wf.AS_OF,
                             _names(), "W")
    planted = found[found["entity"] == "WK-03 @ 560007"]
    assert len(planted) == 1
    assert planted["day"].iloc[0] == wf.SPIKE_WEEK
    assert "in the week of 05-Nov" in planted["reason"].iloc[0]
    assert json.loads(planted["details"].iloc[0])["kind"] == "spike"


def test_ordinary_weekly_panel_flags_under_one_percent_of_series():
    sales = _frame()
    cfg = _cfg("demand_anomaly")
    n_series = len(wf.SKUS) * len(wf.PINS)
    shares = []
    for k in range(8):                                     # eight ordinary weeks (Jul-Nov)
        week = wf.AS_OF - pd.Timedelta(days=7 * k)
        found = demand_anomalies(sales[sales["date"] <= week], cfg, week, _names(), "W")
        assert set(found["day"]) <= {week}                 # only the checked week
        shares.append(found["entity"].nunique() / n_series)
    assert np.mean(shares) < 0.01 and shares[0] < 0.01


def test_christmas_is_expected_once_two_years_show_it():
    weeks = pd.date_range(end="2025-12-17", periods=170, freq="7D")   # three Christmases
    sales = _frame(weeks=weeks)
    n_series = len(wf.SKUS) * len(wf.PINS)

    def flagged(week):
        week = pd.Timestamp(week)
        return demand_anomalies(sales[sales["date"] <= week], _cfg("demand_anomaly"), week,
                                _names(), "W")

    first = flagged("2023-12-20")            # one earlier Christmas: no yearly term yet
    assert first["entity"].str.startswith(("WK-00", "WK-01", "WK-02", "WK-03", "WK-04",
                                           "WK-05")).sum() >= 5
    later = flagged("2025-12-17")            # the last two years agree: Christmas expected
    assert len(later) / n_series < 0.01


def test_promotion_weeks_and_silent_pins_are_not_anomalies():
    sales = _frame()
    last = sales["date"] == wf.AS_OF
    sales.loc[last & (sales["sku_id"] == "WK-05"), ["quantity", "promo"]] = [500.0, True]
    sales = sales[~(last & (sales["pin_code"] == "560011"))]            # PIN 560011 silent
    found = demand_anomalies(sales, _cfg("demand_anomaly"), wf.AS_OF, _names(), "W")
    assert not found["entity"].str.startswith("WK-05 @").any()
    assert not found["entity"].str.endswith("@ 560011").any()


def test_a_delisted_item_is_flagged_once_on_its_first_zero_week():
    sales = _frame()
    gone = wf.AS_OF - pd.Timedelta(days=14)
    stop = (sales["sku_id"] == "WK-02") & (sales["pin_code"] == "560004") & \
        (sales["date"] >= gone)
    sales = sales[~stop]                       # the PIN keeps reporting other items
    found = demand_anomalies(sales, _cfg("demand_anomaly", lookback_days=28), wf.AS_OF,
                             _names(), "W")
    drops = found[found["entity"] == "WK-02 @ 560004"]
    assert drops["day"].tolist() == [gone]
    assert "100% below the usual level in the week of" in drops["reason"].iloc[0]


def test_no_alert_is_dated_on_a_day_the_weekly_data_does_not_have(empty_warehouse):
    wh = empty_warehouse
    wf.build(wh, spike=True, stale=True)
    _weekly_forecast_run(wh)
    update_rule(wh, "demand_anomaly", True, "medium", {"lookback_days": 28}, "test")
    saturday = wf.AS_OF + pd.Timedelta(days=3)
    res = generate_alerts(wh, as_of=saturday.date())
    assert res.failed == {} and res.as_of == wf.AS_OF.date()
    alerts = list_alerts(wh)
    assert {"demand_anomaly", "data_freshness", "forecast_deviation"} <= set(alerts["rule"])
    assert set(pd.to_datetime(alerts["day"])) <= set(wf.WEEKS)
    assert not alerts["reason"].str.contains(r"\bdays?\b").any()


def test_freshness_is_phrased_in_weeks(empty_warehouse):
    wh = empty_warehouse
    wf.build(wh, stale=True)
    generate_alerts(wh, as_of=wf.AS_OF.date(), rules=["data_freshness"])
    stale = list_alerts(wh, rule="data_freshness")
    assert stale["entity"].tolist() == ["PIN 560020"]
    assert stale["reason"].iloc[0] == (
        "No sales uploaded for PIN 560020 (Bengaluru) since the week of 22-Oct: 4 weeks "
        "behind the newest sales in the warehouse (the week of 19-Nov).")
    # two weeks of silence is one week short of the default three
    later = wf.AS_OF + pd.Timedelta(days=25)
    generate_alerts(wh, as_of=later.date(), rules=["data_freshness"])
    whole = list_alerts(wh, rule="data_freshness")
    whole = whole[whole["entity"] == "All PINs"]
    assert len(whole) == 1 and pd.Timestamp(whole["day"].iloc[0]) == wf.AS_OF
    assert "for the week of 19-Nov, 3 weeks before 14-Dec" in whole["reason"].iloc[0]


def _uploaded_long_after(wh) -> pd.Timestamp:
    """Record the sales as one upload made 400 days after their newest week (a historical
    load); returns when."""
    uploaded = wf.AS_OF + pd.Timedelta(days=400)
    put(wh, "ingest_batches", pd.DataFrame({
        "batch_id": ["b_hist"], "kind": ["sales"], "file_name": ["old.csv"],
        "grain": ["weekly"], "status": ["loaded"], "created_at": [uploaded],
        "report": [json.dumps({"date_min": str(wf.WEEKS[0].date()),
                               "date_max": str(wf.AS_OF.date())})]}))
    return uploaded


def test_a_deliberately_historical_upload_raises_no_stale_data_alert(empty_warehouse):
    wh = empty_warehouse
    wf.build(wh)
    uploaded = _uploaded_long_after(wh)
    res = generate_alerts(wh, as_of=(uploaded + pd.Timedelta(days=30)).date(),
                          rules=["data_freshness"])
    assert res.found == {"data_freshness": 0}
    assert "historical load" in res.notes["data_freshness"]
    assert "1 year 1 month old" in res.notes["data_freshness"] or \
        "13 months old" in res.notes["data_freshness"]
    # the same data uploaded while it was current, then left alone: stale
    assert historical_load(wf.AS_OF, wf.AS_OF + pd.Timedelta(days=3),
                           _cfg("data_freshness"), "W") is None
    by_pin = pd.DataFrame({"pin_code": ["560001"], "last_date": [wf.AS_OF], "city": [None]})
    stale = data_freshness(by_pin, _cfg("data_freshness"), wf.AS_OF,
                           wf.AS_OF + pd.Timedelta(days=60), "W",
                           wf.AS_OF + pd.Timedelta(days=3))
    assert stale["entity"].tolist() == ["All PINs"]
    assert "8 weeks before" in stale["reason"].iloc[0]


def test_a_historical_upload_with_a_stale_pin_raises_nothing_and_the_note_counts_it(
        empty_warehouse):
    wh = empty_warehouse
    wf.build(wh, stale=True)                   # PIN 560020 stops 4 weeks before the rest
    uploaded = _uploaded_long_after(wh)
    n_pins = wh.scalar("SELECT count(DISTINCT pin_code) FROM sales_daily")
    res = generate_alerts(wh, as_of=(uploaded + pd.Timedelta(days=30)).date(),
                          rules=["data_freshness"])
    assert res.found == {"data_freshness": 0}
    assert res.notes["data_freshness"].endswith(
        f"so no stale-data alert (1 of {n_pins} PIN codes' sales end 3 weeks or more "
        "before the newest).")


def _weekly_forecast_run(wh) -> None:
    """A weekly run with cutoff 4 weeks before AS_OF: WK-00 @ 560001 forecast at its true
    mean (clean), WK-01 @ 560001 at 3x its sales (misses); backtests with honest noise."""
    from engine.warehouse.forecasts import write_run

    sales = wf.weekly_sales()
    sales["date"] = pd.to_datetime(sales["date"])
    weeks = wf.WEEKS[-4:]
    rows, bt = [], []
    for sku, scale in (("WK-00", 1.0), ("WK-01", 3.0)):
        hist = sales[(sales["sku_id"] == sku) & (sales["pin_code"] == "560001")]
        usual = hist.loc[~hist["promo"], "quantity"].mean()
        rows.append(pd.DataFrame({"sku_id": sku, "pin_code": "560001", "date": weeks,
                                  "forecast": usual * scale}))
        past = hist[hist["date"].isin(wf.WEEKS[-40:-16])]
        bt.append(pd.DataFrame({"sku_id": sku, "pin_code": "560001", "date": past["date"],
                                "actual": past["quantity"], "forecast": usual}))
    fc = pd.concat(rows, ignore_index=True)
    fc["lo"], fc["hi"] = fc["forecast"] * 0.5, fc["forecast"] * 1.5
    fc["lo80"], fc["hi80"] = fc["forecast"] * 0.7, fc["forecast"] * 1.3
    fc["model"] = "ets"
    bt = pd.concat(bt, ignore_index=True)
    for col in ("lo", "hi", "lo80", "hi80"):
        bt[col] = np.nan
    bt["model"], bt["fold"], bt["cutoff"], bt["step"] = "routed", 1, wf.WEEKS[-41], 1
    write_run(wh, {"run_id": "fc_weekly", "kind": "forecast", "grain": "W",
                   "cutoff": wf.WEEKS[-5], "horizon": 4, "n_series": 2, "models": ["ets"]},
              forecasts=fc, backtests=bt)


def test_weekly_forecast_rules_compare_week_with_week(empty_warehouse):
    wh = empty_warehouse
    wf.build(wh)
    _weekly_forecast_run(wh)
    res = generate_alerts(wh, as_of=wf.AS_OF.date(),
                          rules=["forecast_deviation", "forecast_accuracy"])
    assert res.failed == {} and res.skipped == {}
    dev = list_alerts(wh, rule="forecast_deviation")
    acc = list_alerts(wh, rule="forecast_accuracy")
    assert dev["entity"].tolist() == ["WK-01 @ 560001"]
    assert "in the week of 19-Nov were" in dev["reason"].iloc[0]
    assert "below the forecast" in dev["reason"].iloc[0]
    assert json.loads(dev["details"].iloc[0])["periods"] == 1
    assert acc["entity"].tolist() == ["WK-01 @ 560001"]
    assert "over the last 4 forecast weeks" in acc["reason"].iloc[0]


def test_weekly_sales_above_forecast_in_a_promotion_are_explained(empty_warehouse):
    wh = empty_warehouse
    sales = wf.build(wh)
    _weekly_forecast_run(wh)
    last = (sales["date"] == wf.AS_OF.date()) & (sales["sku_id"] == "WK-00") & \
        (sales["pin_code"] == "560001")
    with wh.transaction() as cur:
        cur.execute("UPDATE sales_daily SET quantity = quantity * 5, promo = TRUE "
                    "WHERE sku_id = 'WK-00' AND pin_code = '560001' AND date = ?",
                    [wf.AS_OF.date()])
    assert last.sum() == 1
    generate_alerts(wh, as_of=wf.AS_OF.date(), rules=["forecast_deviation"])
    assert list_alerts(wh, rule="forecast_deviation")["entity"].tolist() == ["WK-01 @ 560001"]


@pytest.mark.parametrize("days,weeks", [(1, 1), (7, 1), (8, 2), (28, 4)])
def test_day_windows_become_whole_weeks(days, weeks):
    assert periods_for(days, "W") == weeks
