"""The policy on the small demo warehouse: replay fill rate, planted short / overstocked
lines, and the `reorder` command."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.__main__ import main
from engine.inventory.planner import load_festivals, load_inputs, make_plan, purchase_orders
from engine.inventory.policy import PolicyConfig
from engine.inventory.simulate import replay_policy
from engine.warehouse.db import copy_warehouse
from engine.warehouse.inventory import read_inventory_lines
from engine.warehouse.sales import last_sales_date
from engine.warehouse.sales_history import read_sales_window


@pytest.fixture(scope="module")
def replay_inputs(small_warehouse):
    last = last_sales_date(small_warehouse)
    sales = read_sales_window(small_warehouse, (last - pd.Timedelta(days=7 * 17)).date(),
                              last.date())
    return sales, read_inventory_lines(small_warehouse), load_festivals(small_warehouse)


def test_replay_fill_rate_is_near_the_target_service_level(replay_inputs):
    sales, lines, festivals = replay_inputs
    res = replay_policy(sales, lines, PolicyConfig(service_level=0.95), festivals=festivals)
    assert res.n_lines == len(lines) and res.demand_units > 0
    assert (res.end - res.start).days == 55
    assert abs(res.fill_rate - 0.95) <= 0.05, res.summary()


def test_replay_fill_rate_rises_with_the_service_level(replay_inputs):
    sales, lines, festivals = replay_inputs
    low = replay_policy(sales, lines, PolicyConfig(service_level=0.80), festivals=festivals)
    high = replay_policy(sales, lines, PolicyConfig(service_level=0.99), festivals=festivals)
    assert high.fill_rate >= low.fill_rate
    assert high.lost_units <= low.lost_units


def test_demo_lines_with_no_stock_are_critical_and_ordered(small_warehouse):
    plan = make_plan(load_inputs(small_warehouse), PolicyConfig())
    empty = plan[(plan["on_hand"] == 0) & (plan["on_order"] == 0) & (plan["daily_demand"] > 0)]
    assert len(empty) > 0                            # the demo plants stocked-out lines
    assert empty["out_of_stock_now"].all()
    assert (empty["stockout_date"] == empty["plan_day"]).all()
    # critical exactly when at least a whole unit of sales is lost before a delivery
    losing = empty["lead_time_demand"] >= 1
    assert (empty.loc[losing, "urgency"] == "critical").all()
    assert not (empty.loc[~losing, "urgency"] == "critical").any()
    assert (empty.loc[empty["reorder_point"] > 0, "order_qty"]
            >= empty.loc[empty["reorder_point"] > 0, "moq"]).all()
    over = plan[plan["action"].isin(["reduce", "redistribute", "promote"])]
    assert len(over) > 0                             # ... and overstocked ones
    assert (over["days_of_cover"] > 60).all()
    po = purchase_orders(plan)
    assert po["qty"].sum() == plan["order_qty"].sum()
    assert set(po["supplier"]) <= set(plan["supplier"].fillna("Unknown supplier"))


def test_reorder_command_writes_the_plan_file(small_warehouse_path, tmp_path, capsys):
    copy = tmp_path / "copy.duckdb"
    copy_warehouse(small_warehouse_path, copy)
    out = tmp_path / "plan.csv"
    rc = main(["reorder", "--service-level", "0.95", "--budget", "50000", "--out", str(out),
               "--json", "--warehouse", str(copy)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["solver_status"] == "optimal"
    assert summary["order_value"] <= 50000
    df = pd.read_csv(out, dtype={"pin_code": str})
    for col in ("sku_id", "pin_code", "on_hand", "safety_stock", "reorder_point", "order_qty",
                "order_value", "urgency", "reason"):
        assert col in df.columns
    assert df["pin_code"].str.fullmatch(r"[1-9][0-9]{5}").all()
    assert df["order_value"].sum() <= 50000 + 1e-6


def test_reorder_command_rejects_a_bad_service_level(small_warehouse_path, tmp_path, capsys):
    copy = tmp_path / "copy.duckdb"
    copy_warehouse(small_warehouse_path, copy)
    rc = main(["reorder", "--service-level", "95", "--warehouse", str(copy)])
    assert rc == 2
    assert "Service level must be between 50% and 99.9%" in capsys.readouterr().err


def test_plan_uses_the_forecast_run_and_its_backtest_residuals(empty_warehouse):
    wh = empty_warehouse
    dates = pd.date_range("2026-10-02", periods=28, freq="D")
    inv = pd.DataFrame({"sku_id": ["SW-0001", "SW-0002"], "pin_code": ["110001", "110002"],
                        "on_hand": [5.0, 500.0], "on_order": 0.0, "lead_time_days": 5,
                        "moq": 6, "case_pack": 6, "snapshot_date": pd.Timestamp("2026-10-01"),
                        "batch_id": "t"})
    fc = pd.DataFrame({"run_id": "fc_t", "sku_id": "SW-0001", "pin_code": "110001",
                       "date": dates, "forecast": 10.0, "lo": 2.0, "hi": 18.0, "lo80": 5.0,
                       "hi80": 15.0, "model": "ets", "weather_source": None})
    bt = pd.DataFrame({"run_id": "fc_t", "model": "routed", "fold": 0,
                       "cutoff": pd.Timestamp("2026-09-01"), "sku_id": "SW-0001",
                       "pin_code": "110001", "date": pd.date_range("2026-09-02", periods=28),
                       "step": range(1, 29), "actual": [7.0, 13.0] * 14, "forecast": 10.0,
                       "lo": None, "hi": None, "lo80": None, "hi80": None})
    with wh.transaction() as cur:      # columns named, no bands: the same on both backends
        for name, frame in (("inv_df", inv), ("fc_df", fc.drop(columns="weather_source")),
                            ("bt_df", bt.drop(columns=["lo", "hi", "lo80", "hi80"]))):
            cur.register(name, frame)
            cols = ", ".join(frame.columns)
            table = {"inv_df": "inventory", "fc_df": "forecasts", "bt_df": "backtests"}[name]
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
        cur.execute("INSERT INTO forecast_runs (run_id, created_at, kind, cutoff, horizon) "
                    "VALUES ('fc_t', now(), 'forecast', DATE '2026-10-01', 28)")
        cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue, "
                    "price, regular_price, promo) VALUES ('SW-0002', '110002', "
                    "DATE '2026-09-30', 2, 20, 10, 10, false)")
    inputs = load_inputs(wh)
    plan = make_plan(inputs, PolicyConfig()).set_index("sku_id")
    assert plan.loc["SW-0001", "demand_source"] == "forecast"
    assert plan.loc["SW-0001", "error_source"] == "backtest residuals"
    assert plan.loc["SW-0001", "lead_time_demand"] == pytest.approx(50.0)
    assert plan.loc["SW-0001", "sigma_lead_time"] == pytest.approx(3.0 * 5 ** 0.5)
    assert plan.loc["SW-0001", "urgency"] == "critical"
    assert plan.loc["SW-0002", "demand_source"] == "empirical"   # no forecast for this line
    assert "without a forecast use the 8-week sales average" in inputs.model.label
