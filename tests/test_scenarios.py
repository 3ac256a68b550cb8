"""Scenarios through the whole loop (engine.scenarios): planted elasticities, stock and mandi
prices must flow from demand to margin to orders to mandi buying; the store keeps,
scopes, renames, duplicates and deletes them; the old Forecast-page table migrates."""
from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from engine.forecast.drivers import ResponseCurves
from engine.inventory.demand import DemandModel
from engine.inventory.planner import PlanInputs
from engine.scenarios import Assumptions, Scenario, ScenarioError, Selection
from engine.scenarios import compute as C
from engine.scenarios import saved as scenario_store
from engine.scenarios.commodities import link_skus, pack_kg
from engine.warehouse import scenarios as stored_rows
from engine.warehouse.db import Warehouse

START = pd.Timestamp("2026-06-01")
DAYS = 28
E_OIL, E_SNACK = -1.5, -2.0


def _planted_inputs(on_hand=40.0, promo_coef=0.2, discount=0.1) -> C.ScenarioInputs:
    """Two SKUs at one PIN: mustard oil 1 L (elasticity -1.5, 10 units/day) and a snack
    (-2.0, 20 units/day); 28 daily forecast periods; stock, lead time, a ranked mandi."""
    skus = pd.DataFrame([
        {"sku_id": "OI-1", "name": "Dhara Mustard Oil 1 L", "category": "Edible Oil",
         "subcategory": "Mustard Oil", "unit_cost": 120.0, "mrp": 170.0, "rate": 10.0},
        {"sku_id": "SN-1", "name": "Masala Chips 50 g", "category": "Snacks",
         "subcategory": "Chips", "unit_cost": 12.0, "mrp": 20.0, "rate": 20.0}])
    dates = pd.date_range(START + pd.Timedelta(days=1), periods=DAYS, freq="D")
    base = pd.concat([pd.DataFrame({
        "sku_id": s.sku_id, "pin_code": "411001", "date": dates, "forecast": s.rate,
        "lo": s.rate * 0.5, "hi": s.rate * 1.5, "lo80": s.rate * 0.7, "hi80": s.rate * 1.3,
        "category": s.category, "name": s.name, "unit_cost": s.unit_cost,
        "state": "Maharashtra", "city": "Pune", "festival_uplift": 1.0, "price": s.mrp,
        "regular_price": s.mrp}) for s in skus.itertuples()], ignore_index=True)
    lines = pd.DataFrame([{
        "sku_id": s.sku_id, "pin_code": "411001", "on_hand": on_hand, "on_order": 0.0,
        "lead_time_days": 5, "moq": 1, "case_pack": 1, "name": s.name,
        "category": s.category, "mrp": s.mrp, "unit_cost": s.unit_cost,
        "shelf_life_days": 270, "unit_volume_l": 1.0, "supplier": "Supplier",
        "city": "Pune", "state": "Maharashtra", "lat": 18.52, "lon": 73.85}
        for s in skus.itertuples()])
    path = base[["sku_id", "pin_code", "date", "forecast"]].copy()
    sigma = pd.DataFrame({"sku_id": skus["sku_id"], "pin_code": "411001",
                          "sigma_daily": [2.0, 4.0], "error_source": "planted"})
    model = DemandModel(path=path, sigma=sigma, source="forecast", label="planted",
                        as_of=START.date())
    response = ResponseCurves(
        sku=pd.DataFrame({"sku_id": ["OI-1", "SN-1"], "category": ["Edible Oil", "Snacks"],
                          "elasticity": [-9.0, -9.0], "n_discount_days": [50, 50]}),
        category=pd.DataFrame({"category": ["Edible Oil", "Snacks"], "elasticity": [-9.0, -9.0],
                               "promo_coef": [promo_coef, promo_coef],
                               "temp_coef": [0.0, 0.05], "rain_coef": [0.0, 0.0],
                               "typical_discount": [discount, discount], "n_obs": [500, 500]}))
    elasticity = pd.DataFrame({"sku_id": ["OI-1", "SN-1"], "elasticity": [E_OIL, E_SNACK],
                               "source": "SKU (Pricing page)"})
    inputs = C.ScenarioInputs(
        version="planted", run={"run_id": "r1", "grain": "D"}, base=base,
        elasticity=elasticity, response=response,
        plan_inputs=PlanInputs(lines=lines, model=model, festivals=None,
                               trend=pd.DataFrame(), elasticities=None),
        plan_note=None, commodity_map=link_skus(skus, ["Mustard Oil", "Potato"]),
        commodities=["Mustard Oil", "Potato"], plan_rows=pd.DataFrame(
            columns=["plan_version", "sku_id", "category", "pin_code", "city", "state",
                     "date_from", "date_to", "price", "discount_pct", "promo_type", "row_no"]))
    inputs._ranks[("Mustard Oil", "411001")] = (
        {"market": "Bharatpur", "state": "Rajasthan", "modal_price": 13000.0,
         "transport_per_qtl": 500.0, "destination": "Pune (411001)"}, None)
    return inputs


