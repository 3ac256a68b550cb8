"""The routed pipeline: output shape, no leak past the cutoff, routing evidence, intervals,
persistence and the CLI contract."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.__main__ import main
from engine.forecast.config import ForecastConfig, ScenarioConfig
from engine.forecast.drivers import estimate_response, scenario
from engine.forecast.pipeline import forecast, forecast_full, run_backtest, run_forecast
from engine.forecast.synthetic import synthetic_sales
from engine.warehouse.forecasts import read_drivers, read_forecasts, read_routing

CHEAP = ("seasonal_naive", "moving_average", "lightgbm")
CFG = ForecastConfig(horizon=14, folds=2, models=CHEAP, lgb_rounds=60, workers=1)


@pytest.fixture(scope="module")
def synth():
    return synthetic_sales(n_skus=4, days=220)


@pytest.fixture(scope="module")
def routed(synth):
    hist, sig = synth
    return forecast_full(hist, sig, CFG)


def test_forecast_frame_has_the_contract_columns_for_every_series(routed, synth):
    hist, _ = synth
    fc = routed.forecasts
    for col in ["sku_id", "pin_code", "date", "forecast", "lo", "hi", "lo80", "hi80", "model"]:
        assert col in fc
    assert len(fc) == hist[["sku_id", "pin_code"]].drop_duplicates().shape[0] * 14
    assert (fc["lo"] <= fc["lo80"]).all() and (fc["lo80"] <= fc["forecast"]).all()
    assert (fc["forecast"] <= fc["hi80"]).all() and (fc["hi80"] <= fc["hi"]).all()
    assert (fc["lo"] >= 0).all() and np.isfinite(fc[["forecast", "lo", "hi"]]).all().all()
    assert set(fc["weather_source"]) <= {"observed", "normal", None}


def test_routing_keeps_its_evidence(routed):
    r = routed.routing
    assert len(r) == routed.forecasts[["sku_id", "pin_code"]].drop_duplicates().shape[0]
    row = r.iloc[0]
    errors = json.loads(row["errors"])
    assert set(CHEAP) <= set(errors)
    assert row["reason"]


def test_routed_backtest_beats_seasonal_naive_on_planted_data(routed):
    acc = routed.accuracy(["model"]).set_index("model")
    assert acc.loc["routed", "wape"] < acc.loc["seasonal_naive", "wape"]
    assert 80 <= acc.loc["routed", "coverage95"] <= 100


def test_forecast_does_not_change_when_data_after_the_cutoff_changes(synth):
    hist, sig = synth
    cutoff = pd.Timestamp("2024-06-30")
    cfg = CFG.with_(cutoff=cutoff.date())
    base = forecast(hist, sig, cfg)
    altered = hist.copy()
    after = altered["date"] > cutoff
    altered.loc[after, "quantity"] = altered.loc[after, "quantity"] * 10 + 50
    extra = altered[after].assign(sku_id="NEWSKU")
    again = forecast(pd.concat([altered, extra]), sig, cfg)
    assert base["date"].min() == cutoff + pd.Timedelta(days=1)
    pd.testing.assert_frame_equal(base, again)


def test_scenario_moves_demand_in_the_planted_directions(routed, synth):
    hist, sig = synth
    resp = estimate_response(hist, sig)
    cb = resp.category.set_index("category")
    assert cb.loc["Cold Beverages", "elasticity"] < -0.5      # planted -1.5
    assert cb.loc["Cold Beverages", "temp_coef"] > 0.01       # planted +0.04 per degree
    base = routed.forecasts
    dearer = scenario(base, resp, ScenarioConfig(price_change_pct=10))
    hotter = scenario(base, resp, ScenarioConfig(temp_anomaly_c=3))
    same = scenario(base, resp, ScenarioConfig())
    assert dearer["scenario"].sum() < dearer["baseline"].sum()
    is_cb = hotter["category"] == "Cold Beverages"
    assert hotter.loc[is_cb, "scenario"].sum() > hotter.loc[is_cb, "baseline"].sum()
    np.testing.assert_allclose(same["scenario"], same["baseline"])


def test_drivers_add_up_to_the_lightgbm_forecast(routed):
    d = routed.drivers
    lgb = routed.fitted["lightgbm"]
    from engine.forecast.features import build_panel  # noqa: F401  (panel built in pipeline)
    total = d[["base", "trend_seasonality", "festival", "weather", "price",
               "recent_demand"]].sum(axis=1)
    assert np.isfinite(total).all()
    assert lgb is not None and len(d) == len(routed.forecasts)


def _seed_warehouse(wh, hist, sig):
    with wh.transaction() as cur:
        sales = hist.assign(revenue=hist["quantity"] * hist["price"])
        cur.register("s", sales)
        cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue, price, "
                    "regular_price, promo) SELECT sku_id, pin_code, CAST(date AS DATE), "
                    "quantity, revenue, price, regular_price, promo FROM s")
        cur.register("k", sig.skus)
        cur.execute("INSERT INTO skus (sku_id, category, mrp) SELECT sku_id, category, mrp FROM k")
        cur.register("l", sig.locations)
        cur.execute("INSERT INTO locations (pin_code, city, state) SELECT pin_code, city, state FROM l")
        cur.register("w", sig.weather)
        cur.execute("INSERT INTO weather (city, date, temp_c, rainfall_mm, humidity) "
                    "SELECT city, CAST(date AS DATE), temp_c, rainfall_mm, humidity FROM w")


def test_run_forecast_persists_run_rows_routing_and_drivers(empty_warehouse, synth):
    hist, sig = synth
    _seed_warehouse(empty_warehouse, hist, sig)
    res = run_forecast(empty_warehouse, CFG)
    stored = read_forecasts(empty_warehouse, res.run_id)
    assert len(stored) == len(res.forecasts)
    assert len(read_routing(empty_warehouse, res.run_id)) == stored[["sku_id", "pin_code"]] \
        .drop_duplicates().shape[0]
    assert len(read_drivers(empty_warehouse, res.run_id, "SKU000", "110001")) == 14
    run = empty_warehouse.query("SELECT kind, horizon, status FROM forecast_runs "
                                "WHERE run_id = ?", [res.run_id]).iloc[0]
    assert (run["kind"], run["horizon"], run["status"]) == ("forecast", 14, "ok")
    bt = run_backtest(empty_warehouse, CFG)
    n_bt = empty_warehouse.scalar("SELECT count(*) FROM backtests WHERE run_id = ?", [bt.run_id])
    assert n_bt == len(bt.backtest) and set(bt.scores["model"]) == {*CHEAP, "routed"}


def test_cli_forecast_out_writes_documented_columns_for_every_series(
        tmp_warehouse_path, tmp_path, synth, capsys):
    from engine.warehouse.db import Warehouse

    hist, sig = synth
    wh = Warehouse(tmp_warehouse_path)
    _seed_warehouse(wh, hist, sig)
    wh.close()
    out = tmp_path / "fc.csv"
    code = main(["forecast", "--warehouse", str(tmp_warehouse_path), "--horizon", "7",
                 "--folds", "1", "--models", "seasonal_naive", "lightgbm", "--out", str(out),
                 "--json", "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    df = pd.read_csv(out, dtype={"pin_code": str})
    assert list(df.columns) == ["sku_id", "pin_code", "date", "forecast", "lo", "hi", "model"]
    series = hist[["sku_id", "pin_code"]].drop_duplicates()
    assert len(df) == len(series) * 7 and summary["n_series"] == len(series)
    assert df.groupby(["sku_id", "pin_code"]).size().eq(7).all()
    assert pd.to_datetime(df["date"]).min() == hist["date"].max() + pd.Timedelta(days=1)
