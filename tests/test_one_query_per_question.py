"""One question, one answer: "which forecast run is the latest?" With a newer failed run
and a newer still-running run planted next to a finished one, every reader - the engine
(pricing, reorder, map, alerts' rule input), the API, the Forecast and Accuracy pages'
accessors and the CLI - names the finished run, and no module but engine/warehouse/runs.py
asks forecast_runs for its newest row or spells out which status counts."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.security import Settings
from engine.__main__ import main
from engine.warehouse.db import Warehouse
from engine.warehouse.runs import counted_run, latest_forecast_run
from tests.api_frames import build_world, headers_by_role
from tests.forecast_page_frames import forecast_copy

REPO = Path(__file__).resolve().parents[1]
FAILED, RUNNING, FAILED_BT = "fc_planted_failed", "fc_planted_running", "bt_planted_failed"


def _copy_rows(wh, table: str, **changed: str) -> str:
    """INSERT copying run ?'s rows of `table` under run_id ? (parameters: the new run_id,
    the source run), with `changed` columns' expressions: the same SQL on both backends."""
    cols = list(wh.query(f"SELECT * FROM {table} LIMIT 0").columns)
    select = ", ".join("? AS run_id" if c == "run_id" else f"{changed[c]} AS {c}"
                       if c in changed else c for c in cols)
    return (f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table} "
            "WHERE run_id = ?")


@pytest.fixture(scope="module")
def world(small_warehouse_path, tmp_path_factory):
    """The API world (one finished cheap forecast run, users, alerts) plus, created after
    it: a failed forecast run whose rows are ten times the finished run's, a running one
    with no rows, and a failed backtest run with backtest rows."""
    w = build_world(forecast_copy(str(small_warehouse_path)),
                    tmp_path_factory.mktemp("latest") / "latest.duckdb")
    wh = Warehouse(w.path)
    try:
        ok = latest_forecast_run(wh)["run_id"]
        later = datetime.now() + timedelta(hours=1)
        with wh.transaction(touches=("forecasts",)) as cur:
            for run_id, kind, status, minutes in ((FAILED, "forecast", "failed", 1),
                                                  (RUNNING, "forecast", "running", 2),
                                                  (FAILED_BT, "backtest", "failed", 3)):
                cur.execute("INSERT INTO forecast_runs (run_id, created_at, kind, grain, cutoff, "
                            "horizon, n_series, models, config, timings, status) SELECT ?, ?, "
                            "?, grain, cutoff, horizon, n_series, models, config, timings, ? "
                            "FROM forecast_runs WHERE run_id = ?",
                            [run_id, later + timedelta(minutes=minutes), kind, status, ok])
            cur.execute(_copy_rows(wh, "forecasts", forecast="forecast * 10"), [FAILED, ok])
            cur.execute(_copy_rows(wh, "backtests"), [FAILED_BT, ok])
    finally:
        wh.close()
    return w, ok


@pytest.fixture(scope="module")
def wh(world):
    handle = Warehouse(world[0].path)
    yield handle
    handle.close()


def test_the_one_function_skips_failed_and_running_runs(world, wh):
    _, ok = world
    run = latest_forecast_run(wh)
    assert run["run_id"] == ok and run["status"] == "ok"
    assert isinstance(run["config"], dict) and run["horizon"] == 14
    assert latest_forecast_run(wh, "backtest") is None     # the only backtest run failed
    newest = wh.query("SELECT run_id FROM forecast_runs ORDER BY created_at DESC LIMIT 1")
    assert newest["run_id"].iloc[0] == FAILED_BT           # the plant is really newer
    counted = wh.query(f"SELECT run_id FROM forecast_runs WHERE {counted_run()}")
    assert set(counted["run_id"]) == {ok}


def test_the_engine_readers_agree(world, wh):
    from engine.inventory.planner import load_inputs
    from engine.map_metrics import pin_inputs
    from engine.pricing.inputs import load_baseline
    from engine.warehouse.sql import Filters

    _, ok = world
    assert load_baseline(wh, 7).run_id == ok
    assert f"Forecast run {ok}" in pin_inputs(wh, Filters(), "forecast").note
    assert ok in load_inputs(wh).model.label and FAILED not in load_inputs(wh).model.label


def test_the_pages_accessors_agree(world, wh):
    from components import accuracy_data, forecast_data

    _, ok = world
    version = wh.data_version("sales", "forecasts")
    assert forecast_data.read(wh, version, "latest_forecast_run")["run_id"] == ok
    listed = set(accuracy_data.runs(wh, version)["run_id"])
    assert ok in listed and FAILED_BT not in listed


def test_the_api_agrees(world):
    w, ok = world
    app = create_app(w.path, Settings(jwt_secret="t" * 48, rate_per_minute=10_000))
    try:
        client = TestClient(app, raise_server_exceptions=False)
        assert client.get("/ready").json()["latest_forecast_run"] == ok
        sku, pin = w.series[0]
        res = client.get("/v1/forecasts", params={"sku_id": sku, "pin_code": pin, "horizon": 7},
                         headers=headers_by_role(client)("analyst"))
        assert res.status_code == 200, res.text
        assert res.json()["run_id"] == ok
    finally:
        app.state.micropulse.close()