def _step(result, name):
    return next(s for s in result.steps if s["step"] == name)


def test_price_cut_raises_units_by_the_planted_elasticity_and_flows_to_orders_and_mandi():
    inputs = _planted_inputs()
    sel = Selection(categories=("Edible Oil",))
    base = C.compute(inputs, Scenario("base", sel))
    cut = C.compute(inputs, Scenario("cut", sel, Assumptions(price_change_pct=-10)))
    d0, d1 = _step(base, "demand"), _step(cut, "demand")
    assert d0["baseline"] == pytest.approx(10.0 * DAYS)
    assert d1["scenario"] / d1["baseline"] == pytest.approx(0.9 ** E_OIL)
    assert d1["baseline"] == d0["scenario"]                   # same baseline either way
    # price and margin: revenue at 90% of MRP, margin at (153 - 120) per unit
    units = 10.0 * DAYS * 0.9 ** E_OIL
    p = _step(cut, "pricing")
    assert p["scenario_revenue"] == pytest.approx(units * 170 * 0.9)
    assert p["scenario"] == pytest.approx(units * (170 * 0.9 - 120))
    assert p["baseline"] == pytest.approx(10.0 * DAYS * (170 - 120))
    # more demand -> more ordered, and more mustard oil to buy at the mandi
    r0, r1 = _step(cut, "reorder"), _step(base, "reorder")
    assert r0["scenario"] > r0["baseline"] == r1["baseline"]
    lines = cut.reorder["lines"]
    assert lines.loc[0, "order_qty"] > lines.loc[0, "baseline_order_qty"]
    src = cut.sourcing["table"].iloc[0]
    assert src["commodity"] == "Mustard Oil" and src["mandi"] == "Bharatpur"
    assert src["scenario_demand_qtl"] == pytest.approx(units * 0.91 / 100)
    assert src["scenario_order_qtl"] > src["baseline_order_qtl"]
    assert src["scenario_cost"] == pytest.approx(src["scenario_order_qtl"] * 13500.0)
    s = _step(cut, "sourcing")
    assert s["delta_inr"] == pytest.approx(src["scenario_cost"] - src["baseline_cost"])


def test_levers_promotion_shock_weather_window_and_mandi_shock():
    inputs = _planted_inputs()
    sel = Selection(categories=("Snacks",))
    promo = C.compute(inputs, Scenario("p", sel, Assumptions(promo=True)))
    assert _step(promo, "demand")["delta_pct"] == pytest.approx(
        np.exp(0.2) * 0.9 ** E_SNACK - 1)
    hot = C.compute(inputs, Scenario("h", sel, Assumptions(temp_anomaly_c=2,
                                                           demand_shock_pct=10)))
    assert _step(hot, "demand")["delta_pct"] == pytest.approx(np.exp(0.1) * 1.1 - 1)
    # a window of the first 7 days only: the other 21 days keep the baseline
    week = Selection(categories=("Snacks",), start=START + pd.Timedelta(days=1),
                     end=START + pd.Timedelta(days=7))
    w = C.compute(inputs, Scenario("w", week, Assumptions(demand_shock_pct=50)))
    assert _step(w, "demand")["delta"] == pytest.approx(20.0 * 7 * 0.5)
    assert w.factors["inside"].sum() == 7
    oil = C.compute(inputs, Scenario("m", Selection(skus=("OI-1",)),
                                     Assumptions(mandi_price_shock_pct=20)))
    row = oil.sourcing["table"].iloc[0]
    assert row["scenario_landed"] == pytest.approx(13000 * 1.2 + 500)
    assert row["baseline_landed"] == pytest.approx(13500)


