"""Simulation: direction of price changes, rule filters, and which baseline is used."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.pricing.elasticity import PricingError
from engine.pricing.inputs import load_baseline
from engine.pricing.simulate import (NAIVE_LABEL, Baseline, PriceChange, naive_baseline, prepare,
                                     simulate)


def _base(elasticity=(-0.5, -2.0)) -> pd.DataFrame:
    dates = pd.date_range("2025-10-15", periods=28, freq="D")
    rows = [(s, p, d, 10.0, 6.0, 14.0) for s in ("A", "B") for p in ("400001", "600001")
            for d in dates]
    frame = pd.DataFrame(rows, columns=["sku_id", "pin_code", "date", "forecast", "lo", "hi"])
    catalog = pd.DataFrame({"sku_id": ["A", "B"], "category": ["Staples", "Snacks"],
                            "price": [100.0, 50.0], "unit_cost": [70.0, 30.0]})
    el = pd.DataFrame({"sku_id": ["A", "B"], "elasticity": list(elasticity),
                       "lo": [e - 0.2 for e in elasticity], "hi": [e + 0.2 for e in elasticity]})
    locs = pd.DataFrame({"pin_code": ["400001", "600001"], "state": ["Maharashtra", "Tamil Nadu"]})
    return prepare(Baseline(frame, "forecast", "test run"), catalog, el, locs)


def test_price_cut_raises_units_and_rise_lowers_them():
    base = _base()
    cut = simulate(base, [PriceChange(-0.10)]).totals
    rise = simulate(base, [PriceChange(+0.10)]).totals
    assert cut["units"] > cut["baseline_units"] > rise["units"]
    assert cut["units_lo"] <= cut["units"] <= cut["units_hi"]
    assert cut["margin_lo"] <= cut["margin"] <= cut["margin_hi"]


def test_revenue_follows_elasticity_side_of_one():
    base = _base()
    inelastic = simulate(base, [PriceChange(0.10, sku_ids=("A",))])
    elastic = simulate(base, [PriceChange(0.10, sku_ids=("B",))])
    assert inelastic.totals["revenue"] > inelastic.totals["baseline_revenue"]
    assert elastic.totals["revenue"] < elastic.totals["baseline_revenue"]
    # exact constant-elasticity arithmetic on the changed SKU
    row = elastic.by_sku.set_index("sku_id").loc["B"]
    assert row["units"] == pytest.approx(row["baseline_units"] * 1.1 ** -2.0)


def test_rule_filters_category_state_and_dates():
    base = _base()
    rule = PriceChange(-0.10, category="Snacks", state="Maharashtra",
                       start=date(2025, 10, 20), end=date(2025, 10, 26))
    res = simulate(base, [rule])
    assert res.totals["rows_changed"] == 7          # 1 SKU x 1 PIN x 7 days
    assert list(res.by_sku["sku_id"]) == ["B"]
    assert "Snacks in Maharashtra from 20-Oct-2025 to 26-Oct-2025" in rule.describe()


def test_zero_change_reproduces_baseline_and_bad_change_is_refused():
    base = _base()
    same = simulate(base, []).totals
    assert same["units"] == pytest.approx(same["baseline_units"])
    assert same["margin"] == pytest.approx(same["baseline_margin"])
    with pytest.raises(PricingError, match="zero or negative"):
        simulate(base, [PriceChange(-1.0)])


def test_naive_baseline_is_day_of_week_average_and_labelled():
    dates = pd.date_range("2025-01-01", periods=56, freq="D")
    qty = np.where(dates.dayofweek >= 5, 20.0, 5.0)
    sales = pd.DataFrame({"sku_id": "A", "pin_code": "400001", "date": dates, "quantity": qty})
    sales = sales[sales["date"].dt.dayofweek != 2]         # Wednesdays absent = zero sales
    b = naive_baseline(sales, horizon=14)
    assert b.source == "naive" and b.label == NAIVE_LABEL
    f = b.frame.set_index("date")["forecast"]
    assert len(f) == 14 and f.index.min() == dates[-1] + pd.Timedelta(days=1)
    assert (f[f.index.dayofweek >= 5] == 20.0).all()
    assert (f[f.index.dayofweek == 2] == 0.0).all()
    assert (f[f.index.dayofweek == 0] == 5.0).all()


def test_baseline_prefers_latest_stored_forecast(empty_warehouse):
    wh = empty_warehouse
    with wh.transaction() as cur:
        cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue, price, "
                    "regular_price, promo) VALUES ('A', '400001', DATE '2025-01-01', 3, 30, 10, 10, false)")
    assert load_baseline(wh, 7).source == "naive"
    with wh.transaction() as cur:
        for run, created, value in (("run_old", "2025-01-02 10:00", 1.0), ("run_new", "2025-01-03 10:00", 7.0)):
            cur.execute("INSERT INTO forecast_runs (run_id, created_at, kind, status) VALUES (?, ?, 'forecast', 'ok')",
                        [run, created])
            cur.execute("INSERT INTO forecasts (run_id, sku_id, pin_code, date, forecast, lo, hi, model) "
                        "VALUES (?, 'A', '400001', DATE '2025-01-02', ?, 0, 9, 'ets')", [run, value])
    b = load_baseline(wh, 7)
    assert b.source == "forecast" and b.run_id == "run_new"
    assert "run_new" in b.label
    assert b.frame["forecast"].tolist() == [7.0]


def test_rule_in_a_state_uses_that_region_elasticity_and_says_so():
    dates = pd.date_range("2025-10-15", periods=7, freq="D")
    frame = pd.DataFrame([("B", p, d, 10.0, 6.0, 14.0) for p in ("400001", "600001") for d in dates],
                         columns=["sku_id", "pin_code", "date", "forecast", "lo", "hi"])
    catalog = pd.DataFrame({"sku_id": ["B"], "category": ["Snacks"], "price": [50.0],
                            "unit_cost": [30.0]})
    national = pd.DataFrame({"sku_id": ["B"], "elasticity": [-1.0], "lo": [-1.2], "hi": [-0.8]})
    locs = pd.DataFrame({"pin_code": ["400001", "600001"], "state": ["Maharashtra", "Tamil Nadu"],
                         "region": ["West", "South"]})
    regional = pd.DataFrame({"sku_id": ["B", "B"], "region": ["West", "South"],
                             "elasticity": [-3.0, -0.5], "lo": [-3.4, -0.9], "hi": [-2.6, -0.1],
                             "sufficient": [True, False]})
    base = prepare(Baseline(frame, "forecast", "test run"), catalog, national, locs, regional)
    west = simulate(base, [PriceChange(-0.10, category="Snacks", state="Maharashtra")])
    row = west.by_sku.set_index("sku_id").loc["B"]
    assert row["units"] == pytest.approx(70.0 * 0.9 ** -3.0)       # West's own value
    assert row["elasticity_used"] == "West -3.00 (regional)"
    assert west.totals["regional_rows"] == west.totals["rows_changed"] == 7
    south = simulate(base, [PriceChange(-0.10, state="Tamil Nadu")])
    row = south.by_sku.set_index("sku_id").loc["B"]
    assert row["units"] == pytest.approx(70.0 * 0.9 ** -1.0)       # insufficient -> SKU value
    assert row["elasticity_used"] == "-1.00 (SKU)"
    assert south.totals["regional_rows"] == 0


def test_scope_totals_cover_only_the_rows_the_change_applies_to():
    base = _base()
    res = simulate(base, [PriceChange(-0.10, category="Snacks")])
    scope, whole = res.scope_totals, res.totals
    snacks = base[base["category"] == "Snacks"]
    assert scope["baseline_units"] == pytest.approx(snacks["forecast"].sum())
    assert scope["baseline_revenue"] == pytest.approx((snacks["forecast"] * 50.0).sum())
    assert whole["baseline_units"] == pytest.approx(base["forecast"].sum())
    assert scope["units"] == pytest.approx(scope["baseline_units"] * 0.9 ** -2.0)
    assert scope["units_change_pct"] == pytest.approx(0.9 ** -2.0 - 1)
    assert 0 < whole["units_change_pct"] < scope["units_change_pct"]    # diluted by Staples
    assert whole["units"] - whole["baseline_units"] == pytest.approx(
        scope["units"] - scope["baseline_units"])
    assert (scope["rows"], scope["skus"], scope["whole_store"]) == (56, 1, False)
    assert scope["units_lo"] <= scope["units"] <= scope["units_hi"]
    assert res.scope_label == "Snacks"


def test_scope_is_what_the_rule_covers_even_at_zero_and_everything_without_filters():
    base = _base()
    rule = PriceChange(0.0, state="Tamil Nadu", start=date(2025, 10, 20), end=date(2025, 10, 26))
    res = simulate(base, [rule])
    assert res.scope_totals["rows"] == 14 and res.scope_totals["units_change_pct"] == 0.0
    assert res.scope_label == "all SKUs in Tamil Nadu, 20-Oct-2025 to 26-Oct-2025"
    everything = simulate(base, [PriceChange(-0.05)])
    assert everything.scope_totals["whole_store"]
    assert everything.scope_totals["margin"] == pytest.approx(everything.totals["margin"])
