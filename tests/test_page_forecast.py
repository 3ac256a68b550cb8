"""AppTest of pages/1_Forecast.py: empty state with a working Run button, the chart and
model evidence for a series, every what-if slider moving the numbers the right way, and
saved scenarios that outlive the session."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.forecast_page_frames import biggest_series, copy_warehouse, forecast_copy

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "1_Forecast.py")


def _units(at, label: str) -> float:
    text = next(m for m in at.metric if m.label == label).value
    return float(text.replace("−", "-").replace(" units", "").replace(",", ""))


@pytest.fixture()
def forecast_env(small_warehouse_path, monkeypatch):
    path = forecast_copy(str(small_warehouse_path))
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    return path


def test_forecast_page_without_a_run_offers_the_run_button_and_runs(
        small_warehouse_path, tmp_path, monkeypatch):
    path = copy_warehouse(small_warehouse_path, tmp_path / "empty_run.duckdb")
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    assert any("No forecast has been run" in i.value for i in at.info)
    at.multiselect(key="fc_run_models").set_value(["seasonal_naive", "moving_average"])
    at.number_input(key="fc_run_folds").set_value(1)
    at.number_input(key="fc_run_horizon").set_value(7)
    at.button(key="fc_run").click().run()
    assert not at.exception and not at.error
    assert not any("No forecast has been run" in i.value for i in at.info)
    assert any(c.value.startswith("Run fc_") and "horizon 7 days" in c.value for c in at.caption)


def test_forecast_page_link_opens_a_series_and_every_slider_moves_the_scenario(forecast_env):
    sku, pin = biggest_series(forecast_env, "Cold Beverages")
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params["sku_id"] = sku
    at.query_params["pin_code"] = pin
    at.run()
    assert not at.exception
    assert at.selectbox(key="fc_product").value.startswith(f"SKU: {sku}")
    assert at.selectbox(key="fc_place").value.startswith(f"PIN: {pin}")
    assert any(m.value.startswith("**Model: ") for m in at.markdown), "routing evidence missing"
    assert _units(at, "Change in units") == 0
    assert any("Bands: 80% (dark) and 95% (light)" in c.value for c in at.caption)

    at.slider(key="wi_price").set_value(10.0).run()
    assert not at.exception
    dearer = _units(at, "Change in units")
    assert dearer < 0                                   # higher price, fewer units
    at.slider(key="wi_price").set_value(-10.0).run()
    assert _units(at, "Change in units") > 0            # a price cut sells more
    at.slider(key="wi_price").set_value(0.0).run()

    at.slider(key="wi_temp").set_value(4.0).run()
    assert not at.exception
    assert _units(at, "Change in units") > 0            # hotter: more cold beverages
    at.slider(key="wi_temp").set_value(0.0).run()

    at.slider(key="wi_rain").set_value(10.0).run()
    assert not at.exception
    at.slider(key="wi_rain").set_value(0.0).run()
    at.slider(key="wi_fest").set_value(0.0).run()
    assert not at.exception
    assert _units(at, "Change in units") <= 0           # no festival can only remove uplift
    at.slider(key="wi_fest").set_value(1.0).run()
    at.toggle(key="wi_promo").set_value(True).run()
    assert not at.exception
    assert _units(at, "Change in units") > 0            # a promotion sells more
    assert at.session_state["mp_whatif"]["promo"] is True


def test_saved_scenario_is_listed_again_in_a_new_session(forecast_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.selectbox(key="fc_product").set_value("Category: Cold Beverages")
    at.selectbox(key="fc_place").set_value("All places").run()
    at.slider(key="wi_temp").set_value(3.0).run()
    at.text_input(key="wi_name").input("Hot fortnight")
    at.button(key="FormSubmitter:wi_save_form-Save scenario").click().run()
    assert not at.exception and not at.error

    again = AppTest.from_file(PAGE, default_timeout=180).run()
    again.selectbox(key="fc_product").set_value("Category: Cold Beverages")
    again.selectbox(key="fc_place").set_value("All places").run()
    assert not again.exception
    tables = [d.value for d in again.dataframe if "Scenario" in d.value.columns]
    assert tables and "Hot fortnight" in tables[0]["Scenario"].tolist()
    assert tables[0]["Change"].iloc[0].startswith("+")


def test_a_category_total_gets_bands_calibrated_on_its_own_backtest(forecast_env):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    at.selectbox(key="fc_product").set_value("Category: Dairy").run()
    assert not at.exception
    # the cheap run has one backtest fold: calibrated in-sample, so no held-out coverage
    assert any("calibrated on its own backtest errors (14 days)" in c.value
               for c in at.caption)


def test_a_run_with_an_uploaded_plan_shows_the_plan_against_no_plan(
        small_warehouse_path, tmp_path, monkeypatch):
    """Upload a 25%-off plan for one series, pick it in the run settings, run: the run line
    names the plan version, the chart has the no-plan line and the planned markers, the
    caption gives the plan's effect in units and the table both columns."""
    import pandas as pd

    from engine.ingest.load import ingest_file
    from engine.warehouse.db import Warehouse

    path = copy_warehouse(small_warehouse_path, tmp_path / "plan_run.duckdb")
    sku, pin = biggest_series(forecast_copy(str(small_warehouse_path)), "Cold Beverages")
    wh = Warehouse(path)
    try:
        last = pd.Timestamp(wh.scalar("SELECT max(date) FROM sales_daily"))
        plan = tmp_path / "plan.csv"
        pd.DataFrame({"sku_id": [sku], "pin_code": [pin],
                      "date_from": [(last + pd.Timedelta(days=2)).date()],
                      "date_to": [(last + pd.Timedelta(days=5)).date()],
                      "discount_pct": [25], "promo_type": ["price_cut"]}).to_csv(plan, index=False)
        assert ingest_file(wh, "plan", plan).rows_loaded == 1
    finally:
        wh.close()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["sku_id"] = sku
    at.query_params["pin_code"] = pin
    at.run()
    assert at.selectbox(key="fc_plan").value == "latest"
    at.multiselect(key="fc_run_models").set_value(["moving_average", "lightgbm"])
    at.number_input(key="fc_run_folds").set_value(1)
    at.number_input(key="fc_run_horizon").set_value(10)
    at.button(key="fc_run").click().run()
    assert not at.exception and not at.error
    assert any("price / promotion plan: version 1" in c.value for c in at.caption)
    effect = next(c.value for c in at.caption if c.value.startswith("The plan covers 4 days"))
    assert "+" in effect.split(":")[1].split("units")[0]        # a price cut adds units
    assert not any("Without the plan" in d.value.columns for d in at.dataframe)  # tab shut
    at.session_state["fc_tabs"] = "Table and download"
    at.run()
    assert any("Without the plan" in d.value.columns for d in at.dataframe)