def test_the_cli_agrees(world, capsys):
    w, ok = world
    assert main(["ask", "How much will Chennai sell next week?", "--json",
                 "--warehouse", str(w.path)]) == 0
    out = capsys.readouterr().out
    body = json.loads(out)
    assert body["intent"] == "forecast"
    assert f"Forecast run {ok}" in out and FAILED not in out and RUNNING not in out


# Which status counts, or the newest row of forecast_runs, asked anywhere else.
_NEWEST = re.compile(r"forecast_runs[^;]*?ORDER BY[^;]*?DESC[^;]*?LIMIT 1", re.S | re.I)
_STATUS = re.compile(r"status\s*=\s*'ok'|coalesce\([\w.]*status", re.I)


def test_no_other_module_asks_which_run_is_the_latest():
    offenders = []
    for folder in ("engine", "api", "components", "pages"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == REPO / "engine" / "warehouse" / "runs.py":
                continue
            text = path.read_text(encoding="utf-8")
            if _NEWEST.search(text) or ("forecast_runs" in text and _STATUS.search(text)):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_the_check_sees_a_copied_query():
    copy = ("SELECT run_id FROM forecast_runs WHERE kind = 'forecast' AND status = 'ok' "
            "ORDER BY created_at DESC, run_id DESC LIMIT 1")
    assert _NEWEST.search(copy) and _STATUS.search(copy)


# ---- the other question asked by copied queries: "what is the newest sales date?" ----------
_NEWEST_SALE = re.compile(r"(?<=[\"'])SELECT\s+max\(date\)(\s+AS\s+\w+)?\s+FROM\s+sales_daily",
                          re.I)


def test_the_newest_sales_date_has_one_answer(world, wh):
    from engine.warehouse.sales import last_sales_date
    from engine.warehouse.sales_summary import date_bounds

    newest = wh.scalar("SELECT max(date) FROM sales_daily")
    assert last_sales_date(wh).date() == newest == date_bounds(wh)[1]
    earlier = newest - timedelta(days=10)
    assert last_sales_date(wh, earlier).date() == wh.scalar(
        "SELECT max(date) FROM sales_daily WHERE date <= ?", [earlier])
    assert last_sales_date(wh, datetime(1990, 1, 1).date()) is None


def test_no_other_module_asks_for_the_newest_sales_date():
    offenders = [str(p.relative_to(REPO)) for folder in ("engine", "api", "components")
                 for p in sorted((REPO / folder).rglob("*.py"))
                 if p != REPO / "engine" / "warehouse" / "sales.py"
                 and _NEWEST_SALE.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    assert _NEWEST_SALE.search('wh.scalar("SELECT max(date) AS d FROM sales_daily")')
    # a sub-select inside a bigger query is part of that query's one question
    assert not _NEWEST_SALE.search('"WITH last AS (SELECT max(date) AS d FROM sales_daily)"')


# ---- and "which SKUs / places are there?": one query each, sql.read_columns (catalog, locations)
_WHOLE_TABLE = re.compile(r"^\s*SELECT\s+(?!DISTINCT\b)[\w,\s]+?\s+FROM\s+(skus|locations)\s*"
                          r"(ORDER\s+BY\s+(sku_id|pin_code)\s*)?$", re.I)


def _whole_table_reads(path: Path) -> list[str]:
    """Queries in `path` (`.query(...)`/`.scalar(...)` calls on a handle; adjacent string
    literals joined, as Python joins them) that read the whole skus or locations table."""
    import ast

    return [n.args[0].value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("query", "scalar") and n.args
            and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)
            and _WHOLE_TABLE.match(n.args[0].value)]


def test_the_catalog_and_places_are_read_by_one_query_each():
    offenders = {str(p.relative_to(REPO)): found
                 for folder in ("engine", "api", "components")
                 for p in sorted((REPO / folder).rglob("*.py"))
                 if p != REPO / "engine" / "warehouse" / "sql.py"
                 and (found := _whole_table_reads(p))}
    assert offenders == {}
    assert _WHOLE_TABLE.match("SELECT pin_code, city, state FROM locations ORDER BY pin_code")
    assert _WHOLE_TABLE.match("SELECT sku_id, name, category FROM skus")
    assert not _WHOLE_TABLE.match("SELECT pin_code FROM locations WHERE list_contains(?, x)")


def test_reference_reads_name_their_columns(wh):
    from engine.warehouse.catalog import read_skus
    from engine.warehouse.locations import read_locations

    places = read_locations(wh, ("pin_code", "state"))
    assert list(places.columns) == ["pin_code", "state"]
    assert places["pin_code"].is_monotonic_increasing
    assert len(places) == wh.scalar("SELECT count(*) FROM locations")
    assert list(read_skus(wh, ("sku_id", "category")).columns) == ["sku_id", "category"]
    with pytest.raises(ValueError, match="locations has no column"):
        read_locations(wh, ("pin_code", "pin_code; DROP TABLE locations"))
