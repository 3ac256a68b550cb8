"""Competitor prices end to end below the UI: product matching (pack sizes, Hinglish,
brands, typos, other sizes and other brands), the lossless upload with bad rows, re-upload
and rollback, remembered match decisions, PIN scoping of every read, the price index, the
optimiser's competitor rules, the undercut alert and the competitive cross-elasticity on a
planted effect, and the CLI contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.alerts import generate_alerts, list_alerts
from engine.alerts_detect import competitor_undercut
from engine.alerts_rules import RULES, RuleConfig
from engine.ingest.load import ingest_bytes
from engine.pricing.competitive import competitive_elasticities
from engine.pricing.competitor_match import MatchConfig, describe, match_items, parse_pack
from engine.pricing.competitors import price_index
from engine.pricing.optimize import InfeasiblePricingError, OptimizeConfig, optimize_prices
from engine.pricing.synthetic import synthetic_sales
from engine.warehouse import competitors as cs
from engine.warehouse.db import Warehouse
from engine.warehouse.ingest_batches import rollback_batch
from engine.warehouse.scoped import ScopedWarehouse
from tests.test_auth_support import copy_warehouse

REPO = Path(__file__).resolve().parents[1]
CATALOG = pd.DataFrame([
    ("OI-1", "Fortune Soyabean Oil 1 L", "Fortune", 150.0),
    ("OI-2", "Fortune Soyabean Oil 5 L", "Fortune", 700.0),
    ("OI-3", "Saffola Gold Blended Oil 1 L", "Saffola", 210.0),
    ("DA-1", "Amul Taaza Toned Milk 500 ml", "Amul", 28.0),
    ("DA-2", "Amul Butter 100 g", "Amul", 56.0),
    ("SN-1", "Haldiram's Aloo Bhujia 400 g", "Haldiram's", 105.0),
    ("SN-2", "Haldiram's Aloo Bhujia 1 kg", "Haldiram's", 240.0),
    ("CB-1", "Thums Up 2 L", "Thums Up", 95.0),
    ("ST-1", "Tata Sampann Masoor Dal 1 kg", "Tata Sampann", 150.0),
    ("FG-1", "Diya Decor Clay Diya Set 12 pc", "Diya Decor", 149.0),
], columns=["sku_id", "name", "brand", "mrp"])


# ---- matching --------------------------------------------------------------------------------
@pytest.mark.parametrize("text,dim,amount", [
    ("Fortune Oil 1 L", "ml", 1000), ("Fortune Oil 1000 ml", "ml", 1000),
    ("Fortune Oil 1ltr", "ml", 1000), ("Fortune Oil 1 ltr Pouch", "ml", 1000),
    ("Bhujia 500g", "g", 500), ("Bhujia 0.5 kg", "g", 500), ("Bhujia 1/2 kg", "g", 500),
    ("Aadha kilo Bhujia", "g", 500), ("Chai Patti Pav Kilo", "g", 250),
    ("Lux Soap 3x100g", "g", 300), ("Diya Set 12 pcs", "pc", 12)])
def test_pack_sizes_are_read_in_base_units(text, dim, amount):
    size, _ = parse_pack(text)
    assert size is not None and size.dim == dim and size.amount == pytest.approx(amount)


@pytest.mark.parametrize("name,sku", [
    ("Fortune Soya Bean Tel 1000ml Pouch", "OI-1"),      # Hinglish, pack in ml
    ("FORTUNE SOYABEAN OIL 5LTR JAR", "OI-2"),          # the 5 L, not the 1 L
    ("Amul Taaza Doodh 0.5 ltr", "DA-1"),
    ("Amul Makhan 100gm", "DA-2"),
    ("Haldirams Aloo Bhujia 1kg", "SN-2"),              # brand without apostrophe, size picks
    ("Haldiram's Aloo Bhujiaa 400 Grams", "SN-1"),      # typo
    ("Thumsup Soft Drink 2 Ltr", "CB-1"),               # brand spacing
    ("Clay Diya Set 12 Nos - Diya Decor", "FG-1"),      # order
])
def test_matching_finds_our_sku_with_confidence(name, sku):
    m = match_items(pd.DataFrame({"item_name": [name]}), CATALOG).iloc[0]
    assert m["sku_id"] == sku and m["status"] == "auto", m.to_dict()


@pytest.mark.parametrize("name", [
    "Fortune Soyabean Oil 2 L",            # a pack size we do not sell
    "Tata Sampann Moong Dal 1 kg",         # our brand, another product
    "Patanjali Cow Ghee 1 L",              # not our brand
    "Saffola Active Oil 1 L"])
def test_matching_does_not_auto_accept_what_is_not_ours(name):
    m = match_items(pd.DataFrame({"item_name": [name]}), CATALOG).iloc[0]
    assert m["status"] != "auto", m.to_dict()


def test_matching_a_size_contradiction_never_reaches_review():
    m = match_items(pd.DataFrame({"item_name": ["Amul Butter 500 g"]}), CATALOG).iloc[0]
    assert m["status"] == "none" and "pack 500 g vs" in m["why"]


def test_price_far_above_mrp_lowers_confidence():
    same = pd.DataFrame({"item_name": ["Amul Butter 100 g"] * 2, "price": [52.0, 400.0]})
    a = match_items(same.iloc[[0]], CATALOG).iloc[0]["confidence"]
    b = match_items(same.iloc[[1]], CATALOG).iloc[0]["confidence"]
    assert b < a


def test_words_map_hinglish_and_abbreviations_on_both_sides():
    assert describe("Sarson Ka Tel 1 Ltr")[0] == "mustard oil"
    assert describe("Choc Bisc 75 g")[0] == "chocolate biscuit"


# ---- upload ----------------------------------------------------------------------------------
@pytest.fixture()
def wh(small_warehouse_path, tmp_path):
    w = Warehouse(copy_warehouse(small_warehouse_path, tmp_path / "comp.duckdb"))
    yield w
    w.close()


def _our(wh, n=0):
    return wh.query("SELECT sku_id, name, mrp FROM skus ORDER BY sku_id LIMIT 1 OFFSET ?",
                    [n]).iloc[0]


def _feed(wh) -> tuple[bytes, dict]:
    a, b = _our(wh), _our(wh, 1)
    pin = wh.scalar("SELECT min(pin_code) FROM locations")
    city = wh.scalar("SELECT city FROM locations WHERE pin_code = ?", [pin])
    lines = [
        f"BigBasket,{a['name'].upper()},,{city.lower()},2026-11-02,{a['mrp'] - 2:g},yes",  # 2
        f"DMart,{b['name']},{pin},,2026-11-02,{b['mrp'] - 3:g},",                          # 3
        f"DMart,,,{city},2026-11-02,10,1",                        # 4 missing_item
        f"DMart,{a['name']},,,2026-11-02,10,1",                   # 5 missing_place
        f"DMart,{a['name']},560001,,2026-11-02,10,1",             # 6 unknown_pin
        f"DMart,{a['name']},,Atlantis,2026-11-02,10,1",           # 7 unknown_city
        f"DMart,{a['name']},,{city},2026-11-02,-4,1",             # 8 price_not_positive
        f"DMart,{a['name']},,{city},2099-11-02,10,1",             # 9 future_date
        f"DMart,{a['name']},,{city},2026-11-02,10,maybe",         # 10 bad_flag
        f"BigBasket,{a['name'].upper()},,{city.lower()},2026-11-02,{a['mrp'] - 2:g},yes",  # 11 dup
        f"Kirana,Nutella Hazelnut Spread 350 g,,{city},2026-11-02,349,Y",                 # 12
    ]
    head = "Retailer,Product Name,Pincode,City,Observed On,Selling Price,Available"
    return (head + "\n" + "\n".join(lines) + "\n").encode(), {"a": a, "b": b, "pin": pin,
                                                               "city": city}


def test_upload_keeps_every_row_and_says_why(wh):
    data, ctx = _feed(wh)
    res = ingest_bytes(wh, "competitor", data, "rivals.csv")
    assert res.rows_read == 11
    assert res.rows_read == res.rows_loaded + res.rows_quarantined + res.duplicates_skipped
    assert res.rows_loaded == 3
    q = wh.query("SELECT line_no, reason_code FROM quarantine WHERE batch_id = ? "
                 "ORDER BY line_no", [res.batch_id])
    assert dict(zip(q["line_no"], q["reason_code"])) == {
        4: "missing_item", 5: "missing_place", 6: "unknown_pin", 7: "unknown_city",
        8: "price_not_positive", 9: "future_date", 10: "bad_flag", 11: "duplicate_line"}
    rows = wh.query("SELECT competitor, pin_code, city, in_stock FROM competitor_prices "
                    "WHERE batch_id = ? ORDER BY row_no", [res.batch_id])
    assert rows["city"].tolist() == [ctx["city"]] * 3      # canonical city, from the PIN too
    assert rows["in_stock"].all()                          # blank in_stock = in stock
    m = res.report["matching"]
    assert m["items"] == 3 and m["none"] == 1


def test_reupload_loads_nothing_twice_and_rollback_keeps_decisions(wh):
    data, ctx = _feed(wh)
    first = ingest_bytes(wh, "competitor", data, "rivals.csv")
    again = ingest_bytes(wh, "competitor", data, "rivals.csv")
    assert again.status == "duplicate_file" and again.rows_loaded == 0
    overlap = data.replace(b"Selling Price", b"Price")      # another file, the same rows
    third = ingest_bytes(wh, "competitor", overlap, "rivals-2.csv")
    assert third.rows_loaded == 0 and third.duplicates_skipped >= 3
    key = " ".join(ctx["a"]["name"].upper().lower().split())
    assert cs.decide_match(wh, key, ctx["b"]["sku_id"], "asha") == "corrected"
    out = rollback_batch(wh, first.batch_id, "asha")
    assert out["rows_deleted"] == 3
    assert wh.scalar("SELECT count(*) FROM competitor_prices WHERE batch_id = ?",
                     [first.batch_id]) == 0
    # the decision is remembered: the next upload of the item reuses it
    res = ingest_bytes(wh, "competitor", overlap.replace(b"Observed On", b"Date"), "rivals-3.csv")
    assert res.rows_loaded == 3 and res.report["matching"]["remembered"] == 3
    assert wh.scalar("SELECT sku_id FROM competitor_matches WHERE item_key = ?", [key]) == \
        ctx["b"]["sku_id"]


def test_decisions_refuse_unknown_items_and_skus(wh):
    with pytest.raises(cs.CompetitorMatchError) as err:
        cs.decide_match(wh, "no such item", None, "asha")
    assert err.value.code == "unknown_item"
    key = wh.scalar("SELECT min(item_key) FROM competitor_matches")
    with pytest.raises(cs.CompetitorMatchError) as err:
        cs.decide_match(wh, key, "XX-404", "asha")
    assert err.value.code == "unknown_sku" and "not a SKU in the catalog" in str(err.value)


def test_store_users_see_prices_of_their_pins_and_cities_only(wh):
    pins = wh.query("SELECT pin_code, city FROM locations ORDER BY pin_code")
    mine = pins.iloc[0]
    scoped = ScopedWarehouse(wh, (mine["pin_code"],))
    try:
        seen = scoped.query("SELECT DISTINCT coalesce(pin_code, city) AS place, city "
                            "FROM competitor_prices")
        assert len(seen) and set(seen["city"]) == {mine["city"]}
        assert set(seen["place"]) <= {mine["pin_code"], mine["city"]}
        assert set(cs.weekly_index(scoped)["city"]) == {mine["city"]}
        checks = cs.undercut_checks(scoped, 7)
        assert set(checks["pin_code"]) <= {mine["pin_code"]}
    finally:
        scoped.close()


# ---- price index, optimiser, alert -----------------------------------------------------------
def test_price_index_weighs_by_our_units():
    weekly = pd.DataFrame({
        "sku_id": ["A", "B"], "name": ["a", "b"], "category": ["X", "X"],
        "city": ["Delhi", "Delhi"], "week": pd.to_datetime(["2026-11-02"] * 2),
        "our_price": [110.0, 50.0], "units": [10.0, 30.0], "competitor_price": [100.0, 50.0],
        "cheapest_price": [90.0, 40.0], "cheapest_competitor": ["D", "D"],
        "competitors": [2, 2]})
    sku = price_index(weekly, "sku").set_index("sku_id")
    assert sku.loc["A", "index"] == pytest.approx(110.0)
    cat = price_index(weekly, "category").iloc[0]
    assert cat["index"] == pytest.approx(100 * (1100 + 1500) / (1000 + 1500))
    assert cat["cheapest_index"] == pytest.approx(100 * 2600 / (900 + 1200))


def _items():
    return pd.DataFrame({"sku_id": ["A", "B", "C"], "category": "X",
                         "price": [100.0, 50.0, 80.0], "unit_cost": [60.0, 30.0, 50.0],
                         "mrp": [120.0, 60.0, 90.0], "elasticity": [-0.5, -0.6, -0.4],
                         "baseline_units": [100.0, 200.0, 50.0],
                         "competitor_price": [95.0, 52.0, np.nan]})


def test_optimiser_keeps_within_x_percent_of_the_cheapest_competitor():
    res = optimize_prices(_items(), OptimizeConfig(max_change=0.15, above_cheapest=0.02))
    recs = res.recommendations.set_index("sku_id")
    assert recs.loc["A", "recommended_price"] <= 95.0 * 1.02 + 1e-9
    assert recs.loc["B", "recommended_price"] <= 52.0 * 1.02 + 1e-9
    assert recs.loc["C", "recommended_price"] > 80.0      # no competitor: not bound
    assert "cheapest competitor" in recs.loc["A", "reason"]
    free = optimize_prices(_items(), OptimizeConfig(max_change=0.15)).recommendations
    assert free.set_index("sku_id").loc["A", "recommended_price"] > 95.0 * 1.02


def test_optimiser_matches_within_rupees_and_names_the_rule_when_impossible():
    res = optimize_prices(_items(), OptimizeConfig(max_change=0.15, match_within=1.0))
    recs = res.recommendations.set_index("sku_id")
    assert recs.loc["A", "recommended_price"] <= 96.0 + 1e-9
    items = _items().assign(competitor_price=[70.0, 52.0, np.nan])   # 30% under us
    with pytest.raises(InfeasiblePricingError) as err:
        optimize_prices(items, OptimizeConfig(max_change=0.10, match_within=0.0))
    assert "the rule 'within ₹0 of the cheapest competitor'" in str(err.value)
    assert "match_within" in err.value.relax


def test_undercut_detector_ranks_by_rupees_and_skips_small_skus():
    cfg = RuleConfig("competitor_undercut", True, "high", RULES["competitor_undercut"].defaults())
    checks = pd.DataFrame({
        "sku_id": ["A", "A", "B", "C"], "name": ["Oil", "Oil", "Dal", "Salt"],
        "mrp": 200.0, "pin_code": ["110001", "110002", "110001", "110001"],
        "city": "Delhi", "our_price": [150.0, 150.0, 100.0, 20.0],
        "units": [40.0, 5.0, 50.0, 10.0], "days": 7,
        "competitor_price": [120.0, 120.0, 95.0, 10.0], "competitor": "DMart",
        "observed": pd.Timestamp("2026-11-30")})
    got = competitor_undercut(checks, cfg, pd.Timestamp("2026-11-30"))
    # B is only 5% cheaper; C is 50% cheaper but worth ₹200, A @ 110002 ₹750 (< ₹5,000)
    assert got["entity"].tolist() == ["A @ 110001"]
    d = json.loads(got["details"].iloc[0])
    assert d["at_stake"] == 1200 and d["pin_code"] == "110001" and d["page"] == "Pricing"
    assert "DMart sells Oil (A) at ₹120.00" in got["reason"].iloc[0]


def test_undercut_alerts_from_the_demo_feed_are_pin_scoped(wh):
    res = generate_alerts(wh, rules=["competitor_undercut"])
    assert res.found["competitor_undercut"] > 0
    alerts = list_alerts(wh, rule="competitor_undercut")
    assert alerts["at_stake"].is_monotonic_decreasing
    pin = alerts["pin_code"].iloc[-1]
    mine = list_alerts(wh, rule="competitor_undercut", pin_scope=[pin])
    assert len(mine) and set(mine["pin_code"]) == {pin}


# ---- cross-elasticity --------------------------------------------------------------------------
def _planted(cross: float, seed: int = 3, city_cross: dict | None = None,
             city_size: dict | None = None):
    """Four SKUs at 8 PINs in 4 cities; SKU0000 and SKU0001 have weekly competitor prices
    and respond to them with `cross` (or per city, `city_cross`); `city_size` multiplies
    a city's units (default 1)."""
    inputs, _ = synthetic_sales(n_skus=4, n_pins=8, n_days=420, seed=seed,
                                elasticities=[-1.2, -0.8, -1.5, -1.0], base_units=12.0)
    rng = np.random.default_rng(seed)
    days = pd.date_range(inputs.sales["date"].min(), inputs.sales["date"].max(), freq="7D")
    cities = inputs.locations["city"].unique()
    comp = pd.DataFrame([(s, c, d, 100 * float(np.exp(rng.normal(0, 0.12))))
                         for s in ("SKU0000", "SKU0001") for c in cities for d in days],
                        columns=["sku_id", "city", "date", "price"])
    sales = inputs.sales.merge(inputs.locations[["pin_code", "city"]], on="pin_code")
    daily = comp.assign(date=pd.to_datetime(comp["date"]))
    sales["wk"] = sales["date"] - pd.to_timedelta((sales["date"] - days[0]).dt.days % 7,
                                                  unit="D")
    sales = sales.merge(daily.rename(columns={"date": "wk", "price": "cp"}),
                        on=["sku_id", "city", "wk"], how="left")
    beta = sales["city"].map(city_cross or {}).fillna(cross).to_numpy()
    size = sales["city"].map(city_size or {}).fillna(1.0).to_numpy()
    lift = np.where(sales["cp"].notna(), (sales["cp"] / 100) ** beta, 1.0)
    sales["quantity"] = rng.poisson(sales["quantity"].to_numpy() * lift * size).astype(float)
    sales = sales[sales["quantity"] > 0].drop(columns=["city", "wk", "cp"])
    return inputs.__class__(sales.reset_index(drop=True), inputs.skus, inputs.locations,
                            inputs.weather, inputs.festival), comp


