"""Trends and store clusters on planted effects: a real change is found, noise is not
flagged (false-positive rate near the nominal level), the what-changed decomposition adds
up exactly and attributes planted price / volume / new-item changes to the right parts,
clusters recover planted PIN groups and are stored, refreshed and PIN-scoped."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from engine.intel import IntelError
from engine.intel import clusters as C
from engine.intel import trends as T
from engine.warehouse.db import Warehouse
from engine.warehouse.scoped import ScopedWarehouse
from engine.warehouse.sql import Filters
from tests.test_auth_support import copy_warehouse


# ---- trend significance ------------------------------------------------------------------------
def _weekly(series: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    n = len(next(iter(series.values())))
    weeks = pd.date_range(end="2026-11-29", periods=n, freq="7D")
    rows = [(k, k, w, float(v)) for k, ys in series.items() for w, v in zip(weeks, ys)]
    return pd.DataFrame(rows, columns=["item", "label", "week", "revenue"]), weeks


def test_planted_rise_and_fall_are_found_and_flat_series_are_not():
    rng = np.random.default_rng(1)
    t = np.arange(26)
    series = {"rising": 1000 * np.exp(0.02 * t) * rng.lognormal(0, 0.08, 26),
              "falling": 1000 * np.exp(-0.02 * t) * rng.lognormal(0, 0.08, 26)}
    series.update({f"flat{i}": 1000 * rng.lognormal(0, 0.08, 26) for i in range(20)})
    weekly, weeks = _weekly(series)
    out = T.trend_table(weekly, weeks, None, T.TrendConfig(level="brand")).set_index("item")
    assert out.loc["rising", "status"] == "emerging"
    assert out.loc["falling", "status"] == "declining"
    assert out.loc["rising", "slope_pct_week"] == pytest.approx(0.02, abs=0.006)
    assert (out.drop(["rising", "falling"])["status"] == "steady").mean() >= 0.9
    assert "a real trend" in out.loc["rising", "reason"]


def test_false_positive_rate_on_noise_is_near_the_nominal_level():
    """400 noise series: on independent weeks the Mann-Kendall test rejects at about the
    nominal 5%; on AR(1) 0.4 weeks the autocorrelation correction brings the rate well
    below the uncorrected test's (but not to 5%: 26 weeks are few to estimate it);
    Benjamini-Hochberg across all 400 leaves almost nothing flagged."""
    rng = np.random.default_rng(7)
    p_white, p_ar, p_plain = [], [], []
    for _ in range(200):
        p_white.append(T.mann_kendall(rng.normal(100, 10, 26))[2])
        e = rng.normal(0, 10, 26)
        y = np.empty(26)
        y[0] = e[0]
        for i in range(1, 26):
            y[i] = 0.4 * y[i - 1] + e[i]
        p_ar.append(T.mann_kendall(100 + y)[2])
        p_plain.append(T.mann_kendall(100 + y, max_lag=0)[2])
    assert 0.02 <= np.mean(np.array(p_white) < 0.05) <= 0.09
    assert np.mean(np.array(p_ar) < 0.05) <= 0.16
    assert np.mean(np.array(p_ar) < 0.05) < np.mean(np.array(p_plain) < 0.05)
    assert np.mean(T.bh_adjust(p_white + p_ar) < 0.05) <= 0.02


def test_planted_trends_have_power_under_noise():
    rng = np.random.default_rng(3)
    t = np.arange(26)
    found = [T.mann_kendall(100 * np.exp(0.015 * t) * rng.lognormal(0, 0.1, 26))[2] < 0.05
             for _ in range(100)]
    assert np.mean(found) >= 0.8


def test_bad_settings_are_typed_errors():
    with pytest.raises(IntelError, match="Level must be one of") as e:
        T.TrendConfig(level="galaxy")
    assert e.value.code == "bad_level"
    with pytest.raises(IntelError, match="8 to 104 weeks"):
        T.TrendConfig(weeks=3)


# ---- what changed ------------------------------------------------------------------------------
def _items(rows):
    return pd.DataFrame(rows, columns=["period", "sku_id", "name", "pin_code", "city", "units",
                                       "revenue", "regular_revenue"])


def test_decomposition_adds_up_and_puts_planted_changes_in_their_parts():
    # A: SKU 1 at 2 PINs at ₹10 (regular 10); SKU 2 at ₹50; SKU 3 only in A (lost)
    # B: SKU 1 same units, shelf price 12 and promo 1 off (11); SKU 2 units 10 -> 20;
    #    SKU 4 new at PIN 1.
    items = _items([
        ("a", "S1", "One", "110001", "Delhi", 100, 1000, 1000),
        ("a", "S1", "One", "400001", "Mumbai", 50, 500, 500),
        ("a", "S2", "Two", "110001", "Delhi", 10, 500, 500),
        ("a", "S3", "Three", "400001", "Mumbai", 5, 100, 100),
        ("b", "S1", "One", "110001", "Delhi", 100, 1100, 1200),
        ("b", "S1", "One", "400001", "Mumbai", 50, 550, 600),
        ("b", "S2", "Two", "110001", "Delhi", 20, 1000, 1000),
        ("b", "S4", "Four", "110001", "Delhi", 7, 70, 70),
    ])
    bridge, by_sku, by_place = T.decompose(items)
    amount = bridge.set_index("step")["amount"]
    total = amount["revenue_b"] - amount["revenue_a"]
    assert amount.drop(["revenue_a", "revenue_b"]).sum() == pytest.approx(total, abs=1e-9)
    assert amount["shelf_price"] == pytest.approx(150 * 2)      # +₹2 on 150 units
    assert amount["promotion"] == pytest.approx(-150 * 1)       # ₹1 off on 150 units
    assert amount["new"] == pytest.approx(70)
    assert amount["lost"] == pytest.approx(-100)
    # +10 units of S2; at A's average price of continuing pairs (₹2000/160) plus mix
    assert amount["volume"] + amount["sku_mix"] + amount["place_mix"] == pytest.approx(500)
    assert amount["sku_mix"] > 0                                # more of the dearer SKU
    assert amount["place_mix"] == pytest.approx(0, abs=1e-9)    # one price per SKU
    for table in (by_sku, by_place):
        assert table["change"].sum() == pytest.approx(total)
        parts = table[["units_effect", "price_promo_effect", "new", "lost"]].sum(axis=1)
        assert np.allclose(parts, table["change"])
    assert by_sku.set_index("sku_id").loc["S1", "price_promo_effect"] == pytest.approx(150)


def test_what_changed_on_the_demo_adds_up_per_category(small_warehouse):
    w = T.what_changed(small_warehouse, Filters(), "Dairy", weeks=4, place="pin_code")
    steps = w.bridge["amount"].iloc[1:-1].sum()
    assert steps == pytest.approx(w.total_change, rel=1e-9, abs=1e-6)
    assert w.by_place["change"].sum() == pytest.approx(w.total_change, abs=1e-6)
    with pytest.raises(IntelError, match="no category called 'Nope'") as e:
        T.what_changed(small_warehouse, Filters(), "Nope")
    assert e.value.code == "unknown_category"


def test_trends_on_the_demo_test_every_item_over_the_window(small_warehouse):
    res = T.trends(small_warehouse, Filters(), T.TrendConfig(level="category", weeks=12))
    assert set(res.table["status"]) <= set(T.STATUSES)
    assert (res.table["weeks"] == 12).all()
    assert res.prior_start is not None            # the small demo has 450 days


# ---- clusters ----------------------------------------------------------------------------------
def _planted_weekly(seed: int = 0) -> tuple[pd.DataFrame, dict[str, int]]:
    """24 PINs in 3 planted groups by category mix (dairy-, snack- and sweets-heavy)."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range(end="2026-11-29", periods=60, freq="7D")
    mixes = [{"Dairy": 0.6, "Snacks": 0.2, "Sweets": 0.2},
             {"Dairy": 0.2, "Snacks": 0.6, "Sweets": 0.2},
             {"Dairy": 0.2, "Snacks": 0.2, "Sweets": 0.6}]
    rows, truth = [], {}
    for p in range(24):
        pin, g = f"{110001 + p}", p % 3
        truth[pin] = g
        for cat, share in mixes[g].items():
            units = rng.poisson(200 * share, len(weeks))
            price = 20 * rng.lognormal(0, 0.05, len(weeks))
            for w, u, pr in zip(weeks, units, price):
                rows.append((pin, f"{cat[:2]}1", cat, w, u, u * pr, 0))
    df = pd.DataFrame(rows, columns=["pin_code", "sku_id", "category", "week", "units",
                                     "revenue", "fest_days"])
    return df, truth


