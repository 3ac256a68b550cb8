"""Row-level scoping: a store user's warehouse handle only ever returns their PIN codes,
whatever the filters say and whichever engine read path a page uses."""
from __future__ import annotations

import importlib
import inspect
import json
import re
import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from engine.warehouse.db import Warehouse
from engine.warehouse.sales_summary import filter_options, kpis, sales_by_pin, top_skus
from engine.warehouse.scoped import PermissionDenied, ScopedWarehouse
from engine.warehouse.sql import Filters
from tests.test_auth_support import copy_warehouse, store_pins

REPO = Path(__file__).resolve().parents[1]
RUN = "run_scope_test"


@pytest.fixture(scope="module")
def base(small_warehouse_path, tmp_path_factory):
    """A copy of the small demo with forecasts, backtests and alerts for every PIN."""
    path = copy_warehouse(small_warehouse_path, tmp_path_factory.mktemp("scope") / "s.duckdb")
    wh = Warehouse(path)
    pins = wh.query("SELECT DISTINCT pin_code FROM sales_daily ORDER BY 1")["pin_code"]
    sku = wh.scalar("SELECT min(sku_id) FROM sales_daily")
    day = date(2025, 1, 1)
    with wh.transaction() as cur:
        cur.execute("INSERT INTO forecast_runs (run_id, created_at, kind, grain, cutoff, horizon, "
                    "n_series, models, status) VALUES (?, now(), 'forecast', 'daily', ?, 1, ?, "
                    "'naive', 'ok'), (?, now(), 'backtest', 'daily', ?, 1, ?, 'naive', 'ok')",
                    [RUN, day, len(pins), RUN + "b", day, len(pins)])
        for i, pin in enumerate(pins):
            cur.execute("INSERT INTO forecasts (run_id, sku_id, pin_code, date, forecast, model) "
                        "VALUES (?, ?, ?, ?, 1.0, 'naive')", [RUN, sku, pin, day])
            cur.execute("INSERT INTO backtests (run_id, model, fold, cutoff, sku_id, pin_code, "
                        "date, step, actual, forecast) VALUES (?, 'naive', 0, ?, ?, ?, ?, 1, 1, 1)",
                        [RUN + "b", day, sku, pin, day])
            cur.execute("INSERT INTO alerts (alert_id, rule, severity, entity, day, reason, "
                        "details, created_at) VALUES (?, 'stockout_risk', 'high', ?, ?, 'r', ?, "
                        "now())", [f"a{i}", f"{sku} @ {pin}", day,
                                   json.dumps({"pin_code": pin, "sku_id": sku})])
        cur.execute("INSERT INTO alerts (alert_id, rule, severity, entity, day, reason, details, "
                    "created_at) VALUES ('mandi1', 'mandi_spike', 'medium', 'Azadpur / onion', "
                    "?, 'r', '{\"pin_code\": null}', now())", [day])
        wh.audit(cur, "boss", "test.setup", "audit rows are hidden from store users")
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def scope(base) -> tuple[str, ...]:
    return tuple(sorted(store_pins(base)))


@pytest.fixture(scope="module")
def scoped(base, scope) -> ScopedWarehouse:
    return ScopedWarehouse(base, scope)


def _pins(df: pd.DataFrame) -> set[str]:
    return set(df["pin_code"].dropna().astype(str))


# ---- the mechanism ----------------------------------------------------------------------------
def test_unqualified_and_main_qualified_names_see_only_the_scope(base, scoped, scope):
    assert len(_pins(base.query("SELECT DISTINCT pin_code FROM sales_daily"))) > len(scope)
    assert _pins(scoped.query("SELECT DISTINCT pin_code FROM sales_daily")) == set(scope)
    # DuckDB's temp catalog also has a schema called main, so main.x is the view too.
    assert _pins(scoped.query("SELECT DISTINCT pin_code FROM main.sales_daily")) == set(scope)
    assert _pins(scoped.query("SELECT DISTINCT pin_code FROM locations")) == set(scope)


def test_catalog_qualified_names_are_refused(base, scoped):
    catalog = base.scalar("SELECT current_database()")
    for sql in (f"SELECT * FROM {catalog}.sales_daily", f'SELECT * FROM "{catalog}".main.sales',
                f"SELECT count(*) FROM {catalog.upper()} . main . inventory"):
        with pytest.raises(PermissionDenied, match="bypass PIN-code scoping"):
            scoped.query(sql)


