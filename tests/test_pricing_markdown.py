"""Markdown optimisation (engine/pricing/markdown.py and its warehouse loaders): the DP's
path against exhaustive search on planted stock and elasticity, the rules (price endings,
cost floor, monotone), the edge cases' coded errors, which stock must go, PIN scoping."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.pricing.endings import is_allowed
from engine.pricing.markdown import (MarkdownConfig, MarkdownError, MarkdownLine,
                                     classify_lines, daily_demand, exhaustive_best,
                                     parse_shelf_life, plan_markdown, price_ladder)
from engine.pricing.service import markdown_candidates, markdown_plan
from engine.warehouse.db import Warehouse, copy_warehouse
from engine.warehouse.scoped import ScopedWarehouse

AS_OF = pd.Timestamp("2026-03-10")


def _line(stock=200.0, elasticity=-2.5, days=21, per_day=6.0, price=60.0, cost=40.0,
          kind="short_life", demand=None) -> MarkdownLine:
    demand = np.full(days, per_day) if demand is None else np.asarray(demand, float)
    return MarkdownLine("DA-0001", "110001", "Paneer 200 g", "Dairy", kind, stock, cost,
                        price, elasticity, days, AS_OF + pd.Timedelta(days=days), "planted",
                        demand)


@pytest.mark.parametrize("monotone", [True, False])
def test_dp_path_matches_exhaustive_search_on_planted_cases(monotone):
    rng = np.random.default_rng(7)
    for _ in range(25):
        days = int(rng.integers(6, 29))
        line = _line(stock=float(rng.integers(5, 500)), elasticity=-rng.uniform(0.3, 3.5),
                     days=days, price=float(rng.integers(30, 200)),
                     cost=float(rng.integers(10, 25)), demand=rng.uniform(0.5, 15, days))
        cfg = MarkdownConfig(monotone=monotone, discount_step=0.1,
                             salvage_pct=float(rng.uniform(0, 0.6)))
        plan = plan_markdown(line, cfg)
        _, best = exhaustive_best(line, cfg)
        assert plan.totals["recovered_margin"] >= best - 1e-6 * max(1.0, abs(best))


def test_elastic_perishable_overstock_is_marked_down_and_inelastic_is_not():
    elastic = plan_markdown(_line(elasticity=-3.0), MarkdownConfig())
    t = elastic.totals
    assert elastic.steps["price"].iat[0] < 60.0
    assert t["gain"] > 0 and t["sold"] > t["keep_price_sold"]
    assert t["recovered_margin"] == pytest.approx(t["revenue"] + t["salvage"] - t["cost"])
    assert elastic.steps["units"].sum() == pytest.approx(t["sold"])
    assert t["left"] == pytest.approx(elastic.steps["stock_left"].iat[-1])
    # |elasticity| < 1: a cut lowers revenue and sells few more units; salvage is 0 anyway
    inelastic = plan_markdown(_line(elasticity=-0.4), MarkdownConfig())
    assert (inelastic.steps["price"] == 60.0).all() and inelastic.totals["gain"] == 0


def test_path_uses_price_endings_never_goes_back_up_and_says_why():
    plan = plan_markdown(_line(elasticity=-3.0, price=63.0), MarkdownConfig(step_days=5))
    prices = plan.steps["price"].to_numpy()
    assert is_allowed(prices[prices != 63.0], "retail").all()
    assert (np.diff(prices) <= 1e-9).all()
    assert plan.steps["days"].sum() == 21 and len(plan.steps) == 5
    assert plan.reason.startswith("Short shelf life: planted. Sell 200 units in 21 days at ₹")
    assert "Recovered margin ₹" in plan.reason


def test_monotone_never_raises_and_the_free_path_is_no_worse():
    demand = np.r_[np.full(7, 4.0), np.full(7, 40.0), np.full(7, 3.0)]   # a festival week
    line = _line(stock=600.0, elasticity=-2.0, days=21, demand=demand)
    free = plan_markdown(line, MarkdownConfig(monotone=False, discount_step=0.02))
    mono = plan_markdown(line, MarkdownConfig(monotone=True, discount_step=0.02))
    assert free.totals["recovered_margin"] >= mono.totals["recovered_margin"] - 1e-9
    assert (np.diff(mono.steps["price"]) <= 0).all()
    assert mono.totals["gain"] > 0


def test_cost_floor_holds_unless_below_cost_is_allowed():
    line = _line(stock=400.0, elasticity=-3.0, price=50.0, cost=45.0)
    floor = plan_markdown(line, MarkdownConfig())
    assert (floor.steps["price"] >= 45.0).all()
    assert price_ladder(50.0, 45.0, MarkdownConfig()).min() >= 45.0
    below = plan_markdown(line, MarkdownConfig(allow_below_cost=True))
    assert below.steps["price"].min() < 45.0
    assert below.totals["recovered_margin"] > floor.totals["recovered_margin"]
    assert "no price below the unit cost of ₹45" in floor.reason
    under = plan_markdown(_line(stock=400.0, elasticity=-3.0, price=50.0, cost=52.0))
    assert (under.steps["price"] == 50.0).all()
    assert "today's price is already below the unit cost of ₹52" in under.reason


def test_edge_cases_raise_coded_errors_with_evidence():
    with pytest.raises(MarkdownError, match="no price elasticity estimate") as exc:
        plan_markdown(_line(elasticity=float("nan")))
    assert exc.value.code == "no_elasticity"
    with pytest.raises(MarkdownError, match="no stock on hand") as exc:
        plan_markdown(_line(stock=0.0))
    assert exc.value.code == "no_stock"
    with pytest.raises(MarkdownError, match="past their last selling day") as exc:
        plan_markdown(_line(days=0))
    assert exc.value.code == "expired" and exc.value.evidence["units"] == 200.0
    with pytest.raises(MarkdownError, match="a step of 0 days") as exc:
        plan_markdown(_line(), MarkdownConfig(step_days=0))
    assert exc.value.code == "bad_settings"


def test_shelf_life_overrides_parse_or_name_the_bad_part():
    assert parse_shelf_life("Dairy=5, Bakery = 3\nMeat & Fish=2") == (
        ("Dairy", 5), ("Bakery", 3), ("Meat & Fish", 2))
    assert parse_shelf_life("") == ()
    with pytest.raises(MarkdownError, match="'Dairy five' should be CATEGORY=DAYS") as exc:
        parse_shelf_life("Bakery=3, Dairy five")
    assert exc.value.code == "bad_settings"


def _calendar() -> tuple[pd.DataFrame, pd.DataFrame]:
    cal = pd.DataFrame({"name": ["Diwali", "Holi", "Raksha Bandhan"],
                        "date": pd.to_datetime(["2025-10-20", "2026-03-04", "2026-08-28"]),
                        "states": ["ALL", "ALL", "ALL"], "pre_days": [21, 10, 7],
                        "post_days": [3, 1, 1]})
    eff = pd.DataFrame({"name": ["Diwali", "Holi", "Raksha Bandhan", "Holi"],
                        "category": ["Festive Gifts", "Holi Colours", "Festive Gifts",
                                     "Snacks"], "multiplier": [2.8, 5.0, 2.0, 1.5]})
    return cal, eff


def test_which_stock_must_go_short_life_and_after_the_season():
    cal, eff = _calendar()
    lines = pd.DataFrame({
        "sku_id": ["A", "B", "C", "D", "E"], "pin_code": ["110001"] * 5,
        "category": ["Dairy", "Dairy", "Holi Colours", "Festive Gifts", "Snacks"],
        "state": ["Delhi"] * 5, "shelf_life_days": [3, np.nan, 720, 240, 120],
        "snapshot_date": pd.to_datetime(["2026-03-09"] * 5), "on_hand": [10.0] * 5})
    out = classify_lines(lines, cal, eff, AS_OF, MarkdownConfig(shelf_life=(("Dairy", 5),)))
    assert out["kind"].tolist() == ["short_life", "short_life", "end_of_season", None, None]
    assert out["days_left"].tolist()[:3] == [2, 4, 37]   # 09-Mar + 3 / + 5; Holi 05-Mar + 42
    assert "(catalog)" in out["why"][0] and "(category default)" in out["why"][1]
    assert out["why"][2] == "Holi season ended 05-Mar; clear by 16-Apr (42 days after)"
    # a longer clearance window, and a threshold that makes Snacks (Holi 1.5x) seasonal
    wide = classify_lines(lines, cal, eff, AS_OF, MarkdownConfig(clearance_days=60,
                                                                 season_multiplier=1.5))
    assert wide["kind"].tolist()[2:] == ["end_of_season", None, "end_of_season"]
    assert wide["days_left"].tolist()[2] == 55
    # past the clearance window: not a markdown candidate any more (hold for next season)
    late = classify_lines(lines, cal, eff, pd.Timestamp("2026-05-01"))
    assert late["kind"].tolist()[2:] == [None, None, None]
    # Festive Gifts after Raksha Bandhan, with Diwali's pre window before the deadline: hold
    gifts = classify_lines(lines.iloc[[3]], pd.concat([cal, pd.DataFrame({
        "name": ["Diwali"], "date": pd.to_datetime(["2026-10-15"]), "states": ["ALL"],
        "pre_days": [21], "post_days": [3]})]), eff, pd.Timestamp("2026-09-10"))
    assert gifts["kind"].tolist() == [None]


def test_daily_demand_spreads_weekly_rows_and_extends_past_the_horizon():
    keys = pd.DataFrame({"sku_id": ["A", "B"], "pin_code": ["110001", "110001"]})
    weekly = pd.DataFrame({"sku_id": ["A", "A"], "pin_code": ["110001"] * 2,
                           "date": pd.to_datetime(["2026-03-11", "2026-03-18"]),
                           "forecast": [70.0, 14.0]})
    out = daily_demand(weekly, keys, AS_OF, 21)
    assert out[0, :7].tolist() == [10.0] * 7 and out[0, 7:14].tolist() == [2.0] * 7
    assert out[0, 14:].tolist() == [2.0] * 7 and out[1].sum() == 0


@pytest.fixture(scope="module")
def md_warehouse(small_warehouse_path, tmp_path_factory):
    dst = tmp_path_factory.mktemp("md") / "md.duckdb"
    copy_warehouse(small_warehouse_path, dst)
    wh = Warehouse(dst)
    yield wh
    wh.close()


def _as_of(wh) -> date:
    return pd.Timestamp(wh.scalar("SELECT max(snapshot_date) FROM inventory")).date()


def test_demo_warehouse_has_short_life_candidates_with_plans(md_warehouse):
    as_of = _as_of(md_warehouse)
    cands, label = markdown_candidates(md_warehouse, as_of)
    short = cands[cands["kind"] == "short_life"]
    assert len(short) >= 3 and "baseline" in label
    assert set(short["category"]) <= {"Dairy", "Fresh Vegetables", "Sweets"}
    assert (cands["excess_units"] >= 1).all() and cands["value_at_risk"].is_monotonic_decreasing
    assert (cands["first_price"] <= cands["price"] + 1e-9).all()
    r = cands.iloc[0]
    plan, _ = markdown_plan(md_warehouse, r["sku_id"], r["pin_code"], as_of)
    assert plan.totals["stock"] == r["on_hand"] and plan.line.days_left == r["days_left"]
    shelf = md_warehouse.query(      # today's price is the line's own regular price
        "SELECT coalesce(regular_price, price) AS p FROM sales_daily WHERE sku_id = ? AND "
        "pin_code = ? ORDER BY date DESC LIMIT 1", [r["sku_id"], r["pin_code"]])["p"].iat[0]
    assert plan.line.price == pytest.approx(shelf)
    assert plan.totals["gain"] == pytest.approx(r["gain"])


def test_plan_errors_for_a_line_that_is_not_markdown_stock(md_warehouse):
    as_of = _as_of(md_warehouse)
    lines = md_warehouse.query("SELECT i.sku_id, i.pin_code FROM inventory i JOIN skus s "
                               "USING (sku_id) WHERE s.category = 'Staples' AND i.on_hand > 0 "
                               "ORDER BY 1, 2 LIMIT 1")
    sku, pin = lines.iloc[0]
    with pytest.raises(MarkdownError) as exc:
        markdown_plan(md_warehouse, sku, pin, as_of)
    assert exc.value.code == "not_markdown_stock"
    plan, _ = markdown_plan(md_warehouse, sku, pin, as_of, MarkdownConfig(days_left=14))
    assert plan.line.kind == "clearance" and plan.steps["days"].sum() == 14


def test_store_users_see_and_plan_only_their_pin_codes(md_warehouse):
    as_of = _as_of(md_warehouse)
    everyone, _ = markdown_candidates(md_warehouse, as_of)
    pin = everyone["pin_code"].iloc[0]
    other = everyone[everyone["pin_code"] != pin].iloc[0]
    scoped = ScopedWarehouse(md_warehouse, [pin])
    mine, _ = markdown_candidates(scoped, as_of)
    assert len(mine) and set(mine["pin_code"]) == {pin}
    with pytest.raises(MarkdownError) as exc:
        markdown_plan(scoped, other["sku_id"], other["pin_code"], as_of)
    assert exc.value.code == "no_inventory"


def test_a_line_without_sales_has_no_elasticity_and_says_so(small_warehouse_path, tmp_path):
    dst = tmp_path / "new_sku.duckdb"
    copy_warehouse(small_warehouse_path, dst)
    wh = Warehouse(dst)
    try:
        pin = wh.scalar("SELECT min(pin_code) FROM inventory")
        snap = wh.scalar("SELECT max(snapshot_date) FROM inventory")
        with wh.transaction() as cur:
            cur.execute("INSERT INTO skus (sku_id, name, category, unit_cost, mrp, "
                        "shelf_life_days) VALUES ('DA-9999', 'New Lassi 200 ml', 'Dairy', "
                        "12, 20, 5)")
            cur.execute("INSERT INTO inventory (sku_id, pin_code, on_hand, snapshot_date) "
                        "VALUES ('DA-9999', ?, 40, ?)", [pin, snap])
        as_of = pd.Timestamp(snap).date()
        with pytest.raises(MarkdownError, match="has no price elasticity estimate") as exc:
            markdown_plan(wh, "DA-9999", pin, as_of)
        assert exc.value.code == "no_elasticity"
        assert exc.value.evidence == {"sku_id": "DA-9999", "pin_code": pin}
        cands, _ = markdown_candidates(wh, as_of)      # listed, without a plan
        row = cands[cands["sku_id"] == "DA-9999"].iloc[0]
        assert row["excess_units"] == 40 and pd.isna(row["first_price"])
    finally:
        wh.close()
