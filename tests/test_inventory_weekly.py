"""Reorder demand from weekly data: a weekly forecast is a seventh of the week per day, the
no-forecast fallback is the weekly average / 7, and weekly errors become daily ones by
/ sqrt(7); the planner reads the grain from the run and the warehouse."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.inventory.demand import demand_from_forecast, demand_from_sales
from engine.inventory.policy import PolicyConfig, plan_levels
from tests.alerts_frames import put
from tests.test_inventory_policy import make_lines

CUTOFF = pd.Timestamp("2025-11-19")                        # a Wednesday
WEEKS = pd.date_range(CUTOFF + pd.Timedelta(days=7), periods=4, freq="7D")


def _weekly_forecast(lines: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for i, line in lines.iterrows():
        weekly = np.array([70.0, 140.0, 35.0, 70.0]) * (i + 1)
        rows.append(pd.DataFrame({"sku_id": line["sku_id"], "pin_code": line["pin_code"],
                                  "date": WEEKS, "forecast": weekly, "lo": weekly * 0.5,
                                  "hi": weekly * 1.5}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("grain", ["W", None])
def test_weekly_forecast_is_a_seventh_of_the_week_each_day(grain):
    lines = make_lines(2)
    fc = _weekly_forecast(lines)
    model = demand_from_forecast(fc, grain=grain)
    assert model.as_of == CUTOFF.date()
    path = model.path[model.path["pin_code"] == lines.loc[1, "pin_code"]].set_index("date")
    assert len(path) == 28 and path.index.min() == CUTOFF + pd.Timedelta(days=1)
    for week, total in zip(WEEKS, [140.0, 280.0, 70.0, 140.0]):
        days = pd.date_range(week - pd.Timedelta(days=6), week)
        assert path.loc[days, "forecast"].to_numpy() == pytest.approx([total / 7] * 7)
    assert "weekly forecast" in model.label


def test_weekly_errors_become_daily_by_root_seven():
    lines = make_lines(2)
    fc = _weekly_forecast(lines)
    res = pd.DataFrame({"sku_id": lines.loc[0, "sku_id"], "pin_code": lines.loc[0, "pin_code"],
                        "forecast": 70.0, "actual": 70.0 + np.tile([-14.0, 14.0], 10)})
    sig = demand_from_forecast(fc, res, grain="W").sigma.set_index("pin_code")["sigma_daily"]
    assert sig[lines.loc[0, "pin_code"]] == pytest.approx(14.0 / np.sqrt(7))
    width = (fc.loc[fc["pin_code"] == lines.loc[1, "pin_code"], "hi"]
             - fc.loc[fc["pin_code"] == lines.loc[1, "pin_code"], "lo"]).mean()
    assert sig[lines.loc[1, "pin_code"]] == pytest.approx(width / (2 * 1.959964) / np.sqrt(7))


def test_lead_time_demand_over_a_week_is_the_weekly_forecast():
    lines = make_lines(2, lead_time_days=7)
    plan = plan_levels(lines, demand_from_forecast(_weekly_forecast(lines), grain="W"),
                       PolicyConfig())
    assert plan.sort_values("pin_code")["lead_time_demand"].to_numpy() == \
        pytest.approx([70.0, 140.0])


def test_no_forecast_fallback_uses_weekly_average_over_seven():
    lines = make_lines(1)
    weeks = pd.date_range(end=CUTOFF, periods=12, freq="7D")
    qty = np.array([50, 60, 70, 80, 63, 77, 56, 70, 84, 70, 63, 70], float)  # last 8 avg 69.125
    sales = pd.DataFrame({"sku_id": lines.loc[0, "sku_id"], "pin_code": lines.loc[0, "pin_code"],
                          "date": weeks, "quantity": qty})
    model = demand_from_sales(sales, lines, as_of=CUTOFF, horizon=14)
    assert model.path["forecast"].to_numpy() == pytest.approx([qty[-8:].mean() / 7] * 14)
    assert model.sigma["sigma_daily"].iloc[0] == pytest.approx(qty[-8:].std(ddof=1) / np.sqrt(7))
    assert "weekly average of the last 8 weeks" in model.label


def test_planner_reads_a_weekly_run_as_weekly(empty_warehouse):
    from engine.inventory.planner import load_inputs
    from engine.warehouse.forecasts import write_run

    wh = empty_warehouse
    lines = make_lines(1)
    put(wh, "skus", pd.DataFrame({"sku_id": [lines.loc[0, "sku_id"]], "name": ["Kaju katli"],
                                  "category": ["Sweets"], "mrp": 70.0, "unit_cost": 50.0}))
    put(wh, "locations", pd.DataFrame({"pin_code": [lines.loc[0, "pin_code"]],
                                       "city": ["Delhi"], "state": ["Delhi"]}))
    put(wh, "inventory", lines[["sku_id", "pin_code", "on_hand", "on_order", "lead_time_days",
                                "moq", "case_pack"]])
    weeks = pd.date_range(end=CUTOFF, periods=10, freq="7D")
    put(wh, "sales_daily", pd.DataFrame({"sku_id": lines.loc[0, "sku_id"],
                                         "pin_code": lines.loc[0, "pin_code"],
                                         "date": weeks.date, "quantity": 70.0,
                                         "revenue": 700.0}))
    assert load_inputs(wh).model.path["forecast"].to_numpy() == pytest.approx([10.0] * 28)
    fc = _weekly_forecast(lines).iloc[:1]                     # one week: grain from the run
    write_run(wh, {"run_id": "fc_w", "kind": "forecast", "grain": "W", "cutoff": CUTOFF,
                   "horizon": 1, "n_series": 1, "models": ["ets"]},
              forecasts=fc.assign(lo80=np.nan, hi80=np.nan, model="ets"))
    path = load_inputs(wh).model.path
    assert path["forecast"].to_numpy() == pytest.approx([10.0] * 7)
