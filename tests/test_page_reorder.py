"""AppTest of pages/4_Reorder.py on the small demo warehouse and on an empty one."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[1] / "pages" / "4_Reorder.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def _run(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _units(at: AppTest) -> int:
    return int(_metric(at, "Units to order").replace(",", ""))


def test_reorder_page_renders_plan_map_chart_and_orders(app_env):
    at = _run()
    labels = [m.label for m in at.metric]
    assert labels[:5] == ["Lines to order", "Units to order", "Order value", "Critical lines",
                          "Out of stock now"]
    assert _metric(at, "Order value").startswith("₹")
    assert _units(at) > 0
    assert len(at.dataframe) >= 2                   # plan table + purchase orders
    assert any("8 weeks" in i.value or "Forecast run" in i.value for i in at.info)
    assert at.get("plotly_chart") and at.get("deck_gl_json_chart")
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download Excel"]


def test_higher_service_level_never_orders_less(app_env):
    at = _run()
    at.slider(key="rp_service_level").set_value(85.0)
    low = _units(_run(at))
    at.slider(key="rp_service_level").set_value(99.0)
    high = _units(_run(at))
    assert high >= low


def test_demand_shock_and_longer_lead_time_raise_the_order(app_env):
    at = _run()
    base = _units(at)
    at.slider(key="rp_demand_shock").set_value(40)
    at.slider(key="rp_lead_change").set_value(5)
    assert _units(_run(at)) >= base


def _count(text: str) -> int:
    return int(str(text).replace(",", ""))


def _budget_run(budget: float) -> AppTest:
    at = _run()
    at.number_input(key="rp_budget").set_value(budget)
    at.button(key="rp_optimise").click()
    return _run(at)


def _engine_plan(wh):
    """The plan the page shows with its default settings, straight from the engine."""
    from engine.inventory.planner import load_inputs, make_plan
    from engine.inventory.policy import PolicyConfig

    return make_plan(load_inputs(wh), PolicyConfig(today=date.today()))


def test_budget_optimiser_reports_in_business_words_and_stays_within_budget(app_env):
    at = _budget_run(100000)
    assert _metric(at, "Plan quality").startswith(("Best plan", "Good plan"))
    spend = _metric(at, "Budget used")
    assert spend.startswith("₹")
    assert any("Ordering" in s.value for s in at.success)
    assert any("Budget plan within ₹1.00 lakh" in c.value for c in at.caption)


def test_with_a_budget_the_tiles_are_the_sums_of_the_budget_plan_rows(app_env,
                                                                     small_warehouse):
    from components.format import indian_grouping, inr_compact
    from engine.inventory.optimize import OptimizeConfig, optimize_orders
    from engine.inventory.planner import budget_plan, plan_tiles

    plan = _engine_plan(small_warehouse)
    unconstrained = plan_tiles(plan)
    budget = 40000.0
    assert unconstrained["order_value"] > budget          # the budget binds
    funded = budget_plan(optimize_orders(plan, OptimizeConfig(budget=budget)))
    ordered = funded[funded["order_qty"] > 0]
    at = _budget_run(budget)
    assert _metric(at, "Lines to order") == indian_grouping(len(ordered))
    assert _metric(at, "Units to order") == indian_grouping(ordered["order_qty"].sum())
    assert _metric(at, "Order value") == inr_compact(ordered["order_value"].sum())
    assert _units(at) < unconstrained["units_to_order"]
    # ... and the purchase orders below add up to the same units
    po = at.dataframe[-1].value
    assert sum(_count(u) for u in po["units"]) == _units(at)
    # switching the budget off brings the policy's plan back
    at.number_input(key="rp_budget").set_value(0)
    at.button(key="rp_optimise").click()
    at = _run(at)
    assert _units(at) == unconstrained["units_to_order"]


def test_plan_table_speaks_business_with_indian_numbers_and_no_past_dates(app_env):
    at = _run()
    table = at.dataframe[0]
    show = table.value
    labels = {k: v.get("label") for k, v in json.loads(table.proto.columns).items()}
    helps = {k: v.get("help", "") for k, v in json.loads(table.proto.columns).items()}
    assert labels["reorder_point"] == "Reorder level"
    assert helps["reorder_point"].startswith("Reorder point:")
    assert labels["safety_stock"] == "Safety stock" and helps["safety_stock"]
    assert labels["days_of_cover"] == "Stock lasts" and helps["days_of_cover"].startswith(
        "Days of cover")
    assert labels["stockout_date"] == "Runs out" and labels["reason"] == "Why"
    assert labels["on_hand"] == "On shelf"
    for col in ("on_hand", "on_order", "safety_stock", "reorder_point", "order_qty"):
        assert show[col].str.fullmatch(r"\d{1,2}(,\d\d)*,\d{3}|\d{1,3}").all(), col
    assert show["order_value"].str.startswith("₹").all()
    today = pd.Timestamp(date.today())
    for text in show["stockout_date"]:
        if text in ("Out of stock now", "—"):
            continue
        day = pd.Timestamp(f"{text}-{today.year}")
        day = day if day >= today - pd.Timedelta(days=180) else day + pd.DateOffset(years=1)
        assert day >= today, text
    assert (show["stockout_date"] == "Out of stock now").any()
    assert not show["reason"].str.contains(r"\d\.0\b|reorder point", regex=True).any()


def test_picking_a_row_shows_its_whole_reason_and_projects_that_line(app_env):
    at = _run()
    show = at.dataframe[0].value
    at.session_state["rp_table"] = {"selection": {"rows": [2], "columns": []}}
    at = _run(at)
    reason = show["reason"].iloc[2]
    assert any(m.value == reason for m in at.markdown)
    assert at.selectbox(key="rp_line").index == 2
    title = at.get("plotly_chart")[0].proto.spec
    assert show["sku_id"].iloc[2] in title and show["pin_code"].iloc[2] in title


def test_critical_lines_are_real_stockouts_and_the_map_uses_all_lines(app_env,
                                                                      small_warehouse):
    from engine.inventory.planner import pin_risk

    plan = _engine_plan(small_warehouse)
    at = _run()
    crit = plan[plan["urgency"] == "critical"]
    assert _metric(at, "Critical lines") == str(len(crit))
    assert (crit["reorder_point"] > 0).all() and (crit["lead_time_shortfall"] >= 1).all()
    deck = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    dots = next(layer["data"] for layer in deck["layers"]
                if layer["@@type"] == "ScatterplotLayer")
    shown = {d["pin_code"]: d["risk"] for d in dots}
    expected = pin_risk(plan).set_index("pin_code")["risk"]
    assert shown == pytest.approx({p: expected[p] for p in shown})
    assert min(shown.values()) < 1.0      # the default urgency filter does not paint it red


def test_empty_warehouse_shows_a_sentence_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(tmp_path / "empty.duckdb"))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = _run()
    assert any("no inventory snapshot" in i.value for i in at.info)


def test_projection_never_shows_negative_stock_and_counts_lost_sales():
    import pandas as pd

    from components.reorder_views import projection_figure, stock_view

    # 5 on hand, 2 a day, 10 arriving on day 5: the shelf is empty on days 3-4 (3 units
    # lost), then the delivery fills it from zero, not from a negative balance.
    raw = [3.0, 1.0, -1.0, -3.0, 5.0, 3.0]
    proj = pd.DataFrame({"date": pd.date_range("2025-11-21", periods=6),
                         "stock_no_order": raw, "stock_with_order": raw,
                         "safety_stock": 1.0, "reorder_point": 4.0, "demand": 2.0})
    shelf, lost = stock_view(proj, "stock_no_order")
    assert shelf == [3.0, 1.0, 0.0, 0.0, 8.0, 6.0]
    assert lost == [0.0, 0.0, 1.0, 3.0, 3.0, 3.0]
    fig = projection_figure(proj, "t")
    assert min(min(t.y) for t in fig.data) >= 0
    assert fig.layout.xaxis.tickformat == "%d-%b" and fig.layout.xaxis.dtick == 7 * 86400000
