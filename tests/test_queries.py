"""Overview queries on a tiny hand-made warehouse whose totals are known by construction.

Layout: SKU A (Sweets) sells at PIN 400001 (Mumbai) and SKU B (Dairy) at 560001
(Bengaluru), every day 01-Jan..10-Jan in 2023 and 2024; SKU A also sells at 400002
(Mumbai) in 2024 only.
  2024: A@400001 2 units x ₹50 = ₹100/day; A@400002 1 x ₹50 = ₹50/day; B@560001 1 x ₹30.
  2023: A@400001 2 units x ₹40 = ₹80/day;  B@560001 1 x ₹30.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from engine.warehouse.sales_summary import (category_mix, default_period, filter_options,
                                            has_sales, kpis, sales_by_pin, sales_trend,
                                            top_skus, year_earlier)
from engine.warehouse.sql import Filters

JAN24 = Filters(start=date(2024, 1, 1), end=date(2024, 1, 10))


def _days(year: int):
    return [date(year, 1, 1) + timedelta(days=i) for i in range(10)]


@pytest.fixture()
def wh(empty_warehouse):
    rows = []
    for d in _days(2024):
        rows += [("A", "400001", d, 2, 100.0), ("A", "400002", d, 1, 50.0),
                 ("B", "560001", d, 1, 30.0)]
    for d in _days(2023):
        rows += [("A", "400001", d, 2, 80.0), ("B", "560001", d, 1, 30.0)]
    with empty_warehouse.transaction() as cur:
        cur.executemany(
            "INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue) "
            "VALUES (?, ?, ?, ?, ?)", rows)
        cur.executemany("INSERT INTO skus (sku_id, name, category, brand) VALUES (?,?,?,?)",
                        [("A", "Kaju Katli 250g", "Sweets", "Haldiram"),
                         ("B", "Toned Milk 500ml", "Dairy", "Amul")])
        cur.executemany(
            "INSERT INTO locations (pin_code, locality, city, district, state, lat, lon) "
            "VALUES (?,?,?,?,?,?,?)",
            [("400001", "Fort", "Mumbai", "Mumbai", "Maharashtra", 18.93, 72.83),
             ("400002", "Kalbadevi", "Mumbai", "Mumbai", "Maharashtra", 18.95, 72.83),
             ("560001", "MG Road", "Bengaluru", "Bengaluru Urban", "Karnataka", 12.97, 77.6)])
    return empty_warehouse


def test_kpis_totals_and_growth_vs_same_period_last_year(wh):
    k = kpis(wh, JAN24)
    assert k["revenue"] == pytest.approx(1800.0)
    assert k["units"] == pytest.approx(40.0)
    assert k["revenue_growth"] == pytest.approx(1800 / 1100 - 1)
    assert k["units_growth"] == pytest.approx(40 / 30 - 1)
    assert (k["active_skus"], k["active_pins"]) == (2, 3)
    assert k["avg_daily_revenue"] == pytest.approx(180.0)
    assert (k["prior_start"], k["prior_end"]) == (date(2023, 1, 1), date(2023, 1, 10))


def test_kpis_growth_is_none_when_last_year_is_not_fully_in_the_data(wh):
    k = kpis(wh, Filters(start=date(2023, 1, 1), end=date(2023, 1, 10)))
    assert k["revenue"] == pytest.approx(1100.0)
    assert k["revenue_growth"] is None and k["units_growth"] is None


def test_kpis_state_and_category_filters(wh):
    mh = kpis(wh, Filters(states=("Maharashtra",), start=JAN24.start, end=JAN24.end))
    assert mh["revenue"] == pytest.approx(1500.0)
    assert mh["revenue_growth"] == pytest.approx(1500 / 800 - 1)
    dairy = kpis(wh, Filters(categories=("Dairy",), start=JAN24.start, end=JAN24.end))
    assert dairy["revenue"] == pytest.approx(300.0)
    assert dairy["revenue_growth"] == pytest.approx(0.0)
    city = kpis(wh, Filters(cities=("Bengaluru",), start=JAN24.start, end=JAN24.end))
    assert city["active_pins"] == 1


def test_open_period_defaults_to_the_data_bounds(wh):
    k = kpis(wh, Filters())
    assert (k["start"], k["end"]) == (date(2023, 1, 1), date(2024, 1, 10))
    assert k["revenue"] == pytest.approx(2900.0)


def test_pin_scope_restricts_even_when_state_filter_points_elsewhere(wh):
    crafted = Filters(states=("Karnataka",), cities=("Bengaluru",), start=JAN24.start,
                      end=JAN24.end, pin_scope=("400001",))
    assert kpis(wh, crafted)["revenue"] == 0
    assert sales_by_pin(wh, crafted).empty
    assert top_skus(wh, crafted).empty
    assert category_mix(wh, crafted).empty
    assert sales_trend(wh, crafted)["revenue"].sum() == 0

    scoped = Filters(start=JAN24.start, end=JAN24.end, pin_scope=("400001",))
    assert kpis(wh, scoped)["revenue"] == pytest.approx(1000.0)
    assert sales_by_pin(wh, scoped)["pin_code"].tolist() == ["400001"]
    assert top_skus(wh, scoped)["sku_id"].tolist() == ["A"]


def test_empty_pin_scope_sees_nothing(wh):
    nothing = Filters(start=JAN24.start, end=JAN24.end, pin_scope=())
    assert kpis(wh, nothing)["revenue"] == 0
    assert not has_sales(wh, pin_scope=())
    opts = filter_options(wh, pin_scope=())
    assert opts["states"] == [] and opts["categories"] == [] and opts["max_date"] is None


def test_filter_options_follow_the_pin_scope(wh):
    every = filter_options(wh)
    assert every["states"] == ["Karnataka", "Maharashtra"]
    assert every["cities_by_state"] == {"Karnataka": ["Bengaluru"], "Maharashtra": ["Mumbai"]}
    assert every["categories"] == ["Dairy", "Sweets"]
    assert (every["min_date"], every["max_date"]) == (date(2023, 1, 1), date(2024, 1, 10))
    scoped = filter_options(wh, pin_scope=("560001",))
    assert scoped["states"] == ["Karnataka"] and scoped["categories"] == ["Dairy"]


def test_sales_trend_weekly_sums_match_totals_and_last_year(wh):
    trend = sales_trend(wh, JAN24, freq="W")
    assert trend["revenue"].sum() == pytest.approx(1800.0)
    assert trend["revenue_ly"].sum() == pytest.approx(1100.0)
    assert trend["units_ly"].sum() == pytest.approx(30.0)
    # Weeks end on the period's last day (10-Jan): 04..10-Jan is whole, 01..03-Jan a part week.
    assert [d.date() for d in trend["date"]] == [date(2024, 1, 1), date(2024, 1, 4)]
    assert trend["days"].tolist() == [3, 7]
    assert trend["revenue"].tolist() == pytest.approx([3 * 180.0, 7 * 180.0])
    assert trend["revenue_ly"].tolist() == pytest.approx([3 * 110.0, 7 * 110.0])
    daily = sales_trend(wh, JAN24, freq="D")
    assert len(daily) == 10 and daily["revenue_ly"].iloc[0] == pytest.approx(110.0)


def test_sales_trend_fills_days_without_sales_with_zero(wh):
    trend = sales_trend(wh, Filters(start=date(2024, 1, 8), end=date(2024, 1, 14)), "D")
    assert len(trend) == 7
    assert trend["revenue"].tolist() == pytest.approx([180.0] * 3 + [0.0] * 4)


def test_sales_trend_first_bucket_is_clipped_to_the_period_start(wh):
    trend = sales_trend(wh, Filters(start=date(2024, 1, 3), end=date(2024, 1, 10)), "W")
    assert trend["date"].iloc[0].date() == date(2024, 1, 3)
    assert trend["days"].tolist() == [1, 7]


def test_sales_trend_monthly_buckets_are_calendar_months(wh):
    trend = sales_trend(wh, Filters(start=date(2023, 12, 20), end=date(2024, 1, 10)), "M")
    assert [d.date() for d in trend["date"]] == [date(2023, 12, 20), date(2024, 1, 1)]
    assert trend["days"].tolist() == [12, 10]
    assert trend["revenue"].tolist() == pytest.approx([0.0, 1800.0])


def test_sales_trend_last_year_is_missing_when_not_covered(wh):
    trend = sales_trend(wh, Filters(start=date(2023, 1, 1), end=date(2023, 1, 10)))
    assert trend["revenue_ly"].isna().all()


def test_sales_trend_rejects_unknown_frequency(wh):
    with pytest.raises(ValueError, match="freq must be one of"):
        sales_trend(wh, JAN24, freq="Q")


def test_sales_by_pin_growth_and_places(wh):
    pins = sales_by_pin(wh, JAN24).set_index("pin_code")
    assert pins.loc["400001", "revenue"] == pytest.approx(1000.0)
    assert pins.loc["400001", "growth"] == pytest.approx(0.25)
    assert pd.isna(pins.loc["400002", "growth"])  # no sales there a year earlier
    assert pins.loc["560001", "state"] == "Karnataka"
    assert pins.loc["560001", "lat"] == pytest.approx(12.97)


def test_category_mix_shares_sum_to_one(wh):
    mix = category_mix(wh, JAN24)
    assert mix["category"].tolist() == ["Sweets", "Dairy"]
    assert mix["share"].sum() == pytest.approx(1.0)
    assert mix.set_index("category").loc["Sweets", "growth"] == pytest.approx(1500 / 800 - 1)


def test_top_skus_ranked_by_revenue(wh):
    top = top_skus(wh, JAN24, n=1)
    assert top["sku_id"].tolist() == ["A"]
    assert top["name"].iloc[0] == "Kaju Katli 250g"
    assert top["avg_price"].iloc[0] == pytest.approx(50.0)
    assert top["pin_codes"].iloc[0] == 2


def test_queries_on_an_empty_warehouse(empty_warehouse):
    assert not has_sales(empty_warehouse)
    k = kpis(empty_warehouse, Filters())
    assert k["revenue"] == 0 and k["revenue_growth"] is None
    assert sales_trend(empty_warehouse, Filters()).empty
    assert sales_by_pin(empty_warehouse, Filters()).empty


def test_a_query_the_database_refuses_is_a_warehouse_error_on_either_backend(empty_warehouse):
    from engine.warehouse.db import WarehouseError
    from engine.warehouse.sql import run_query

    with pytest.raises(WarehouseError, match="Could not read the planted report"):
        run_query(empty_warehouse, "SELECT no_such_column FROM sales_daily", [],
                  "the planted report")


def test_year_earlier_and_default_period():
    assert year_earlier(date(2024, 2, 29)) == date(2023, 2, 28)
    assert default_period(date(2024, 1, 1), date(2024, 12, 31)) == (
        date(2024, 10, 3), date(2024, 12, 31))
    assert default_period(date(2024, 12, 1), date(2024, 12, 31))[0] == date(2024, 12, 1)
