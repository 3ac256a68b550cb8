"""AppTest of pages/2_Accuracy.py: empty state whose Run backtest button works, the league
table with every model and the routed choice, breakdowns, and worst-series links that
open the Forecast page on that series."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.forecast.metrics import score, score_like_for_like, series_coverage
from engine.warehouse.backtests import backtest_frame
from engine.warehouse.db import Warehouse
from engine.warehouse.sql import Filters
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
    assert set(league["Model"]) == {"Same as last season", "Recent average", "MicroPulse pick"}


def test_run_backtest_uses_the_configured_dask_cluster_and_says_why_it_cannot_run(
        small_warehouse_path, tmp_path, monkeypatch):
    _env(monkeypatch, copy_warehouse(small_warehouse_path, tmp_path / "dask_bt.duckdb"))
    monkeypatch.delenv("MICROPULSE_FORECAST_BACKEND", raising=False)
    monkeypatch.setenv("MICROPULSE_DASK_SCHEDULER", "tcp://127.0.0.1:9")
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert any(c.value == "Runs on the Dask cluster at tcp://127.0.0.1:9." for c in at.caption)
    at.number_input(key="ac_run_folds").set_value(1)
    at.button(key="ac_run_backtest").click().run()
    assert not at.exception
    assert any("Could not reach the Dask scheduler at tcp://127.0.0.1:9" in e.value
               for e in at.error)


def test_accuracy_page_league_breakdowns_and_worst_series_links(small_warehouse_path,
                                                                monkeypatch):
    _env(monkeypatch, forecast_copy(str(small_warehouse_path)))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and not at.warning
    league = next(d.value for d in at.dataframe if "Rank" in d.value.columns)
    assert {"MicroPulse pick", "Same as last season", "Machine learning (LightGBM)"} <= \
        set(league["Model"])
    naive = league.set_index("Model").loc["Same as last season"]
    assert abs(naive["Better than same-as-last-season (value added) %"]) < 1e-9   # baseline
    cols = {"Typical error (WAPE) %", "Average % miss on days with sales (MAPE)",
            "Over / under-forecast (bias) %", "Error in units (RMSE)",
            "Error vs same-as-last-season (MASE)", "Error vs same-as-last-period (RMSSE)",
            "Actuals inside the 80% band %", "Actuals inside the 95% band %",
            "Better than same-as-last-season (value added) %", "Method"}
    assert cols <= set(league.columns)
    assert league["Error vs same-as-last-period (RMSSE)"].between(0, 5).all()
    step_col = "Horizon step (periods ahead)"

    def charted() -> set[str]:    # the dimensions whose breakdown chart is drawn
        specs = [c.proto.spec for c in at.get("plotly_chart")]
        return {d for d in ("category", "state", "city", "horizon step")
                if any(f"Typical error (WAPE) by {d}" in spec for spec in specs)}

    assert charted() == {"category"}                 # only the open tab is drawn
    assert step_col not in {c for d in at.dataframe for c in d.value.columns}
    for label in ("State", "City", step_col):       # a tab is drawn once it is opened
        at.session_state["ac_dims"] = label
        at.run()
        assert not at.exception
        assert charted() == {label.lower().split(" (")[0]}
    steps = next(d.value for d in at.dataframe if step_col in d.value.columns)
    assert steps[step_col].astype(int).tolist() == list(range(1, 15))   # every step
    assert steps["Actuals inside the 95% band %"].notna().all()
    charts = [c for c in at.get("plotly_chart")]
    assert any("Actuals inside the bands by step ahead" in c.proto.spec for c in charts)
    worst = next(d.value for d in at.dataframe if "Units missed" in d.value.columns)
    assert len(worst) == 15
    first = worst.iloc[0]
    assert first["Open"] == f"/Forecast?sku_id={first['SKU']}&pin_code={first['PIN code']}"
    at.selectbox(key="ac_model").set_value("seasonal_naive").run()
    assert not at.exception


def _with_partial_model(src: Path, dst: Path, n_series: int = 5) -> tuple[Path, list]:
    """A copy of `src` whose latest backtest also has an 'ets' model on only the
    `n_series` biggest series (as ETS runs on the top-volume series only)."""
    path = copy_warehouse(src, dst)
    wh = Warehouse(path)
    try:
        run_id = wh.query("SELECT run_id FROM backtests GROUP BY 1 ORDER BY 1 DESC LIMIT 1"
                          )["run_id"].iloc[0]
        top = wh.query("""SELECT sku_id, pin_code FROM backtests WHERE run_id = ?
                          AND model = 'seasonal_naive' GROUP BY 1, 2
                          ORDER BY sum(actual) DESC, 1, 2 LIMIT ?""", [run_id, n_series])
        keys = list(top.itertuples(index=False, name=None))
        with wh.transaction() as cur:
            cur.execute("CREATE TEMP TABLE top_series (sku_id VARCHAR, pin_code VARCHAR)")
            cur.executemany("INSERT INTO top_series VALUES (?, ?)", keys)
            cols = wh.query("SELECT * FROM backtests LIMIT 0").columns
            changed = {"model": "'ets'", "forecast": "forecast * 0.9 + 1"}
            cur.execute(f"""INSERT INTO backtests ({', '.join(cols)})
                           SELECT {', '.join(changed.get(c, c) for c in cols)}
                           FROM backtests b WHERE run_id = ? AND model = 'seasonal_naive'
                             AND EXISTS (SELECT 1 FROM top_series t WHERE t.sku_id = b.sku_id
                                         AND t.pin_code = b.pin_code)""", [run_id])
    finally:
        wh.close()
    return path, keys


def test_league_table_compares_every_model_on_the_same_series(small_warehouse_path, tmp_path,
                                                              monkeypatch):
    path, top = _with_partial_model(Path(forecast_copy(str(small_warehouse_path))),
                                    tmp_path / "partial.duckdb")
    _env(monkeypatch, path)
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and not at.warning
    league = next(d.value for d in at.dataframe if "Rank" in d.value.columns).set_index("Model")
    assert "Exponential smoothing (ETS)" in league.index
    assert league["Forecast points"].nunique() == 1         # the identical set for every model
    wh = Warehouse(path)
    try:
        bt = backtest_frame(wh, at.selectbox(key="ac_run").value.rsplit(" · ", 1)[1], Filters())
        n_all = len(bt[["sku_id", "pin_code"]].drop_duplicates())
    finally:
        wh.close()
    naive = bt[(bt["model"] == "seasonal_naive")
               & bt.set_index(["sku_id", "pin_code"]).index.isin(top)]
    want = score(naive, by=[])["wape"].iloc[0]
    assert league.loc["Same as last season", "Typical error (WAPE) %"] == round(want, 1)
    assert any(c.value.startswith(f"Compared on the 5 of {n_all} series that every model "
                                  "forecast") for c in at.caption)
    assert any("for every 100 units sold, its forecasts were off by" in m.value
               for m in at.markdown)
    own = next(d.value for d in at.dataframe if "Series" in d.value.columns).set_index("Model")
    assert own.loc["Exponential smoothing (ETS)", "Series"] == "5"
    assert own.loc["Same as last season", "Series"] == f"{n_all:,}"
    at.radio(key="ac_basis").set_value("all").run()
    assert not at.exception
    league = next(d.value for d in at.dataframe if "Rank" in d.value.columns)
    assert "Exponential smoothing (ETS)" not in set(league["Model"])
    assert any("not shown: Exponential smoothing (ETS)" in c.value for c in at.caption)


def test_like_for_like_scores_only_the_points_every_model_forecast():
    days = pd.date_range("2025-01-01", periods=4)
    rows = [(m, 0, s, "110001", d, 10.0, f) for m, series, f in
            (("routed", ("A", "B", "C"), 9.0), ("ets", ("A",), 5.0),
             ("seasonal_naive", ("A", "B", "C"), 8.0)) for s in series for d in days]
    bt = pd.DataFrame(rows, columns=["model", "fold", "sku_id", "pin_code", "date", "actual",
                                     "forecast"])
    bt.loc[(bt["sku_id"] == "B") & (bt["model"] == "routed"), "forecast"] = 0.0
    common = score_like_for_like(bt).set_index("model")
    assert common["n"].tolist() == [4, 4, 4] and common.attrs["n_series"] == 1
    assert common.loc["routed", "wape"] == pytest.approx(10.0)   # B's misses are not counted
    everyone = score_like_for_like(bt, ["routed", "seasonal_naive"]).set_index("model")
    assert everyone.attrs["n_series"] == 3
    assert everyone.loc["routed", "wape"] == pytest.approx(100 * (4 + 40 + 4) / 120)
    cov = series_coverage(bt).set_index("model")
    assert cov["series"].to_dict() == {"ets": 1, "routed": 3, "seasonal_naive": 3}
    assert cov.attrs["common_series"] == 1 and cov.attrs["total_series"] == 3


def test_accuracy_page_explains_metrics_in_business_language(small_warehouse_path,
                                                             monkeypatch):
    _env(monkeypatch, forecast_copy(str(small_warehouse_path)))
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    label = at.selectbox(key="ac_run").value
    assert re.match(r"(Forecast|Backtest) of \d{2}-[A-Z][a-z]{2}-\d{4} · 1 fold\(s\) · "
                    r"14 days ahead · [\d,]+ series · ", label), label
    league = next(d for d in at.dataframe if "Rank" in d.value.columns)
    assert "Units missed as a share of units sold" in league.proto.columns   # hover help
    assert any("bands are conformal (sized from the errors the forecasts actually made"
               in c.value for c in at.caption)
    assert any(c.value.startswith("Every model forecast all ") for c in at.caption)
    assert not [c for d in at.dataframe for c in d.value.columns if re.search(r"[a-z]_[a-z]", c)]
    assert "MicroPulse pick" in at.selectbox(key="ac_model").options
