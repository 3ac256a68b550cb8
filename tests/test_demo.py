"""The demo generator: deterministic, realistic shape, and the planted effects are really
in the generated data (tested against `demo_truth` and the festival tables, never against
numbers copied from a run)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.categories import CATEGORIES, WEATHER_RESPONSE
from engine.demo import COLUMNS, DemoConfig, generate, load_demo
from engine.geo import pin_reference
from engine.signals.festivals import festival_uplift
from engine.warehouse.locations import is_valid_pin

END = date(2025, 12, 31)   # fixed so the Diwali 2025 window and a full year are inside


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return generate(DemoConfig.small(end_date=END))


@pytest.fixture(scope="module")
def sales(frames) -> pd.DataFrame:
    """sales_daily with category, city and state attached."""
    return (frames["sales_daily"]
            .merge(frames["skus"][["sku_id", "category"]], on="sku_id")
            .merge(frames["locations"][["pin_code", "city", "state"]], on="pin_code"))


# ---- determinism ----------------------------------------------------------------------------
def test_same_seed_gives_identical_frames(frames):
    again = generate(DemoConfig.small(end_date=END))
    assert again.keys() == frames.keys()
    for name in frames:
        pd.testing.assert_frame_equal(again[name], frames[name], obj=name)


def test_different_seed_gives_different_data(frames):
    other = generate(DemoConfig.small(seed=7, end_date=END))
    assert not other["demo_truth"]["elasticity"].equals(frames["demo_truth"]["elasticity"])
    assert other["sales_daily"]["quantity"].sum() != frames["sales_daily"]["quantity"].sum()
    assert set(other["locations"]["pin_code"]) != set(frames["locations"]["pin_code"])


# ---- shape --------------------------------------------------------------------------------
# Warehouse columns the demo leaves NULL: uploaded files' promotion kinds, regular price and
# cost (the demo's promotions are the `promo` flag alone).
LEFT_NULL = {"sales": ["regular_price", "unit_cost", "feature", "display", "tpr"],
             "sales_daily": ["unit_cost", "feature", "display", "tpr"]}


def test_frames_have_exactly_the_warehouse_columns(frames, empty_warehouse):
    for table, df in frames.items():
        cols = empty_warehouse.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
            [table])["column_name"].tolist()
        assert list(df.columns) + LEFT_NULL.get(table, []) == cols, table
        assert list(df.columns) == COLUMNS[table], table


def test_small_preset_covers_states_categories_and_series(frames):
    loc, skus = frames["locations"], frames["skus"]
    states = set(loc["state"])
    assert {"Delhi", "Maharashtra"} <= states and states & {"West Bengal", "Tamil Nadu"}
    assert len(states) >= 3 and len(loc) == 12
    assert set(skus["category"]) == set(CATEGORIES)
    assert 150 <= len(frames["inventory"]) <= 250
    sd = frames["sales_daily"]
    assert sd["date"].max() == pd.Timestamp(END)
    assert sd["date"].min() >= pd.Timestamp(END) - pd.Timedelta(days=449)
    assert (sd["quantity"] > 0).all(), "zero-demand days must be omitted"
    assert not sd.duplicated(["sku_id", "pin_code", "date"]).any()


def test_every_pin_is_a_real_pin_with_reference_geography(frames):
    loc = frames["locations"]
    ref = pin_reference().set_index("pin_code")
    assert loc["pin_code"].map(is_valid_pin).all()
    assert loc["pin_code"].isin(ref.index).all()
    joined = loc.join(ref, on="pin_code", rsuffix="_ref")
    for col in ("district", "state", "region", "lat", "lon", "locality"):
        assert (joined[col] == joined[f"{col}_ref"]).all(), col
    assert (loc["store_id"] == "ST-" + loc["pin_code"]).all()
    assert set(frames["sales_daily"]["pin_code"]) <= set(loc["pin_code"])


def test_sales_daily_equals_sales_aggregated(frames):
    s, sd = frames["sales"], frames["sales_daily"]
    assert s["transaction_id"].isna().all() and (s["batch_id"] == "demo").all()
    agg = s.groupby(["sku_id", "pin_code", "date"], as_index=False).agg(
        quantity=("quantity", "sum"), price=("price", "mean"), promo=("promo", "max"))
    merged = agg.merge(sd, on=["sku_id", "pin_code", "date"], suffixes=("", "_d"),
                       validate="one_to_one")
    assert len(merged) == len(sd) == len(agg)
    assert np.allclose(merged["quantity"], merged["quantity_d"])
    assert np.allclose(merged["price"], merged["price_d"])
    assert (merged["promo"] == merged["promo_d"]).all()
    assert np.allclose(sd["revenue"], sd["quantity"] * sd["price"], atol=0.01)


def test_prices_respect_mrp_and_promotions_are_discounts(frames):
    skus, sd = frames["skus"], frames["sales_daily"]
    ratio = skus["unit_cost"] / skus["mrp"]
    assert ratio.between(0.55, 0.85).all()
    d = sd.merge(skus[["sku_id", "mrp"]], on="sku_id")
    assert (d["regular_price"] <= d["mrp"] + 1e-9).all()
    assert (d["price"] <= d["regular_price"] + 1e-9).all()
    promo = d[d["promo"]]
    off = 1 - promo["price"] / promo["regular_price"]
    assert len(promo) and off.between(0.02, 0.23).all()
    changes = sd.groupby("sku_id")["regular_price"].nunique()
    assert (changes >= 2).mean() > 0.8, "most SKUs should have regular price changes"


def test_truth_elasticities_are_category_typical(frames):
    truth = frames["demo_truth"]
    assert truth["elasticity"].between(-2.5, -0.3).all()
    by_cat = truth.groupby("category")["elasticity"].mean()
    assert by_cat["Snacks"] < by_cat["Dairy"] and by_cat["Cold Beverages"] < by_cat["Staples"]
    assert set(truth["sku_id"]) == set(frames["skus"]["sku_id"])


# ---- planted effects ----------------------------------------------------------------------
def test_diwali_window_sweets_exceed_baseline_by_planted_factor(frames, sales):
    cal, eff = frames["festivals"], frames["festival_effects"]
    diwali = cal[(cal["name"] == "Diwali") & (cal["date"].dt.year == 2025)].iloc[0]
    day = diwali["date"]
    window = pd.date_range(day - pd.Timedelta(days=int(diwali["pre_days"])),
                           day + pd.Timedelta(days=int(diwali["post_days"])))
    base = pd.date_range(window[0] - pd.Timedelta(days=28), window[0] - pd.Timedelta(days=1))
    sweets = sales[sales["category"] == "Sweets"]
    observed_window = observed_base = expected_window = 0.0
    for state, rows in sweets.groupby("state"):     # Diwali is celebrated in every state
        daily = rows.groupby("date")["quantity"].sum()
        in_window = daily.reindex(window, fill_value=0).mean()
        in_base = daily.reindex(base, fill_value=0).mean()

        def planted(days):
            grid = pd.DataFrame({"date": days, "state": state, "category": "Sweets"})
            return festival_uplift(grid, cal, eff).mean()

        ratio = planted(window) / planted(base)
        assert ratio > 1.5, state
        observed_window += in_window
        observed_base += in_base
        expected_window += in_base * ratio
    assert observed_base > 0
    assert observed_window / observed_base == pytest.approx(expected_window / observed_base,
                                                            rel=0.3)


def test_cold_beverages_rise_with_temperature_and_tea_falls(frames, sales):
    daily = sales.pivot_table(index=["city", "date"], columns="category", values="quantity",
                              aggfunc="sum", fill_value=0).reset_index()
    daily = daily.merge(frames["weather"], on=["city", "date"])
    # Within-city correlation (cities differ in level), averaged over cities.
    corr = {c: np.mean([np.corrcoef(g[c], g["temp_c"])[0, 1] for _, g in daily.groupby("city")
                        if g[c].sum() > 0])
            for c in ("Cold Beverages", "Ice Cream", "Tea & Coffee")}
    assert corr["Cold Beverages"] > 0.2 and corr["Ice Cream"] > 0.2
    assert corr["Tea & Coffee"] < -0.05
    truth = frames["demo_truth"].groupby("category")["temp_effect_per_c"].mean()
    for cat in CATEGORIES:
        expected_sign = {"hot": 1, "cold": -1}.get(WEATHER_RESPONSE.get(cat), 0)
        assert np.sign(truth[cat]) == expected_sign, cat


def test_promo_days_recover_planted_elasticity(frames):
    sd, truth = frames["sales_daily"], frames["demo_truth"].set_index("sku_id")
    days = pd.date_range(sd["date"].min(), sd["date"].max())
    estimates = []
    for sku, g in sd.groupby("sku_id"):
        if truth.at[sku, "intermittent"]:
            continue
        by_day = g.groupby("date").agg(q=("quantity", "sum"), p=("price", "mean"),
                                       reg=("regular_price", "mean"), promo=("promo", "max"))
        by_day = by_day.reindex(days)
        q = by_day["q"].fillna(0.0)
        promo = by_day["promo"].eq(True)
        relative = (by_day["p"] / by_day["reg"]).fillna(1.0)
        baseline = q.where(~promo).rolling(29, center=True, min_periods=10).mean()
        use = promo & (baseline > 0)
        if use.sum() < 5:
            continue
        slope = np.log(q[use].mean() / baseline[use].mean()) / np.log(relative[use].mean())
        estimates.append((slope, truth.at[sku, "elasticity"]))
    est, planted = np.array(estimates).T
    assert len(est) >= 15
    assert np.median(est) < 0
    assert abs(np.median(est - planted)) < 0.4
    assert np.corrcoef(est, planted)[0, 1] > 0.15


def test_weekend_uplift_matches_truth(sales, frames):
    truth = frames["demo_truth"].groupby("category")["weekend_uplift"].mean()
    dow = sales["date"].dt.dayofweek
    by_cat = sales.groupby([sales["category"], dow])["quantity"].sum().unstack()
    observed = by_cat[[5, 6]].mean(axis=1) / by_cat[[0, 1, 2, 3]].mean(axis=1) - 1
    for cat in ("Cold Beverages", "Dairy", "Snacks", "Staples"):
        assert observed[cat] == pytest.approx(truth[cat], abs=0.08), cat


def test_long_tail_and_new_skus_exist(frames):
    sd, truth = frames["sales_daily"], frames["demo_truth"]
    n_days = sd["date"].nunique()
    tail = truth.loc[truth["intermittent"], "sku_id"]
    assert len(tail) >= 2
    per_series = sd.groupby(["sku_id", "pin_code"]).size()
    tail_share = per_series[per_series.index.get_level_values(0).isin(tail)] / n_days
    assert tail_share.median() < 0.5, "long-tail series should have many zero days"
    first = sd.groupby("sku_id")["date"].min()
    assert (first > sd["date"].min() + pd.Timedelta(days=120)).any(), "no SKU launched later"


def test_weather_follows_regional_climate(frames):
    wx = frames["weather"].assign(month=lambda d: d["date"].dt.month)
    delhi = wx[wx["city"] == "Delhi"].groupby("month")
    assert delhi["temp_max_c"].mean()[[5, 6]].mean() > 37
    assert delhi["temp_min_c"].mean()[1] < 10
    rain = wx.groupby(["city", "month"])["rainfall_mm"].mean().unstack()
    assert rain.loc["Mumbai", [6, 7, 8, 9]].mean() > 5 * rain.loc["Mumbai", [1, 2, 3, 4]].mean()
    # Chennai gets the north-east monsoon (Oct-Dec); Mumbai and Delhi the south-west one.
    ne_share = rain[[10, 11, 12]].mean(axis=1) / rain[[6, 7, 8, 9]].mean(axis=1)
    assert ne_share["Chennai"] > 3 * max(ne_share["Mumbai"], ne_share["Delhi"])
    assert (wx["temp_min_c"] < wx["temp_max_c"]).all() and (wx["rainfall_mm"] >= 0).all()


def test_inventory_snapshot_has_short_and_overstocked_lines(frames):
    inv = frames["inventory"]
    assert not inv.duplicated(["sku_id", "pin_code"]).any()
    assert inv["lead_time_days"].between(2, 14).all() and (inv["on_hand"] >= 0).all()
    assert (inv["moq"] % inv["case_pack"] == 0).all()
    assert set(inv["case_pack"]) & {6, 12, 24}
    sd = frames["sales_daily"]
    last_4_weeks = sd[sd["date"] > pd.Timestamp(END) - pd.Timedelta(days=28)]
    recent = last_4_weeks.groupby(["sku_id", "pin_code"])["quantity"].sum() / 28
    lines = inv.set_index(["sku_id", "pin_code"])
    cover = (lines["on_hand"] / recent.reindex(lines.index)).dropna()
    assert (cover < lines.loc[cover.index, "lead_time_days"]).any()
    assert (cover > 45).any()


def test_mandi_prices_have_agmarknet_shape_and_crop_cycle(frames):
    mp, mandis = frames["mandi_prices"], frames["mandis"]
    assert mp["commodity"].nunique() >= 8 and mp["market"].nunique() >= 15
    assert set(mp["market"]) == set(mandis["market"])
    assert (mp[["min_price", "max_price", "modal_price", "arrivals_tonnes"]] > 0).all().all()
    assert ((mp["min_price"] <= mp["modal_price"]) & (mp["modal_price"] <= mp["max_price"])).all()
    assert not mp.duplicated(["market", "commodity", "date"]).any()
    days = mp["date"].nunique()
    per_series = mp.groupby(["market", "commodity"]).size()
    assert (per_series < days).all(), "every market misses some days"
    assert mandis["lat"].between(8, 30).all() and mandis["lon"].between(70, 90).all()
    assert mandis[["quality_index", "reliability_index"]].apply(
        lambda c: c.between(0, 1)).all().all()
    onion = mp[mp["commodity"] == "Onion"].assign(month=lambda d: d["date"].dt.month)
    monthly = onion.groupby("month")["modal_price"].median()
    assert monthly[[9, 10, 11, 12]].mean() > 1.3 * monthly[[3, 4, 5]].mean()


def test_scale_grows_pins_and_skus():
    cfg = DemoConfig(scale=5)
    assert cfg.effective_pins_per_city() == 30
    assert cfg.effective_skus() >= 400


# ---- loading ------------------------------------------------------------------------------
def _snapshot(wh) -> dict:
    return {t: wh.count(t) for t in COLUMNS} | {
        "qty": wh.scalar("SELECT sum(quantity) FROM sales_daily")}


def test_load_demo_writes_every_table_and_bumps_data_version(empty_warehouse, frames):
    before = empty_warehouse.data_version()
    result = load_demo(empty_warehouse, DemoConfig.small(end_date=END))
    assert empty_warehouse.data_version() != before
    for table, df in frames.items():
        assert result[table] == len(df) == empty_warehouse.count(table), table
    assert result["seconds"] >= result["generate_seconds"]
    assert empty_warehouse.scalar("SELECT count(*) FROM audit_log WHERE action = 'load_demo'") == 1


def test_load_demo_is_one_transaction(empty_warehouse, monkeypatch):
    wh = empty_warehouse
    load_demo(wh, DemoConfig.small(seed=3, end_date=END))
    before, version = _snapshot(wh), wh.data_version()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(wh, "audit", boom)   # fails after every table was replaced
    with pytest.raises(RuntimeError, match="disk full"):
        load_demo(wh, DemoConfig.small(seed=4, end_date=END))
    assert _snapshot(wh) == before
    assert wh.data_version() == version