def test_cross_elasticity_recovers_a_planted_effect():
    inputs, comp = _planted(0.8)
    table = competitive_elasticities(inputs, comp).set_index("sku_id")
    for sku in ("SKU0000", "SKU0001"):
        row = table.loc[sku]
        assert row["sufficient"] and row["lo"] < 0.8 < row["hi"], row.to_dict()
        assert row["lo"] > 0


def test_cross_elasticity_intervals_cover_the_planted_effect_with_the_spec_term():
    # the interval adds the competitor slope's PPML-to-log-scale spread to its sampling
    # SE; on clean planted panels the spread is small and the 95% intervals cover
    inside, ratio = [], []
    for seed in (3, 4, 5, 6, 7):
        table = competitive_elasticities(*_planted(0.8, seed=seed))
        inside += list((table["lo"] <= 0.8) & (0.8 <= table["hi"]))
        sampling = np.sqrt(table["se"] ** 2 - table["spec_se"] ** 2)
        ratio += list(table["spec_se"] / sampling)
        assert table["spec"].str.contains("cheapest competitor's price").all()
    assert np.mean(inside) >= 0.85 and len(inside) == 10
    assert np.median(ratio) < 0.5


def test_cross_elasticity_spec_term_is_large_when_cities_respond_differently():
    # big cities (20x the units) lose 2% of units per 1% competitor cut, small ones
    # nothing: Poisson PML follows the big cities, the log-scale end weighs every
    # store-day alike, and the spread (named in the spec) widens the interval
    inputs, comp = _planted(0.0, city_cross={"Mumbai": 2.0, "Bengaluru": 2.0},
                            city_size={"Mumbai": 20.0, "Bengaluru": 20.0})
    table = competitive_elasticities(inputs, comp).set_index("sku_id")
    for sku in ("SKU0000", "SKU0001"):
        row = table.loc[sku]
        sampling = np.sqrt(row["se"] ** 2 - row["spec_se"] ** 2)
        assert row["spec_se"] > 0.3 and row["spec_se"] > 3 * sampling, row.to_dict()
        assert f"SE + {row['spec_se']:.2f} PPML-to-log-scale spread" in row["spec"]
        assert row["sufficient"]              # sufficiency reads the sampling SE alone