def test_service_level_lead_time_and_budget_change_the_orders():
    inputs = _planted_inputs(on_hand=5.0)
    sel = Selection()
    plain = C.compute(inputs, Scenario("a", sel))
    safer = C.compute(inputs, Scenario("b", sel, Assumptions(service_level=0.99,
                                                             lead_time_change_days=5)))
    assert _step(safer, "reorder")["scenario"] > _step(plain, "reorder")["scenario"]
    tight = C.compute(inputs, Scenario("c", sel, Assumptions(budget_inr=1000)))
    assert _step(tight, "reorder")["scenario"] <= 1000 + 1e-6
    assert "budget" in _step(tight, "reorder")["reason"]


def test_with_nothing_changed_the_orders_are_the_baseline_line_for_line():
    """The baseline plan is the same policy on the same lines and demand model."""
    for inputs in (_planted_inputs(), _planted_inputs(on_hand=400.0)):
        res = C.compute(inputs, Scenario("same"))
        lines = res.reorder["lines"]
        assert len(lines) == 2
        assert lines["order_qty"].tolist() == lines["baseline_order_qty"].tolist()
        assert lines["urgency"].tolist() == lines["baseline_urgency"].tolist()
        pd.testing.assert_series_equal(lines["stockout_date"], lines["baseline_stockout_date"],
                                       check_names=False)
        assert res.reorder["baseline"] == res.reorder["scenario"]
    inputs = _planted_inputs()
    for pct_change in (-10, -20):
        cut = C.compute(inputs, Scenario("cut", Selection(skus=("OI-1",)),
                                         Assumptions(price_change_pct=pct_change)))
        assert cut.reorder["lines"]["sku_id"].tolist() == ["OI-1"]  # the selected line only
    assert len(inputs._index["baselines"]) == 1          # planned once for that selection


def test_pin_scope_and_empty_selection():
    inputs = _planted_inputs()
    with pytest.raises(ScenarioError) as err:
        C.compute(inputs, Scenario("x", Selection(), Assumptions()), pin_scope=("560001",))
    assert err.value.code == "empty_selection"
    with pytest.raises(ScenarioError, match="Unknown assumptions field"):
        Scenario.from_dict("y", {}, {"price_chnage_pct": -5})
    with pytest.raises(ScenarioError, match="service level must be between"):
        Assumptions(service_level=1.2)
    with pytest.raises(ScenarioError, match="ends"):
        Selection(start="2026-06-10", end="2026-06-01")


def test_commodity_links_read_pack_sizes_and_skip_processed_foods():
    skus = pd.DataFrame([
        {"sku_id": "A", "name": "Aashirvaad Shudh Chakki Atta 5 kg", "subcategory": "Atta"},
        {"sku_id": "B", "name": "Tata Sampann Masoor Dal 1 kg", "subcategory": "Pulses"},
        {"sku_id": "C", "name": "Haldiram's Aloo Bhujia 400 g", "subcategory": "Namkeen"},
        {"sku_id": "D", "name": "Fortune Kachi Ghani Mustard Oil 2 x 500 ml",
         "subcategory": "Mustard Oil"},
        {"sku_id": "E", "name": "FreshPick Cauliflower 1 pc", "subcategory": "Cruciferous"}])
    out = link_skus(skus, ["Wheat", "Masur Dal", "Potato", "Mustard Oil", "Cauliflower"])
    got = dict(zip(out["sku_id"], out["commodity"]))
    assert got == {"A": "Wheat", "B": "Masur Dal", "D": "Mustard Oil", "E": "Cauliflower"}
    kg = dict(zip(out["sku_id"], out["kg_per_unit"]))
    assert kg["A"] == 5 and kg["B"] == 1 and kg["D"] == pytest.approx(0.91)
    assert np.isnan(kg["E"])
    assert pack_kg("Amul Butter 500 g")[0] == pytest.approx(0.5)


# ---- the warehouse: compute on the demo, store, scope, migration -------------------------
@pytest.fixture(scope="module")
def fc_wh(small_warehouse_path):
    from tests.forecast_page_frames import forecast_copy

    wh = Warehouse(forecast_copy(str(small_warehouse_path)))
    yield wh
    wh.close()