def test_every_table_with_a_pin_code_column_is_scoped(base, scoped, scope):
    tables = base.query("SELECT table_name FROM information_schema.columns WHERE "
                        "table_catalog = current_database() AND table_schema = current_schema() AND "
                        "column_name = 'pin_code'")["table_name"].tolist()
    assert {"sales", "sales_daily", "locations", "inventory", "forecasts", "backtests"} <= \
        set(tables)
    for table in tables:
        assert _pins(scoped.query(f"SELECT DISTINCT pin_code FROM {table}")) <= set(scope), table


def test_sensitive_tables_are_empty_for_store_users(base, scoped):
    assert base.count("audit_log") > 0
    for table in ("audit_log", "quarantine", "ingest_batches"):
        assert scoped.count(table) == 0


def test_alerts_keep_the_scope_and_pinless_mandi_alerts(base, scoped, scope):
    from engine.warehouse.alerts import list_alerts

    rows = list_alerts(scoped)
    pins = {json.loads(d)["pin_code"] for d in rows["details"]}
    assert pins == set(scope) | {None}
    assert "mandi1" in set(rows["alert_id"])


def test_a_table_created_after_the_first_query_is_scoped_too(base, scoped, scope):
    scoped.query("SELECT 1")
    cur = base.cursor()
    cur.execute("CREATE TABLE late_pins AS SELECT DISTINCT pin_code FROM sales_daily")
    cur.close()
    try:
        assert _pins(scoped.query("SELECT pin_code FROM late_pins")) == set(scope)
    finally:
        cur = base.cursor()
        cur.execute("DROP TABLE late_pins")
        cur.close()
    assert _pins(scoped.query("SELECT DISTINCT pin_code FROM sales_daily")) == set(scope)


def test_a_pin_column_added_later_is_filtered_not_passed_through(base, scoped, scope):
    assert len(scoped.query("SELECT * FROM mandis")) > 0
    cur = base.cursor()
    cur.execute("ALTER TABLE mandis ADD COLUMN pin_code VARCHAR")
    cur.execute("UPDATE mandis SET pin_code = '999999'")
    try:
        assert "pin_code" not in scoped.query("SELECT * FROM mandis").columns
        assert scoped.query("SELECT pin_code FROM mandis").empty
        assert scoped.query("SELECT * FROM mandis").empty
    finally:
        cur.execute("ALTER TABLE mandis DROP COLUMN pin_code")
        cur.close()
    assert len(scoped.query("SELECT * FROM mandis")) > 0


def test_scoping_holds_in_other_threads_and_fresh_cursors(scoped, scope):
    seen = []
    t = threading.Thread(target=lambda: seen.append(
        _pins(scoped.query("SELECT DISTINCT pin_code FROM sales"))))
    t.start()
    t.join()
    assert seen == [set(scope)]
    cur = scoped.cursor()
    try:
        assert {r[0] for r in cur.execute("SELECT DISTINCT pin_code FROM inventory").fetchall()} \
            <= set(scope)
    finally:
        cur.close()


def test_store_users_cannot_write(scoped):
    with pytest.raises(PermissionDenied, match="cannot change anything"):
        with scoped.transaction() as cur:
            cur.execute("DELETE FROM sales")
    assert scoped.read_only


def test_invalid_pins_never_reach_the_view_sql(base):
    with pytest.raises(PermissionDenied, match="not 6-digit PIN codes"):
        ScopedWarehouse(base, ["110001') OR TRUE --"])
    empty = ScopedWarehouse(base, [])
    assert empty.count("sales_daily") == 0


def test_data_version_carries_the_scope(base, scoped, scope):
    assert scoped.data_version().startswith(base.data_version())
    assert scoped.data_version() != base.data_version()
    assert ScopedWarehouse(base, reversed(scope)).data_version() == scoped.data_version()
    assert ScopedWarehouse(base, scope[:1]).data_version() != scoped.data_version()