def test_cross_elasticity_says_not_enough_history():
    inputs, comp = _planted(0.0)
    short = comp[comp["date"] < comp["date"].min() + pd.Timedelta(weeks=5)]
    table = competitive_elasticities(inputs, short)
    assert len(table) and not table["sufficient"].any()
    assert table["note"].str.startswith("not enough history").all()


def test_a_table_stored_by_the_previous_method_is_not_reused(wh):
    from engine.pricing.competitors import competitive_table
    from engine.warehouse import results

    old = pd.DataFrame({"sku_id": ["X"], "cross_elasticity": [99.0]})
    version = wh.data_version("sales", "festivals", "competitors")
    assert results.write(wh, "competitive_elasticities",
                         {"method": "2026-12-competitive-v1"}, version, old)
    table = competitive_table(wh)
    assert 99.0 not in table["cross_elasticity"].tolist() and "spec" in table
    est = table[table["cross_elasticity"].notna()]
    assert len(est) and est["spec"].str.contains("SE clustered by week").all()


def test_cross_elasticity_cli_reports_the_spec(wh, tmp_path, capsys):
    from engine.__main__ import main

    path = wh.path
    wh.close()
    out = tmp_path / "competitive.csv"
    assert main(["competitors", "elasticity", "--warehouse", str(path), "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out)
    assert summary["skus"] == len(table) and {"spec", "spec_se"} <= set(table.columns)
    est = table[table["cross_elasticity"].notna()]
    assert len(est) and est["spec"].str.contains("cheapest competitor's price").all()
    assert (est["se"] >= est["spec_se"]).all()


# ---- command line -----------------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300)


def test_cli_ingest_index_review_and_match(wh, tmp_path):
    data, ctx = _feed(wh)
    path = wh.path
    wh.close()
    f = tmp_path / "rivals.csv"
    f.write_bytes(data)
    out = _cli("ingest", "competitor", str(f), "--json", "--warehouse", str(path))
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout.splitlines()[0])
    assert body["rows_loaded"] == 3 and body["matching"]["items"] == 3
    idx = _cli("competitors", "index", "--level", "city", "--json", "--warehouse", str(path))
    assert idx.returncode == 0 and json.loads(idx.stdout)["groups"] >= 1
    review = _cli("competitors", "review", "--json", "--warehouse", str(path))
    items = json.loads(review.stdout)
    assert items and {"item_key", "suggested_sku", "confidence"} <= set(items[0])
    ok = _cli("competitors", "match", items[0]["item_name"], "--not-ours", "--json",
              "--warehouse", str(path))
    assert json.loads(ok.stdout)["match"] == "rejected"
    bad = _cli("competitors", "match", "no such item", "--sku", "X", "--json",
               "--warehouse", str(path))
    assert bad.returncode == 1 and json.loads(bad.stdout)["code"] == "unknown_item"
    assert "Traceback" not in bad.stderr