def test_clusters_recover_planted_groups_and_say_why():
    from sklearn.metrics import adjusted_rand_score

    weekly, truth = _planted_weekly()
    res = C.cluster_pins(weekly)
    labels = res.assignments.set_index("pin_code")["cluster"]
    assert res.k == 3
    assert adjusted_rand_score([truth[p] for p in labels.index], labels) == 1.0
    summary = C.cluster_summary(res.assignments)
    assert sorted(summary["n_pins"]) == [8, 8, 8]
    assert all("Dairy" in d or "Snacks" in d or "Sweets" in d for d in summary["description"])
    assert res.selection["k"].tolist() == list(range(2, 9))


def test_too_few_pins_is_a_clear_error():
    weekly, _ = _planted_weekly()
    few = weekly[weekly["pin_code"].isin(["110001", "110002", "110003"])]
    with pytest.raises(IntelError, match="at least 6 PIN codes") as e:
        C.cluster_pins(few)
    assert e.value.code == "too_few_pins"


@pytest.fixture()
def own_copy(small_warehouse_path, tmp_path):
    path = copy_warehouse(small_warehouse_path, tmp_path / "clusters.duckdb")
    wh = Warehouse(path)
    wh.apply_schema()
    yield wh
    wh.close()


def test_clusters_are_stored_refreshed_after_a_sales_write_and_scoped(own_copy):
    wh = own_copy
    rows = C.store_clusters(wh)
    assert wh.count("store_clusters") == len(rows) == wh.scalar(
        "SELECT count(DISTINCT pin_code) FROM sales_daily")
    version = wh.data_version("clusters")
    again = C.store_clusters(wh)                       # stored: no recompute
    assert wh.data_version("clusters") == version
    assert again["cluster"].tolist() == rows["cluster"].tolist()
    with wh.transaction(touches=("sales",)) as cur:    # a sales write makes it stale
        cur.execute("UPDATE sales_daily SET quantity = quantity WHERE FALSE")
    C.store_clusters(wh)
    assert wh.data_version("clusters") != version
    pins = tuple(rows["pin_code"].iloc[:2])
    scoped = ScopedWarehouse(wh, pins)
    mine = C.store_clusters(scoped)
    assert set(mine["pin_code"]) == set(pins)
    summary = C.cluster_summary(mine)
    assert summary["pins_here"].sum() == 2


