"""AppTest of pages/6_Map.py on the small demo warehouse: every metric at every level,
clear notes instead of failures when a metric's inputs are missing."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.map_metrics import METRICS, NO_FORECAST
from engine.warehouse.db import copy_warehouse

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "6_Map.py")
NEEDS_FORECAST = {"forecast", "uplift"}


def _decks(at: AppTest):
    return at.get("deck_gl_json_chart")


def _show(at: AppTest, metric: str, level: str) -> AppTest:
    at.selectbox(key="map_metric").set_value(metric)
    at.radio(key="map_level").set_value(level)
    return at.run()


def test_map_page_draws_each_metric_or_says_what_is_missing(app_env):
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    assert len(_decks(at)) == 1                               # sales by PIN by default
    assert not at.exception and not at.error
    for metric in METRICS:
        for level in ("pin", "district", "state"):
            at = _show(at, metric, level)
            assert not at.exception, (metric, level)
            assert not at.error, (metric, level, [e.value for e in at.error])
            if metric in NEEDS_FORECAST:
                assert [i.value for i in at.info] == [NO_FORECAST], (metric, level)
                assert not _decks(at)
            elif metric == "growth" and at.info:  # the small demo is 450 days long
                assert at.info[0].value.startswith("Growth needs sales for the same days")
                assert not _decks(at)
            else:
                assert len(_decks(at)) == 1, (metric, level)
                assert any(METRICS[metric].label in m.value for m in at.markdown), metric


def test_map_page_shows_forecast_metrics_after_a_forecast_run(small_warehouse_path, tmp_path,
                                                              monkeypatch):
    from engine.warehouse.db import Warehouse
    from engine.warehouse.forecasts import write_run

    path = tmp_path / "with_forecast.duckdb"
    copy_warehouse(small_warehouse_path, path)
    wh = Warehouse(path)
    last = pd.Timestamp(wh.scalar("SELECT max(date) FROM sales_daily"))
    pairs = wh.query("SELECT DISTINCT sku_id, pin_code FROM sales_daily LIMIT 30")
    days = pd.date_range(last + pd.Timedelta(days=1), periods=28, freq="D")
    fc = pairs.merge(pd.DataFrame({"date": days}), how="cross").assign(
        forecast=5.0, lo=1.0, hi=9.0, lo80=2.0, hi80=8.0, model="moving_average")
    write_run(wh, {"run_id": "fc_test", "kind": "forecast", "grain": "D", "cutoff": last,
                   "horizon": 28, "n_series": len(pairs)}, forecasts=fc)
    wh.close()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    for metric in ("forecast", "uplift"):
        at = _show(at, metric, "pin")
        assert not at.exception and not at.error
        assert len(_decks(at)) == 1
        assert any("fc_test" in c.value for c in at.caption), metric


def test_picking_a_pin_shows_its_top_skus_and_trend(app_env):
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    second = at.selectbox(key="map_pin").options[1]
    at.selectbox(key="map_pin").select_index(1).run()
    assert not at.exception and not at.error
    assert any(f"Top SKUs in {second}" in m.value for m in at.markdown)
    assert at.get("plotly_chart")
    assert len(at.table) + len(at.dataframe) >= 1


@pytest.mark.parametrize("scope", [("999999",)])
def test_pin_scope_outside_the_data_shows_a_note_not_a_map(app_env, scope):
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.session_state["mp_pin_scope"] = scope
    at.run()
    assert not at.exception and not at.error
    assert not _decks(at)
    assert at.info and "No sales" in at.info[0].value


def test_map_colours_pins_by_store_cluster_and_filters_by_cluster(small_warehouse_path,
                                                                  tmp_path, monkeypatch):
    """The 'Store cluster' metric: one colour per cluster with a 'Cluster N' legend and the
    clusters' names in the caption; the sidebar's cluster picker keeps only its PINs."""
    from engine.intel.clusters import store_clusters
    from engine.warehouse.db import Warehouse

    path = tmp_path / "clusters.duckdb"
    copy_warehouse(small_warehouse_path, path)
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    wh = Warehouse(path)
    try:
        rows = store_clusters(wh)
    finally:
        wh.close()
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    at = _show(at, "cluster", "pin")
    assert not at.exception and len(_decks(at)) == 1
    legend = " ".join(m.value for m in at.markdown)
    assert "Store cluster" in legend and "Cluster 1" in legend
    captions = " ".join(c.value for c in at.caption)
    for name in rows["cluster_name"].unique():
        assert name in captions
    at.sidebar.multiselect(key="_w_mp_filter_clusters").select(1).run()
    assert not at.exception
    shown = {o[:6] for o in at.selectbox(key="map_pin").options}
    assert shown == set(rows.loc[rows["cluster"] == 1, "pin_code"])
