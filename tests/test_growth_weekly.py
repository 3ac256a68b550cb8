"""Growth vs last year for weekly data compares the same weeks (52 weeks earlier), not the
same calendar dates, on the map, the overview KPIs and the trend; stock cover and forecast
notes on the map speak in weeks."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.map_metrics import metric_values, pin_inputs
from engine.warehouse.sales_summary import kpis, pin_sales_vs_prior, sales_trend, year_earlier
from engine.warehouse.sql import Filters
from tests.alerts_frames import put

END = pd.Timestamp("2025-11-19")                        # a Wednesday
WEEKS = pd.date_range(end=END, periods=110, freq="7D")
PINS = {"560001": 1.0, "400001": 2.5, "110001": 0.6}
GROWTH = 1.2


def _sales() -> pd.DataFrame:
    """Each week sells GROWTH x the same week 52 weeks earlier; the pattern changes from
    week to week, so last year's neighbouring week would give another answer."""
    k = np.arange(len(WEEKS))
    week_of_year = k % 52
    pattern = 40 + 25 * np.sin(0.9 * week_of_year) + 9 * (week_of_year % 5)
    years_back = (len(WEEKS) - 1 - k) // 52
    rows = []
    for pin, size in PINS.items():
        qty = size * pattern * GROWTH ** (-years_back.astype(float))
        rows.append(pd.DataFrame({"sku_id": "WK-01", "pin_code": pin, "date": WEEKS.date,
                                  "quantity": qty, "price": 10.0}))
    df = pd.concat(rows, ignore_index=True)
    df["revenue"] = df["quantity"] * df["price"]
    return df


@pytest.fixture()
def weekly(empty_warehouse):
    wh = empty_warehouse
    put(wh, "skus", pd.DataFrame({"sku_id": ["WK-01"], "name": ["Item"],
                                  "category": ["Snacks"], "mrp": 12.0}))
    put(wh, "locations", pd.DataFrame({"pin_code": list(PINS), "city": "X", "state": "Y"}))
    put(wh, "sales_daily", _sales()[["sku_id", "pin_code", "date", "quantity", "revenue",
                                     "price"]])
    return wh


# 91 days ending on a week: its 13 weekly rows; a calendar year earlier the window holds
# the week before each of their counterparts.
PERIOD = Filters(start=(END - timedelta(days=90)).date(), end=END.date())


def test_the_planted_period_would_catch_other_weeks_by_calendar_date():
    sales = _sales()
    start, end = year_earlier(PERIOD.start), year_earlier(PERIOD.end)
    by_date = sales[(sales["date"] >= start) & (sales["date"] <= end)]["revenue"].sum()
    current = sales[(sales["date"] >= PERIOD.start) & (sales["date"] <= PERIOD.end)]
    assert abs(current["revenue"].sum() / by_date - GROWTH) > 0.01


def test_per_pin_growth_matches_the_planted_growth(weekly):
    df, meta = pin_sales_vs_prior(weekly, PERIOD)
    assert meta["grain"] == "W" and meta["covered"]
    assert meta["prior_start"] == PERIOD.start - timedelta(days=364)
    growth = df.set_index("pin_code")["revenue"] / df.set_index("pin_code")["prior_revenue"]
    assert growth.to_numpy() == pytest.approx([GROWTH] * len(PINS), rel=1e-6)


def test_map_growth_and_kpis_match_the_planted_growth(weekly):
    inputs = pin_inputs(weekly, PERIOD, "growth")
    values = metric_values(inputs, "pin")["value"]
    assert values.to_numpy() == pytest.approx([GROWTH - 1] * len(PINS), rel=1e-6)
    assert "the same weeks last year" in inputs.note
    assert kpis(weekly, PERIOD)["revenue_growth"] == pytest.approx(GROWTH - 1, rel=1e-6)


def test_weekly_trend_meets_the_same_weeks_last_year(weekly):
    trend = sales_trend(weekly, PERIOD, "W")
    assert len(trend) == 13
    assert (trend["revenue"] / trend["revenue_ly"]).to_numpy() == \
        pytest.approx([GROWTH] * 13, rel=1e-6)


def test_growth_needs_the_whole_prior_period(weekly):
    early = Filters(start=date(2024, 10, 1), end=date(2024, 12, 31))
    _, meta = pin_sales_vs_prior(weekly, early)
    assert not meta["covered"]


def test_stock_cover_note_speaks_in_weeks(weekly):
    put(weekly, "inventory", pd.DataFrame({"sku_id": ["WK-01"], "pin_code": ["560001"],
                                           "on_hand": [10.0], "on_order": [0.0],
                                           "lead_time_days": [7], "moq": [1],
                                           "case_pack": [1]}))
    inputs = pin_inputs(weekly, Filters(), "stockout")
    assert "average per day of the 4 weeks up to 19-Nov-2025" in inputs.note


def test_stock_out_risk_on_the_map_uses_the_reorder_pages_critical_rule(weekly):
    """A line is at risk when at least one whole unit goes unserved before an order placed
    today could arrive (lead-time demand - stock >= 1), as on the Reorder page; a line that
    merely runs out on the last day of its lead time, short by under a unit, is not."""
    last4 = _sales()
    last4 = last4[last4["date"] > (END - pd.Timedelta(days=28)).date()]
    daily = last4.groupby("pin_code")["quantity"].sum() / 28.0
    lead = 7
    stock = {"560001": daily["560001"] * lead - 0.5,       # short by half a unit: fine
             "400001": daily["400001"] * lead - 3.0,       # short by 3 units: at risk
             "110001": daily["110001"] * lead + 5.0}       # covered
    put(weekly, "inventory", pd.DataFrame({
        "sku_id": "WK-01", "pin_code": list(stock), "on_hand": list(stock.values()),
        "on_order": 0.0, "lead_time_days": lead, "moq": 1, "case_pack": 1}))
    values = metric_values(pin_inputs(weekly, Filters(), "stockout"), "pin")
    risk = values.set_index("pin_code")["value"].to_dict()
    assert risk == {"560001": 0.0, "400001": 1.0, "110001": 0.0}