def test_digest_excel_and_html_in_indian_formats(small_warehouse, tmp_path):
    import io

    from openpyxl import load_workbook

    from engine.intel.digest import build_digest, to_excel, to_html

    d = build_digest(small_warehouse, Filters(), weeks=12)
    wb = load_workbook(io.BytesIO(to_excel(d)))
    assert wb.sheetnames == ["Movers", "What changed", "Clusters"]
    ws = wb["What changed"]
    assert ws.cell(2, 1).value == "Step" and ws.cell(3, 1).value == "First period revenue"
    assert "₹" in ws.cell(3, 2).number_format and "##\\,##" in ws.cell(3, 2).number_format
    page = to_html(d)
    assert page.startswith("<!DOCTYPE html>") and "Weekly trends digest, week to" in page
    assert "₹" in page and "<script" not in page


def test_weekly_uploads_stay_weekly_and_a_planted_rise_is_found(empty_warehouse):
    """A weekly panel (one row per SKU x PIN x Wednesday): the trend weeks are the upload's
    own weeks, a SKU whose revenue rises 3% a week over the last 26 weeks is emerging,
    the flat ones are not, and what-changed adds up on weekly rows."""
    from engine.warehouse import sales_summary
    from tests import weekly_frames as W

    wh = empty_warehouse
    W.build(wh)
    start = (W.AS_OF - pd.Timedelta(weeks=25)).date()
    with wh.transaction(touches=("sales",)) as cur:
        cur.execute("UPDATE sales_daily SET quantity = quantity * exp(0.03 * date_diff('day', "
                    "?::DATE, date) / 7), revenue = revenue * exp(0.03 * date_diff('day', "
                    "?::DATE, date) / 7) WHERE sku_id = 'WK-00' AND date >= ?",
                    [start, start, start])
    weekly = sales_summary.weekly_by_level(wh, Filters(), "sku", start, W.AS_OF.date())
    assert set(weekly["week"]) == set(W.WEEKS[-26:])                 # Wednesdays, as uploaded
    out = T.trends(wh, Filters(), T.TrendConfig(level="sku", weeks=26)).table.set_index("item")
    assert out.loc["WK-00", "status"] == "emerging"
    assert (out.drop("WK-00")["status"] != "emerging").all()
    assert out.loc["WK-00", "growth_yoy"] > 0.2
    w = T.what_changed(wh, Filters(), "Snacks", weeks=4)
    assert w.bridge["amount"].iloc[1:-1].sum() == pytest.approx(w.total_change, abs=1e-6)
    assert w.bridge.set_index("step").loc["shelf_price", "amount"] == pytest.approx(0, abs=1e-6)