def test_demo_scenario_runs_every_step_and_round_trips_through_the_store(fc_wh):
    inputs = C.load_inputs(fc_wh)
    assert C.load_inputs(fc_wh) is inputs                      # cached per data version
    sc = Scenario("Oil -10%", Selection(categories=("Edible Oil",)),
                  Assumptions(price_change_pct=-10, mandi_price_shock_pct=10))
    res = C.compute(inputs, sc)
    assert [s["step"] for s in res.steps] == list(C.STEPS)
    dem = _step(res, "demand")
    el = inputs.elasticity.set_index("sku_id")["elasticity"]
    rows = res.rows
    want = (rows["forecast"] * 0.9 ** rows["sku_id"].map(el)).sum()
    assert dem["scenario"] == pytest.approx(want)
    assert dem["scenario"] > dem["baseline"]
    assert _step(res, "sourcing")["scenario"] is not None          # mustard oil is linked
    before = {s.scenario_id for s in scenario_store.list_scenarios(fc_wh)}  # shared file
    saved = scenario_store.save(fc_wh, sc, "asha", summary=res.summary(),
                                data_version=res.version)
    assert saved.scenario_id and saved.created_by == "asha"
    again = scenario_store.get(fc_wh, "oil -10%")
    assert again.assumptions == sc.assumptions and again.selection == sc.selection
    with pytest.raises(ScenarioError) as err:
        scenario_store.save(fc_wh, Scenario("OIL -10%"), "ravi")
    assert err.value.code == "name_taken"
    copy = scenario_store.duplicate(fc_wh, saved.scenario_id, "Oil -10% copy", "ravi")
    renamed = scenario_store.rename(fc_wh, copy.scenario_id, "Oil deeper cut", "ravi")
    assert renamed.scenario_id == copy.scenario_id
    names = [s.name for s in scenario_store.list_scenarios(fc_wh)
             if s.scenario_id not in before]
    assert names == ["Oil -10%", "Oil deeper cut"]
    # a store user's scenario is theirs; they do not see unrestricted ones
    mine = scenario_store.save(fc_wh, Scenario("Pune only", scope=("411001",)), "store1")
    assert "Pune only" in [s.name for s in scenario_store.list_scenarios(
        fc_wh, ("411001", "411002"))]
    assert not {"Oil -10%", "Oil deeper cut"} & {s.name for s in scenario_store.list_scenarios(
        fc_wh, ("411001", "411002"))}
    assert not scenario_store.may_change(mine, "ravi", "analyst")
    assert scenario_store.may_change(mine, "store1", "store")
    for sid in (saved.scenario_id, copy.scenario_id, mine.scenario_id):
        scenario_store.delete(fc_wh, sid, "asha")
    assert {s.scenario_id for s in scenario_store.list_scenarios(fc_wh)} == before
    audit = fc_wh.query("SELECT action FROM audit_log WHERE action LIKE 'scenario_%'")
    assert {"scenario_created", "scenario_updated", "scenario_deleted"} <= set(audit["action"])


def test_an_alert_acknowledged_or_a_scenario_saved_keeps_the_inputs_loaded(fc_wh):
    """Only writes to what a scenario reads (compute.DEPENDS) make load_inputs read again,
    and only the part that reads what the write touched (compute.PARTS)."""
    inputs = C.load_inputs(fc_wh)
    for domain in ("alerts", "scenarios", "uploads"):
        with fc_wh.transaction(touches=(domain,)):
            pass
        assert C.load_inputs(fc_wh) is inputs, domain
    # a plan upload re-reads the plan rows only; a mandi upload the commodities and ranks
    with fc_wh.transaction(touches=("plans",)):
        pass
    again = C.load_inputs(fc_wh)
    assert again is not inputs and again.version != inputs.version
    assert again.base is inputs.base and again.plan_inputs is inputs.plan_inputs
    assert again.elasticity is inputs.elasticity and again._ranks is inputs._ranks
    assert again.plan_rows is not inputs.plan_rows
    with fc_wh.transaction(touches=("mandi",)):
        pass
    third = C.load_inputs(fc_wh)
    assert third.commodity_map is not again.commodity_map and third._ranks is not again._ranks
    assert third.base is inputs.base and third.plan_inputs is inputs.plan_inputs
    with fc_wh.transaction(touches=("inventory",)):
        pass
    fourth = C.load_inputs(fc_wh)
    assert fourth.plan_inputs is not inputs.plan_inputs and fourth._index is not inputs._index
    assert fourth.base is inputs.base
    pd.testing.assert_frame_equal(fourth.plan_inputs.lines, inputs.plan_inputs.lines)


