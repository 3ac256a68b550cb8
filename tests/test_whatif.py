"""What-if scenarios (engine.forecast.whatif) and the forecast page's warehouse reads
(engine.warehouse.forecasts, backtests) on the small demo with one cheap forecast run."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast.config import ScenarioConfig
from engine.forecast.drivers import ResponseCurves
from engine.forecast.metrics import seasonal_scale
from engine.forecast.whatif import (ScenarioInputError, compare, response_curves,
                                    result_summary, run_scenario)
from engine.scenarios import whatif_saved as ws
from engine.warehouse import runs, forecasts as fq, sql, backtests
from engine.warehouse.db import Warehouse
from engine.warehouse.sql import Filters
from tests.forecast_page_frames import biggest_series, forecast_copy


@pytest.fixture(scope="module")
def fc_wh(small_warehouse_path):
    wh = Warehouse(forecast_copy(str(small_warehouse_path)))
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def run_id(fc_wh):
    return runs.latest_forecast_run(fc_wh)["run_id"]


@pytest.fixture(scope="module")
def curves(fc_wh):
    return response_curves(fc_wh)


def _curves(elasticity=-1.5, temp=0.05, rain=-0.01, promo=0.0, discount=0.1):
    cat = pd.DataFrame([{"category": "Cold Beverages", "elasticity": elasticity,
                         "promo_coef": promo, "temp_coef": temp, "rain_coef": rain,
                         "typical_discount": discount, "n_obs": 500}])
    sku = pd.DataFrame([{"sku_id": "CB-1", "category": "Cold Beverages",
                         "elasticity": elasticity, "n_discount_days": 40}])
    return ResponseCurves(sku=sku, category=cat)


def _base(uplift=1.0, n=7):
    return pd.DataFrame({"sku_id": "CB-1", "pin_code": "110001",
                         "date": pd.date_range("2025-10-01", periods=n), "forecast": 10.0,
                         "lo": 4.0, "hi": 16.0, "lo80": 6.0, "hi80": 14.0,
                         "category": "Cold Beverages", "festival_uplift": uplift,
                         "price": 50.0})


def test_neutral_scenario_equals_baseline_units_and_rupees():
    out = run_scenario(_base(), _curves(), ScenarioConfig())
    assert out.totals["delta_units"] == pytest.approx(0.0)
    assert out.totals["baseline_inr"] == pytest.approx(70 * 50.0)
    assert out.totals["delta_inr"] == pytest.approx(0.0)


def test_price_rise_follows_the_constant_elasticity_and_reprices_revenue():
    out = run_scenario(_base(), _curves(elasticity=-1.5), ScenarioConfig(price_change_pct=10))
    expected_units = 70 * 1.1 ** -1.5
    assert out.totals["scenario_units"] == pytest.approx(expected_units)
    assert out.totals["scenario_inr"] == pytest.approx(expected_units * 55.0)
    assert out.factors["price_change_pct"] == pytest.approx(1.1 ** -1.5)


def test_hotter_and_wetter_days_scale_by_the_category_weather_coefficients():
    out = run_scenario(_base(), _curves(temp=0.05, rain=-0.01),
                       ScenarioConfig(temp_anomaly_c=3, rain_anomaly_mm=10))
    assert out.totals["scenario_units"] == pytest.approx(70 * np.exp(0.15 - 0.10))


def test_festival_intensity_scales_only_the_festival_uplift():
    base = _base(uplift=2.0)
    none = run_scenario(base, _curves(), ScenarioConfig(festival_intensity=0.0))
    double = run_scenario(base, _curves(), ScenarioConfig(festival_intensity=2.0))
    assert none.totals["scenario_units"] == pytest.approx(35.0)      # 10 / 2 per day
    assert double.totals["scenario_units"] == pytest.approx(105.0)   # 10 * 3 / 2 per day
    flat = run_scenario(_base(uplift=1.0), _curves(), ScenarioConfig(festival_intensity=0.0))
    assert flat.totals["delta_units"] == pytest.approx(0.0)


def test_promotion_sells_more_at_the_typical_discount():
    out = run_scenario(_base(), _curves(elasticity=-2.0, discount=0.2), ScenarioConfig(promo=True))
    assert out.totals["scenario_units"] == pytest.approx(70 * 0.8 ** -2.0)
    assert out.totals["scenario_inr"] == pytest.approx(70 * 0.8 ** -2.0 * 40.0)


def test_settings_outside_the_limits_raise_a_sentence():
    with pytest.raises(ScenarioInputError, match="price change pct must be between -50 and 50"):
        run_scenario(_base(), _curves(), ScenarioConfig(price_change_pct=80))


def test_demo_cold_beverages_respond_to_price_and_heat(fc_wh, run_id, curves):
    sku, pin = biggest_series(fc_wh.path, "Cold Beverages")
    base = fq.scenario_base(fc_wh, run_id, sql.Selection(sku_id=sku, pin_code=pin), Filters())
    assert len(base) == 14 and base["price"].gt(0).all()
    dearer = run_scenario(base, curves, ScenarioConfig(price_change_pct=10)).totals
    hotter = run_scenario(base, curves, ScenarioConfig(temp_anomaly_c=3)).totals
    assert dearer["delta_units"] < 0
    assert hotter["delta_units"] > 0
    cat = fq.scenario_base(fc_wh, run_id, sql.Selection(category="Cold Beverages"), Filters())
    assert run_scenario(cat, curves, ScenarioConfig(temp_anomaly_c=3)).totals["delta_units"] > 0


def test_aggregate_forecast_is_the_sum_of_its_series(fc_wh, run_id):
    sel = sql.Selection(category="Dairy", state="Delhi")
    agg = fq.forecast_series(fc_wh, run_id, sel, Filters())
    detail = fq.forecast_detail(fc_wh, run_id, sel, Filters())
    assert len(detail) and set(detail["category"]) == {"Dairy"} and set(detail["state"]) == {"Delhi"}
    assert agg["forecast"].sum() == pytest.approx(detail["forecast"].sum())
    assert agg["hi"].sum() == pytest.approx(detail["hi"].sum())


def test_selection_backtest_is_the_routed_backtest_summed_over_the_selection(fc_wh, run_id):
    sel = sql.Selection(category="Dairy", state="Delhi")
    agg = backtests.selection_backtest(fc_wh, run_id, sel, Filters())
    rows = fc_wh.query(
        "SELECT b.fold, b.date, b.actual, b.forecast FROM backtests b JOIN skus k USING (sku_id) "
        "JOIN locations l USING (pin_code) WHERE b.run_id = ? AND b.model = 'routed' "
        "AND k.category = 'Dairy' AND l.state = 'Delhi'", [run_id])
    assert len(agg) == rows.groupby(["fold", "date"]).ngroups > 0
    assert agg["actual"].sum() == pytest.approx(rows["actual"].sum())
    assert agg["forecast"].sum() == pytest.approx(rows["forecast"].sum())
    assert backtests.selection_backtest(fc_wh, run_id, sel, Filters(pin_scope=())).empty


def test_pin_scope_limits_every_read(fc_wh, run_id):
    opts = fq.selection_options(fc_wh, run_id, Filters())
    pin = opts["pin_code"].iloc[0]
    scoped = Filters(pin_scope=(pin,))
    assert set(fq.selection_options(fc_wh, run_id, scoped)["pin_code"]) == {pin}
    all_places = fq.forecast_detail(fc_wh, run_id, sql.Selection(), scoped)
    assert set(all_places["pin_code"]) == {pin}
    assert fq.forecast_series(fc_wh, run_id, sql.Selection(), Filters(pin_scope=())).empty
    assert backtests.backtest_frame(fc_wh, run_id, scoped)["pin_code"].unique().tolist() == [pin]


def test_backtest_scale_matches_the_engine_mase_convention(fc_wh, run_id):
    bt = backtests.backtest_frame(fc_wh, run_id, Filters())
    row = bt.iloc[0]
    hist = fc_wh.query("SELECT date, quantity FROM sales_daily WHERE sku_id = ? AND pin_code = ? "
                       "AND date <= ? ORDER BY date",
                       [row["sku_id"], row["pin_code"], row["cutoff"].date()])
    idx = pd.date_range(pd.Timestamp(hist["date"].min()), row["cutoff"], freq="D")
    y = hist.set_index(pd.to_datetime(hist["date"]))["quantity"].reindex(idx, fill_value=0)
    tail = y.to_numpy()[-365:]
    assert row["scale"] == pytest.approx(seasonal_scale(tail, 7))
    assert row["scale2"] == pytest.approx(np.mean(np.diff(tail) ** 2))   # RMSSE's scale


def test_saved_scenarios_round_trip_replace_and_stay_with_their_selection(fc_wh, run_id, curves):
    sel, other = sql.Selection(category="Snacks"), sql.Selection(category="Dairy")
    base = fq.scenario_base(fc_wh, run_id, sel, Filters())
    cfg = ScenarioConfig(price_change_pct=-8, temp_anomaly_c=3)
    out = run_scenario(base, curves, cfg)
    ws.save_scenario(fc_wh, "Diwali cut", "asha", sel, Filters(), {"price_change_pct": -8,
                     "temp_anomaly_c": 3.0}, result_summary(out, run_id))
    ws.save_scenario(fc_wh, "Diwali cut", "asha", sel, Filters(), {"price_change_pct": -8,
                     "temp_anomaly_c": 3.0}, result_summary(out, run_id))
    saved = ws.list_scenarios(fc_wh, sel, Filters())
    assert saved["name"].tolist() == ["Diwali cut"]
    assert ws.list_scenarios(fc_wh, other, Filters()).empty
    assert ws.list_scenarios(fc_wh, sel, Filters(pin_scope=("110001",))).empty
    table, lines = compare(base, curves, saved)
    assert table["delta_units"].iloc[0] == pytest.approx(out.totals["delta_units"])
    assert set(lines["name"]) == {"Diwali cut"}
    with pytest.raises(ws.ScenarioStoreError, match="Give the scenario a name"):
        ws.save_scenario(fc_wh, "  ", "asha", sel, Filters(), {}, {})
    assert ws.delete_scenario(fc_wh, "Diwali cut", sel, Filters(), "asha") == 1
    assert ws.list_scenarios(fc_wh, sel, Filters()).empty


def test_weekly_run_scenario_speaks_in_weeks():
    from components.forecast_views import scenario_figure

    weekly = _base(n=4).assign(date=pd.date_range("2025-10-01", periods=4, freq="7D"))
    out = run_scenario(weekly, _curves(), ScenarioConfig(price_change_pct=-10))
    assert out.grain == "W" and out.unit == "units per week"
    assert out.totals["baseline_units"] == pytest.approx(40.0)
    assert result_summary(out, "fc_w")["grain"] == "W"
    fig = scenario_figure(out)
    assert fig.layout.title.text == "Scenario vs baseline (units per week)"
    assert fig.layout.yaxis.title.text == "Units per week"
    one_week = run_scenario(weekly.iloc[:1], _curves(), ScenarioConfig(), grain="W")
    assert one_week.unit == "units per week"              # the run's grain, not guessed
    assert run_scenario(_base(), _curves(), ScenarioConfig()).unit == "units per day"
