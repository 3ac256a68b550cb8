"""AppTest of pages/2_Accuracy.py: empty state whose Run backtest button works, the league
table with every model and the routed choice, breakdowns, and worst-series links that
open the Forecast page on that series."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.forecast_page_frames import copy_warehouse, forecast_copy

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "2_Accuracy.py")


def _env(monkeypatch, path):
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")


def test_accuracy_page_without_backtest_runs_one_from_the_button(
        small_warehouse_path, tmp_path, monkeypatch):
    _env(monkeypatch, copy_warehouse(small_warehouse_path, tmp_path / "empty_bt.duckdb"))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    assert any("No backtest yet" in i.value for i in at.info)
    at.multiselect(key="ac_run_models").set_value(["seasonal_naive", "moving_average"])
    at.number_input(key="ac_run_folds").set_value(1)
    at.number_input(key="ac_run_horizon").set_value(7)
    at.button(key="ac_run_backtest").click().run()
    assert not at.exception and not at.error
    league = next(d.value for d in at.dataframe if "Rank" in d.value.columns)
    assert set(league["Model"]) == {"seasonal_naive", "moving_average", "routed"}


def test_accuracy_page_league_breakdowns_and_worst_series_links(small_warehouse_path,
                                                                monkeypatch):
    _env(monkeypatch, forecast_copy(str(small_warehouse_path)))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and not at.warning
    league = next(d.value for d in at.dataframe if "Rank" in d.value.columns)
    assert {"routed", "seasonal_naive", "lightgbm"} <= set(league["Model"])
    naive = league.set_index("Model").loc["seasonal_naive"]
    assert abs(naive["Value added vs seasonal naive %"]) < 1e-9   # the baseline adds nothing
    cols = {"WAPE %", "MAPE % (non-zero periods)", "Bias %", "RMSE (units)", "MASE", "RMSSE",
            "80% coverage %", "95% coverage %", "Value added vs seasonal naive %"}
    assert cols <= set(league.columns)
    assert league["RMSSE"].between(0, 5).all()
    dims = {c for d in at.dataframe for c in d.value.columns}
    step_col = "Horizon step (periods ahead)"
    assert {"Category", "State", "City", step_col} <= dims
    steps = next(d.value for d in at.dataframe if step_col in d.value.columns)
    assert steps[step_col].astype(int).tolist() == list(range(1, 15))   # every step
    assert steps["95% coverage %"].notna().all()
    charts = [c for c in at.get("plotly_chart")]
    assert any("Interval coverage by step" in c.proto.spec for c in charts)
    worst = next(d.value for d in at.dataframe if "Units missed" in d.value.columns)
    assert len(worst) == 15
    first = worst.iloc[0]
    assert first["Open"] == f"/Forecast?sku_id={first['SKU']}&pin_code={first['PIN code']}"
    at.selectbox(key="ac_model").set_value("seasonal_naive").run()
    assert not at.exception