def test_the_form_choices_are_the_forecast_series_within_a_scope(fc_wh):
    from engine.warehouse.scoped import ScopedWarehouse

    base = C.load_inputs(fc_wh).base
    series = C.series_choices(fc_wh)
    assert len(series) == len(base[C.KEY].drop_duplicates())
    one = series.iloc[0]
    rows = base[(base["sku_id"] == one["sku_id"]) & (base["pin_code"] == one["pin_code"])]
    assert (one["first_date"], one["last_date"]) == (rows["date"].min(), rows["date"].max())
    assert one["category"] == rows["category"].iat[0] and one["city"] == rows["city"].iat[0]
    pins = tuple(sorted(series["pin_code"].astype(str).unique()))[:2]
    scoped = C.series_choices(ScopedWarehouse(fc_wh, pins))
    assert set(scoped["pin_code"].astype(str)) == set(pins)
    assert len(scoped) == len(C.select_rows(series, Selection(), pins))


def test_a_scoped_handle_computes_within_its_pins_on_the_national_estimates(fc_wh):
    from engine.warehouse.scoped import ScopedWarehouse

    full = C.load_inputs(fc_wh)
    pins = tuple(sorted(full.base["pin_code"].astype(str).unique()))[:2]
    scoped = C.load_inputs(ScopedWarehouse(fc_wh, pins))
    assert scoped.scope == pins and scoped.base is full.base        # shared, not re-read
    pd.testing.assert_frame_equal(scoped.elasticity, full.elasticity)
    res = C.compute(scoped, Scenario("s", Selection(), Assumptions(price_change_pct=-5)))
    assert set(res.rows["pin_code"]) <= set(pins)
    # a caller's wider scope cannot widen the handle's
    wide = C.compute(scoped, Scenario("s", Selection()), pin_scope=tuple(
        full.base["pin_code"].astype(str).unique()))
    assert set(wide.rows["pin_code"]) <= set(pins)
    with pytest.raises(ScenarioError):
        C.compute(scoped, Scenario("s", Selection()), pin_scope=("999999",))


@pytest.mark.duckdb_only("upgrades a DuckDB warehouse file made before the scenario store; "
                         "a PostgreSQL warehouse starts at the current schema")
def test_old_forecast_page_scenarios_are_migrated(tmp_path):
    path = tmp_path / "old.duckdb"
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE scenarios (name VARCHAR NOT NULL, created_by VARCHAR, "
                "created_at TIMESTAMP NOT NULL, selection VARCHAR NOT NULL, settings VARCHAR "
                "NOT NULL, result VARCHAR, PRIMARY KEY (name, selection))")
    sel = {"sku_id": None, "category": "Snacks", "pin_code": None, "city": None,
           "state": "Kerala", "states": [], "cities": [], "categories": [], "scope": "all"}
    con.execute("INSERT INTO scenarios VALUES (?, ?, ?, ?, ?, ?)",
                ["Onam push", "asha", datetime(2026, 8, 1), json.dumps(sel),
                 json.dumps({"price_change_pct": -5.0, "promo": True}),
                 json.dumps({"totals": {"delta_units": 12}})])
    con.close()
    wh = Warehouse(path)
    try:
        [sc] = scenario_store.list_scenarios(wh)
        assert sc.name == "Onam push" and sc.created_by == "asha"
        assert sc.selection == Selection(categories=("Snacks",), states=("Kerala",))
        assert sc.assumptions == Assumptions(price_change_pct=-5.0, promo=True)
        assert stored_rows.list_rows(wh)["summary"][0]["whatif"]["totals"] == \
            {"delta_units": 12}
        assert "scenarios_v1" not in wh.tables()
    finally:
        wh.close()


def test_the_ready_demo_saves_a_sample_scenario_with_every_step(fc_wh, tmp_path):
    from engine.ready import sample_scenario
    from tests.forecast_page_frames import copy_warehouse

    wh = Warehouse(copy_warehouse(fc_wh.path, tmp_path / "ready.duckdb"))
    try:
        for s in scenario_store.list_scenarios(wh):
            scenario_store.delete(wh, s.scenario_id, "test")
        saved = sample_scenario(wh)
        [row] = stored_rows.list_rows(wh).to_dict("records")
        assert row["name"] == saved.name and saved.name.startswith("Sample: 10% off")
        assert row["data_version"] == wh.data_version(*C.DEPENDS)
        steps = {s["step"]: s for s in row["summary"]["steps"]}
        assert list(steps) == list(C.STEPS)
        assert all(steps[k]["scenario"] is not None for k in ("demand", "pricing"))
        assert steps["demand"]["delta"] > 0                      # 10% off sells more
        linked = C.load_inputs(wh).commodity_map.dropna(subset=["kg_per_unit"])
        assert set(linked["category"]) & set(saved.selection.categories)
    finally:
        wh.close()