# ---- the engine read paths pages use ----------------------------------------------------------
def test_overview_queries_ignore_widened_scope_and_crafted_filters(base, scoped, scope):
    other_states = sorted(set(base.query("SELECT DISTINCT state FROM locations")["state"]) -
                          set(scoped.query("SELECT DISTINCT state FROM locations")["state"]))
    other_cities = base.query("SELECT city FROM locations WHERE state = ?",
                              [other_states[0]])["city"].tolist()
    crafted = Filters(states=tuple(other_states), cities=tuple(other_cities), pin_scope=None)
    assert kpis(base, crafted)["revenue"] > 0
    assert kpis(scoped, crafted)["revenue"] == 0
    assert sales_by_pin(scoped, crafted).empty
    widened = Filters(pin_scope=tuple(base.query("SELECT pin_code FROM locations")["pin_code"]))
    assert _pins(sales_by_pin(scoped, widened)) == set(scope)
    assert kpis(scoped, widened)["active_pins"] == len(scope)
    opts = filter_options(scoped, None)
    assert set(opts["states"]) == set(scoped.query("SELECT state FROM locations")["state"])
    assert top_skus(scoped, widened)["pin_codes"].max() <= len(scope)


WRITERS = re.compile(r"^(write|ensure|insert|update|set|rollback|record|delete|load|apply|"
                     r"count_active|ingest)")
ARGS = {"f": Filters(), "run_id": RUN, "start": date(2023, 1, 1), "end": date(2026, 12, 31),
        "batch_id": None}


def _frames(value):
    if isinstance(value, pd.DataFrame):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _frames(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _frames(v)


def test_every_warehouse_read_function_returns_only_the_scope(base, scoped, scope):
    """Call every public reader in engine/warehouse/*.py (by signature) through the store
    user's handle; any pin_code it returns must be in the scope."""
    called, checked, errors = [], 0, {}
    for file in sorted((REPO / "engine" / "warehouse").glob("*.py")):
        if file.stem in {"__init__", "db", "schema", "scoped", "users", "cli"}:
            continue
        mod = importlib.import_module(f"engine.warehouse.{file.stem}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ != mod.__name__ or name.startswith("_") or WRITERS.match(name):
                continue
            params = list(inspect.signature(fn).parameters.values())
            if not params or params[0].name != "wh":
                continue
            kwargs, ok = {}, True
            for p in params[1:]:
                if p.name in ARGS:
                    kwargs[p.name] = ARGS[p.name]
                elif p.default is inspect.Parameter.empty:
                    ok = False
            if not ok:
                continue
            try:
                result = fn(scoped, **kwargs)
            except Exception as exc:  # noqa: BLE001 - our made-up runs may not suit every reader
                errors[f"{file.stem}.{name}"] = repr(exc)
                continue
            called.append(f"{file.stem}.{name}")
            for frame in _frames(result):
                if "pin_code" in frame.columns:
                    checked += 1
                    assert _pins(frame) <= set(scope), f"{file.stem}.{name}"
    for must in ("sales_summary.kpis", "sales_summary.sales_by_pin", "locations.store_locations",
                 "sales_history.read_history", "forecasts.read_forecasts",
                 "inventory.read_inventory_lines", "alerts.list_alerts"):
        assert must in called, (must, errors.get(must))
    assert checked >= 8


def test_no_engine_sql_names_the_database_catalog():
    """Only scoped.py may build catalog-qualified names; anything else would bypass the
    scoping views (main.<table> is fine: it resolves to the temp view first)."""
    three_part = re.compile(r"\b\w+\.main\.\w+")
    for file in sorted((REPO / "engine").rglob("*.py")):
        if file.name == "scoped.py":
            continue
        text = file.read_text()
        assert not three_part.search(text), file
        assert "current_database()" not in text, file
        assert not re.search(r"\bATTACH\b|\bUSE\s+\w+\s*[;\"']", text), file


def test_a_dropped_scoped_handle_never_lends_its_views_to_other_readers(base, scope):
    """A store user's handle that is dropped without close() (its pooled cursors go with
    it) must not pass its session on: the next plain reader sees every PIN code."""
    import gc

    everyone = _pins(base.query("SELECT DISTINCT pin_code FROM sales_daily"))
    for pins in (scope[:1], ()):
        handle = ScopedWarehouse(base, pins)
        assert _pins(handle.query("SELECT DISTINCT pin_code FROM sales_daily")) == set(pins)
        del handle
        gc.collect()
        for _ in range(3):
            assert _pins(base.query("SELECT DISTINCT pin_code FROM sales_daily")) == everyone
