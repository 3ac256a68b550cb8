"""Forecast vs actual as actuals arrive (engine/forecast/live.py): a cheap forecast run on
the small demo, then planted actuals uploaded through the product's ingest (exactly the
forecast, or the forecast x 1.2 for one category, or a third of it), and the live scores
checked against what they must be."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from engine.forecast import live
from engine.warehouse import accuracy
from engine.warehouse.db import Warehouse
from tests.forecast_page_frames import copy_warehouse
from tests.live_frames import first_days, run_and_forecasts, run_copy, upload


@pytest.fixture()
def run_wh(small_warehouse_path, tmp_path):
    path = copy_warehouse(run_copy(str(small_warehouse_path)), tmp_path / "live.duckdb")
    wh = Warehouse(path)
    yield wh
    wh.close()
    shutil.rmtree(tmp_path, ignore_errors=True)


def _inside(a, lo, hi) -> float:
    return float(np.mean((a >= lo) & (a <= hi)) * 100)


def test_live_scores_are_exact_for_planted_actuals_and_land_with_the_upload(run_wh, tmp_path):
    run, fc = run_and_forecasts(run_wh)
    week = first_days(fc, 7)
    cat = week.groupby("category")["forecast"].sum().idxmax()      # the biggest category
    week["quantity"] = np.where(week["category"] == cat, week["forecast"] * 1.2,
                                week["forecast"])
    assert accuracy.read_scores(run_wh).empty
    upload(run_wh, tmp_path, week)
    stored = accuracy.read_scores(run_wh)          # written by the upload itself
    assert set(stored["run_id"]) == {run["run_id"]}

    [s] = live.summaries(live.scores(run_wh))
    assert s["periods_covered"] == 7 and s["grain"] == "D" and s["horizon"] == 14
    assert s["actuals_through"] == str(week["date"].max().date())
    assert s["n_series"] == fc[["sku_id", "pin_code"]].drop_duplicates().shape[0]
    by_cat = {g["category"]: g for g in s["by_category"]}
    planted = by_cat[cat]
    assert planted["wape"] == pytest.approx(100 / 6, abs=1e-6)       # |f - 1.2f| / 1.2f
    assert planted["bias_pct"] == pytest.approx(-100 / 6, abs=1e-6)  # under-forecast
    for name, g in by_cat.items():
        if name != cat and g["wape"] is not None:
            assert g["wape"] == pytest.approx(0, abs=1e-6)
            assert g["bias_pct"] == pytest.approx(0, abs=1e-6)
        assert not g["drift"]
    a, f = week["quantity"].to_numpy(), week["forecast"].to_numpy()
    assert s["wape"] == pytest.approx(100 * np.abs(a - f).sum() / a.sum(), abs=1e-6)
    assert s["bias_pct"] == pytest.approx(100 * (f.sum() - a.sum()) / a.sum(), abs=1e-6)
    assert s["coverage95"] == pytest.approx(_inside(a, week["lo"], week["hi"]), abs=1e-6)
    assert s["coverage80"] == pytest.approx(_inside(a, week["lo80"], week["hi80"]), abs=1e-6)
    steps = {g["step"]: g for g in s["by_step"]}
    assert sorted(steps) == list(range(1, 8))
    assert all(g["n_periods"] == 1 and g["n_series"] == s["n_series"] for g in steps.values())
    assert s["sentence"].startswith("forecasts made on ")
    assert "for the 7 days that have actuals" in s["sentence"]
    assert f"WAPE {s['wape']:.1f}%" in s["sentence"]

    # the stored numbers match a recomputation from the raw tables with metrics.score
    from engine.forecast.metrics import score

    points = accuracy.live_points(run_wh, [run["run_id"]], week["date"].max())
    again = score(points, by=["category"]).set_index("category")
    for name, g in by_cat.items():
        if g["wape"] is not None:
            assert again.loc[name, "wape"] == pytest.approx(g["wape"], abs=1e-6)
            assert again.loc[name, "bias_pct"] == pytest.approx(g["bias_pct"], abs=1e-6)
            assert again.loc[name, "coverage95"] == pytest.approx(g["coverage95"], abs=1e-6)


def test_drift_fires_when_live_wape_is_far_above_the_backtest(run_wh, tmp_path):
    run, fc = run_and_forecasts(run_wh)
    days = first_days(fc, 3)
    days["quantity"] = days["forecast"] / 3          # WAPE 200%, bias +200%
    upload(run_wh, tmp_path, days)
    [s] = live.summaries(live.scores(run_wh))
    assert s["periods_covered"] == 3
    assert s["wape"] == pytest.approx(200, abs=1e-6)
    assert s["bias_pct"] == pytest.approx(200, abs=1e-6)
    assert s["backtest_wape"] is not None and s["backtest_wape"] < 160
    assert s["drift"] and "DRIFT" in s["sentence"]
    assert s["drift_groups"]
    # the rule is a setting: a ratio no WAPE can reach turns the flag off
    off = live.summaries(live.with_drift(accuracy.read_scores(run_wh),
                                         live.DriftRule(ratio=100.0)))
    assert not off[0]["drift"]


def test_drift_rule_needs_both_the_ratio_and_the_points():
    rule = live.DriftRule(ratio=1.25, min_points=5)
    assert rule.drifting(50.1, 40)          # 1.25 x 40 = 50, +10.1 points
    assert not rule.drifting(50, 40)        # not above 1.25x
    assert not rule.drifting(10, 7)         # 1.43x but only 3 points
    assert rule.drifting(12.01, 7)          # 1.7x and 5.01 points
    assert not rule.drifting(None, 40) and not rule.drifting(80, float("nan"))


def test_drift_rule_reads_its_settings(monkeypatch):
    monkeypatch.setenv("MICROPULSE_DRIFT_RATIO", "1.5")
    monkeypatch.setenv("MICROPULSE_DRIFT_MIN_POINTS", "oops")
    assert live.DriftRule.from_env() == live.DriftRule(ratio=1.5, min_points=5.0)


def test_cli_accuracy_live_prints_runs_and_categories(run_wh, tmp_path, capsys):
    from engine.__main__ import main

    run, fc = run_and_forecasts(run_wh)
    days = first_days(fc, 2)
    days["quantity"] = days["forecast"]
    upload(run_wh, tmp_path, days)
    path = str(run_wh.path)
    run_wh.close()
    assert main(["accuracy", "live", "--json", "--warehouse", path]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["drift_rule"] == {"ratio": 1.25, "min_points": 5.0}
    [r] = out["runs"]
    assert r["run_id"] == run["run_id"] and r["periods_covered"] == 2
    assert r["wape"] == pytest.approx(0, abs=1e-9) and r["coverage95"] is not None
    assert {"by_category", "by_state", "by_step", "actuals_through", "sentence"} <= set(r)
    assert main(["accuracy", "live", "--run", run["run_id"], "--warehouse", path]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith(f"{run['run_id']}: forecasts made on ")
    assert "for the 2 days that have actuals" in text[0]
    assert any(line.startswith("  Dairy: WAPE 0.0%, bias +0.0%") for line in text[1:])
    assert main(["accuracy", "live", "--run", "fc_nope", "--warehouse", path]) == 2
    assert "no forecast run 'fc_nope'" in capsys.readouterr().err


def test_an_upload_rescores_only_the_runs_its_sales_reach(run_wh, tmp_path):
    run, fc = run_and_forecasts(run_wh)
    all_days = fc.assign(quantity=fc["forecast"])
    upload(run_wh, tmp_path, all_days)                  # the whole horizon: complete
    first = accuracy.read_scores(run_wh)
    assert int(first["periods_covered"].iat[0]) == 14
    # sales after the horizon: the complete run is not rescored, only re-stamped
    later = all_days[all_days["date"] == all_days["date"].max()].copy()
    later["date"] = later["date"] + pd.Timedelta(days=3)      # still not in the future
    upload(run_wh, tmp_path, later, "later.csv")
    second = accuracy.read_scores(run_wh)
    assert (second["scored_at"] == first["scored_at"].iat[0]).all()
    assert (second["sales_version"] != first["sales_version"].iat[0]).all()
    assert live.refresh(run_wh) == 0                     # nothing out of date


def test_weekly_runs_speak_in_weeks(empty_warehouse):
    from engine.warehouse.forecasts import write_run

    wh = empty_warehouse
    weeks = pd.date_range("2026-01-05", periods=10, freq="7D")
    with wh.transaction() as cur:
        cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S1', 'Dairy')")
        cur.execute("INSERT INTO locations (pin_code, state) VALUES ('560001', 'Karnataka')")
        for d in weeks[:8]:
            cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue) "
                        "VALUES ('S1', '560001', ?, 10, 100)", [d.date()])
    fc = pd.DataFrame({"sku_id": "S1", "pin_code": "560001", "date": weeks[6:],
                       "forecast": 12.5, "lo": 5.0, "hi": 20.0, "lo80": 11.0, "hi80": 14.0,
                       "model": "seasonal_naive"})
    bt = pd.DataFrame({"model": "routed", "fold": 0, "cutoff": weeks[2], "sku_id": "S1",
                       "pin_code": "560001", "date": weeks[3:5], "step": [1, 2],
                       "actual": 10.0, "forecast": [11.0, 9.0], "lo": 0.0, "hi": 20.0,
                       "lo80": 5.0, "hi80": 15.0})
    write_run(wh, {"run_id": "fc_weekly", "kind": "forecast", "grain": "W",
                   "cutoff": weeks[5], "horizon": 4, "n_series": 1}, forecasts=fc,
              backtests=bt)
    [s] = live.summaries(live.scores(wh))
    assert s["grain"] == "W" and s["periods_covered"] == 2
    assert s["wape"] == pytest.approx(25.0) and s["bias_pct"] == pytest.approx(25.0)
    assert s["coverage95"] == pytest.approx(100.0) and s["coverage80"] == pytest.approx(0.0)
    assert s["backtest_wape"] == pytest.approx(10.0)
    assert s["drift"]                                      # 25% > 1.25 x 10% and +15 points
    assert "for the 2 weeks that have actuals" in s["sentence"]
    assert [g["step"] for g in s["by_step"]] == [1, 2]
    assert s["by_state"][0]["state"] == "Karnataka"
