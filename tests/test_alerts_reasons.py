"""Alert reason sentences read like a person wrote them: one way of writing counts, the SKU
named once, and no run-out date when nothing sells."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from engine.alerts_detect import stock_reason
from engine.alerts_rules import num, rupees, units


def _line(**kw):
    base = dict(sku_id="DA-0004", name="Amul Gold 500 ml", pin_code="560015", on_hand=3.0,
                on_order=12.0, reorder_point=15.0, lead_time_days=5, daily_demand=2.5,
                stockout_date=pd.Timestamp("2025-11-24"))
    return SimpleNamespace(**{**base, **kw})


def test_counts_are_whole_with_indian_grouping_and_decimals_only_below_ten():
    assert [num(v) for v in (0.0, 2.0, 2.5, 9.96, 15.0, 1.0, 123456.7)] == \
        ["0", "2", "2.5", "10", "15", "1", "1,23,457"]
    assert units(1) == "1 unit" and units(2.5) == "2.5 units" and units(1500) == "1,500 units"
    assert rupees(55) == "₹55.00" and rupees(1234567) == "₹12,34,567"


def test_stock_reason_names_the_sku_once_with_whole_units():
    text = stock_reason(_line(), critical=True)
    assert text.startswith("Amul Gold 500 ml (DA-0004) at 560015: 3 units on hand + 12 on "
                           "order, at or below the reorder level of 15 units.")
    assert "about 2.5 units a day it runs out around 24-Nov" in text
    assert "before an order placed today could arrive (5-day lead time)" in text
    assert text.count("DA-0004") == 1 and ".0" not in text


def test_stock_reason_with_no_demand_predicts_no_run_out():
    text = stock_reason(_line(on_hand=0.0, on_order=0.0, reorder_point=1.0,
                              daily_demand=0.01, stockout_date=pd.Timestamp("2025-11-21")),
                        critical=True)
    assert "out of stock now" in text and "reorder level of 1 unit." in text
    assert "No recent demand" in text
    assert "runs out" not in text and "21-Nov" not in text and "0.0" not in text


def test_stock_reason_for_an_empty_shelf_says_sales_are_lost_not_a_run_out_date():
    text = stock_reason(_line(on_hand=0.0, on_order=20.0, daily_demand=14.2), critical=True)
    assert "out of stock now (20 on order)" in text
    assert "sells about 14 units a day, so sales are being lost" in text
    assert "runs out" not in text