def test_run_button_uses_the_configured_dask_cluster_and_says_why_it_cannot_run(
        small_warehouse_path, tmp_path, monkeypatch):
    path = copy_warehouse(small_warehouse_path, tmp_path / "dask_run.duckdb")
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    monkeypatch.delenv("MICROPULSE_FORECAST_BACKEND", raising=False)
    monkeypatch.delenv("MICROPULSE_DASK_SCHEDULER", raising=False)
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert any(c.value == "Runs on this machine." for c in at.caption)
    monkeypatch.setenv("MICROPULSE_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert any(c.value == "Runs on the Dask cluster at tcp://127.0.0.1:9." for c in at.caption)
    at.button(key="fc_run").click().run()
    assert not at.exception
    assert any("Could not reach the Dask scheduler at tcp://127.0.0.1:9" in e.value
               for e in at.error)


def test_the_run_line_names_the_weeks_treated_as_missing_data(forecast_env, tmp_path,
                                                              monkeypatch):
    """A run that treated a store's empty periods as missing data says so on the page, in
    the run line (a store user only for their own PIN codes: forecast_views.run_caption)."""
    import json

    from engine.warehouse.db import Warehouse
    from components.forecast_views import run_caption

    path = copy_warehouse(forecast_env, tmp_path / "gaps.duckdb")
    note = ("12 days with no rows at all for PIN 110001 (01-Mar-2025 .. 12-Mar-2025) were "
            "treated as missing data, not zero sales")
    wh = Warehouse(path)
    try:
        run_id, cfg = wh.query("SELECT run_id, config FROM forecast_runs").iloc[0]
        cfg = {**json.loads(cfg), "data_gaps": [{"pin_code": "110001", "periods": 12,
                                                 "first": "2025-03-01", "last": "2025-03-12",
                                                 "note": note}]}
        with wh.transaction() as cur:
            cur.execute("UPDATE forecast_runs SET config = ? WHERE run_id = ?",
                        [json.dumps(cfg), run_id])
    finally:
        wh.close()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    assert any(c.value.startswith("Run fc_") and note in c.value for c in at.caption)
    run = {"run_id": "fc_x", "created_at": "2025-03-20", "n_series": 3, "horizon": 7,
           "grain": "D", "cutoff": "2025-03-19", "config": cfg}
    assert note in run_caption(run, ("110001", "560001"))
    assert note not in run_caption(run, ("560001",))
