"""The PostgreSQL backend on a real server: the SQL translation, several processes writing at
once, PIN scoping enforced by the database session, and a warehouse copy.

Runs in every test run: it starts a throwaway PostgreSQL server (Debian's `postgresql`
package) in a temporary folder, or uses the one of a `MICROPULSE_TEST_BACKEND=postgres`
run; skipped only when the server programs are not installed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from engine.warehouse import pgserver
from engine.warehouse.db import Warehouse, copy_warehouse

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pg_url():
    if os.environ.get("MICROPULSE_DATABASE_URL"):
        yield os.environ["MICROPULSE_DATABASE_URL"]
        return
    try:
        pgserver.bin_dir()
    except pgserver.PostgresServerError as exc:
        pytest.skip(str(exc))
    folder = tempfile.mkdtemp(prefix="micropulse-pgtest-")
    try:
        yield pgserver.start(folder)
    finally:
        pgserver.stop(folder)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def on_pg(pg_url, monkeypatch):
    monkeypatch.setenv("MICROPULSE_DATABASE_URL", pg_url)
    return pg_url


@pytest.fixture(scope="module")
def pg_demo(pg_url, tmp_path_factory):
    """The small demo, loaded once into its own schema on the server."""
    from engine.demo import DemoConfig, load_demo

    path = tmp_path_factory.mktemp("pg") / "demo.duckdb"
    old = os.environ.get("MICROPULSE_DATABASE_URL")
    os.environ["MICROPULSE_DATABASE_URL"] = pg_url
    try:
        wh = Warehouse(path)
        load_demo(wh, DemoConfig.small())
        wh.close()
    finally:
        if old is None:
            del os.environ["MICROPULSE_DATABASE_URL"]
        else:
            os.environ["MICROPULSE_DATABASE_URL"] = old
    return path


def test_warehouse_picks_the_backend_from_the_database_url(on_pg, tmp_path):
    wh = Warehouse(tmp_path / "a.duckdb")
    try:
        assert wh.backend == "postgresql" and wh.multi_process
        assert wh.schema.startswith("mp_")
        assert not (tmp_path / "a.duckdb").exists()      # nothing on the local disk
        assert set(wh.tables()) >= {"sales", "alerts", "scenarios", "users", "audit_log"}
    finally:
        wh.close()


def test_duckdb_queries_translate_to_the_same_answers(on_pg, tmp_path):
    """arg_max, any_value, GROUP BY ALL, JSON text, an unaliased subquery, INTERVAL (n)
    DAY and a registered frame give what DuckDB gives."""
    import duckdb

    frame = pd.DataFrame({"k": ["a", "a", "b", "b", "b"], "v": [1, 5, 2, None, 7],
                          "d": pd.to_datetime(["2026-01-01", "2026-01-03", "2026-01-02",
                                               "2026-01-09", "2026-01-05"]),
                          "j": ['{"pin_code": "560001"}', "{}", '{"pin_code": "400001"}',
                                None, '{"pin_code": "400001"}']})
    sql = ("SELECT k, arg_max(v, d) AS last_v, any_value(v) IS NOT NULL AS some_v, "
           "count(json_extract_string(j, '$.pin_code')) AS pins, "
           "max(d) - INTERVAL (count(*)) DAY AS back, max(d) + to_days(2) AS ahead "
           "FROM (SELECT * FROM frame) GROUP BY ALL ORDER BY k")
    expected = duckdb.connect().execute(sql).df()
    wh = Warehouse(tmp_path / "t.duckdb")
    try:
        cur = wh.cursor()
        try:
            cur.register("frame", frame)
            got = cur.execute(sql).df()
        finally:
            cur.close()
    finally:
        wh.close()
    assert got["k"].tolist() == ["a", "b"]
    assert got["last_v"].tolist() == expected["last_v"].tolist() == [5.0, 7.0]
    assert got["some_v"].tolist() == [True, True]
    assert got["pins"].tolist() == expected["pins"].tolist() == [1, 2]
    assert got["back"].tolist() == expected["back"].tolist()
    assert got["ahead"].tolist() == expected["ahead"].tolist()


def test_a_copy_is_a_separate_warehouse(on_pg, pg_demo, tmp_path):
    dst = copy_warehouse(pg_demo, tmp_path / "copy.duckdb")
    src_wh, dst_wh = Warehouse(pg_demo), Warehouse(dst)
    try:
        assert dst_wh.count("sales") == src_wh.count("sales") > 0
        with dst_wh.transaction(touches=("sales",)) as cur:
            cur.execute("DELETE FROM sales")
        assert dst_wh.count("sales") == 0 < src_wh.count("sales")
    finally:
        src_wh.close()
        dst_wh.close()


_WRITER = textwrap.dedent("""
    import json, sys, time
    from engine import alerts
    from engine.scenarios import saved
    from engine.scenarios.model import Scenario
    from engine.warehouse.db import Warehouse

    path, who, ids, go = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4])
    wh = Warehouse(path)
    while time.time() < go:          # both writers start together
        time.sleep(0.01)
    for i in range(8):
        saved.save(wh, Scenario(f"{who} plan {i}"), actor=who)
        alerts.acknowledge(wh, ids[i::8], actor=who)
    deadline = time.time() + 120     # until the other writer has committed all of its own
    while True:
        theirs = [s.name for s in saved.list_scenarios(wh) if not s.name.startswith(who)]
        if len(theirs) >= 8 or time.time() > deadline:
            break
        time.sleep(0.2)
    print(json.dumps({"theirs": len(theirs)}))
    wh.close()
""")


def test_two_processes_write_alerts_and_scenarios_at_once_and_lose_nothing(on_pg, pg_demo,
                                                                           tmp_path):
    import time

    from engine import alerts
    from engine.scenarios import saved

    path = copy_warehouse(pg_demo, tmp_path / "shared.duckdb")
    wh = Warehouse(path)
    try:
        alerts.generate_alerts(wh)
        ids = wh.query("SELECT alert_id FROM alerts WHERE status = 'new' ORDER BY alert_id"
                       )["alert_id"].tolist()
        assert len(ids) >= 16, "the demo raises alerts to acknowledge"
        halves = {"east": ids[0::2], "west": ids[1::2]}
        go = time.time() + 3
        procs = {who: subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), who, json.dumps(mine), str(go)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)}) for who, mine in halves.items()}
        outs = {}
        for who, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-2000:]
            outs[who] = json.loads(out.strip().splitlines()[-1])
        names = sorted(s.name for s in saved.list_scenarios(wh))
        assert names == sorted(f"{w} plan {i}" for w in halves for i in range(8))
        status = wh.query("SELECT alert_id, status FROM alerts").set_index("alert_id")["status"]
        mine = [a for half in halves.values() for a in half[:8 * len(half)]]
        assert (status.loc[mine] == "acknowledged").all()
        audit = wh.query("SELECT actor, count(*) AS n FROM audit_log WHERE action LIKE "
                         "'scenario%' GROUP BY actor").set_index("actor")["n"]
        assert audit.get("east") == audit.get("west") == 8
        # each process saw all of the other's scenarios once both had committed
        assert outs["east"]["theirs"] == outs["west"]["theirs"] == 8
    finally:
        wh.close()


def test_a_write_committed_elsewhere_changes_this_process_data_version(on_pg, pg_demo,
                                                                      tmp_path):
    """A cache keyed on data_version sees another process's commit (what makes a forecast
    run or an upload done in one app process show up in the others)."""
    path = copy_warehouse(pg_demo, tmp_path / "seen.duckdb")
    wh = Warehouse(path)
    try:
        before = wh.data_version("alerts", "scenarios")
        code = ("from engine.scenarios import saved; from engine.scenarios.model import "
                "Scenario; from engine.warehouse.db import Warehouse; import sys; "
                "wh = Warehouse(sys.argv[1]); saved.save(wh, Scenario('from elsewhere'), "
                "actor='other'); wh.close()")
        subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
        after = wh.data_version("alerts", "scenarios")
        assert after != before
        assert wh.data_version("alerts") == before.split(",")[0]   # alerts untouched
        assert wh.scalar("SELECT count(*) FROM scenarios WHERE name = 'from elsewhere'") == 1
    finally:
        wh.close()


def test_store_user_reads_only_their_pins_and_cannot_leave_the_scope(on_pg, pg_demo):
    from engine.warehouse.scoped import PermissionDenied, ScopedWarehouse

    wh = Warehouse(pg_demo)
    try:
        pins = wh.query("SELECT DISTINCT pin_code FROM sales_daily ORDER BY 1")["pin_code"]
        mine = pins.iloc[0]
        view = ScopedWarehouse(wh, [mine])
        for table in ("sales", "sales_daily", "locations", "inventory"):
            got = set(view.query(f"SELECT DISTINCT pin_code FROM {table}")["pin_code"])
            assert got <= {mine} and got, table
        assert view.scalar("SELECT count(*) FROM users") == 0
        assert view.scalar("SELECT count(*) FROM audit_log") == 0
        with pytest.raises(PermissionDenied):
            view.query(f'SELECT count(*) FROM "{wh.schema}".sales')
        with pytest.raises(PermissionDenied):
            view.query("SELECT count(*) FROM public.sales")
        with pytest.raises(PermissionDenied):
            with view.transaction():
                pass
        view.close()
        # the scoped sessions never go back to the shared pool: a plain read sees all PINs
        assert wh.scalar("SELECT count(DISTINCT pin_code) FROM sales") == len(pins)
    finally:
        wh.close()


def test_a_warehouse_name_is_the_same_schema_from_the_environment_or_the_option(
        on_pg, tmp_path, monkeypatch):
    from engine.warehouse.db import DEFAULT_PATH
    from engine.warehouse.postgres import schema_for

    name = tmp_path / "named.duckdb"
    by_option = schema_for(name)
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(name))
    assert schema_for(name) == by_option != "micropulse"
    assert schema_for(DEFAULT_PATH) == "micropulse"
    monkeypatch.setenv("MICROPULSE_DATABASE_SCHEMA", "retail_team")
    assert schema_for(name) == "retail_team"


def _indexes(wh, table: str) -> set[str]:
    if wh.backend == "postgresql":
        return set(wh.query("SELECT indexname FROM pg_indexes WHERE schemaname = ? AND "
                            "tablename = ?", [wh.schema, table])["indexname"])
    return set(wh.query("SELECT index_name FROM duckdb_indexes() WHERE table_name = ?",
                        [table])["index_name"])


def test_row_store_indexes_are_made_on_postgresql_only(on_pg, tmp_path, monkeypatch):
    """Revision 0002 indexes the daily summary by date and by PIN code on PostgreSQL (a
    row store scans the whole table for min(date) without one); the DuckDB file passes
    the same revision with no index (its zone maps answer those reads)."""
    from engine.warehouse import migrate

    pg = Warehouse(tmp_path / "rows.duckdb")
    try:
        assert {"idx_sales_daily_date", "idx_sales_daily_pin"} <= _indexes(pg, "sales_daily")
        assert migrate.current(pg.cursor()) == migrate.head()
    finally:
        pg.close()
    monkeypatch.delenv("MICROPULSE_DATABASE_URL")
    duck = Warehouse(tmp_path / "columns.duckdb")
    try:
        assert duck.backend == "duckdb"
        assert not {"idx_sales_daily_date", "idx_sales_daily_pin"} & _indexes(duck, "sales_daily")
        assert migrate.current(duck.cursor()) == migrate.head()
    finally:
        duck.close()


def test_a_big_committed_write_refreshes_the_planner_statistics(on_pg, tmp_path):
    """A transaction that writes ANALYZE_AFTER_ROWS rows or more to a table analyses it
    when it commits (autovacuum comes a minute later; until then the planner takes the
    table for empty); a small write or a rolled-back one does not."""
    from engine.warehouse import postgres

    wh = Warehouse(tmp_path / "stats.duckdb")

    def analysed(table: str):
        return wh.scalar("SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = ? "
                         "AND relname = ?", [wh.schema, table])

    try:
        assert analysed("weather") is None
        rows = pd.DataFrame({"city": "Pune", "date": pd.date_range(
            "2020-01-01", periods=postgres.ANALYZE_AFTER_ROWS + 10).date, "temp_c": 30.0})
        with wh.transaction(touches=()) as cur:
            cur.register("w", rows)
            cur.execute("INSERT INTO weather (city, date, temp_c) SELECT city, date, "
                        "temp_c FROM w")
        assert analysed("weather") is not None
        with pytest.raises(RuntimeError):
            with wh.transaction(touches=()) as cur:
                cur.execute("INSERT INTO mandis (market, state) VALUES ('X', 'Y')")
                raise RuntimeError("undo")
        with wh.transaction(touches=()) as cur:
            cur.execute("INSERT INTO mandis (market, state) VALUES ('X', 'Y')")
        assert analysed("mandis") is None
    finally:
        wh.close()


def test_work_mem_setting_is_checked(monkeypatch):
    from engine.warehouse import postgres
    from engine.warehouse.db import WarehouseError

    monkeypatch.delenv(postgres.WORK_MEM_ENV, raising=False)
    assert postgres.work_mem() == "32MB"
    monkeypatch.setenv(postgres.WORK_MEM_ENV, "256 MB")
    assert postgres.work_mem() == "256MB"
    monkeypatch.setenv(postgres.WORK_MEM_ENV, "lots")
    with pytest.raises(WarehouseError, match="32MB"):
        postgres.work_mem()


def test_statement_names_the_table_it_writes():
    from engine.warehouse.postgres import statement

    assert statement("INSERT INTO sales (a) SELECT 1")[1] == "sales"
    assert statement("INSERT INTO main.alerts SELECT * FROM x")[1] == "alerts"
    assert statement("UPDATE meta SET value = ? WHERE key = ?")[1] == "meta"
    assert statement("DELETE FROM forecasts WHERE run_id = ?")[1] == "forecasts"
    assert statement("SELECT * FROM sales")[1] is None


def test_only_plain_reads_of_the_copied_tables_go_to_the_read_copy():
    from engine.warehouse.pgmirror import ReadCopy, tables_read

    assert tables_read("WITH cur AS (SELECT * FROM sales_daily s LEFT JOIN main.skus k "
                       "USING (sku_id)) SELECT * FROM cur, range(3) r") == {"sales_daily", "skus"}
    assert ReadCopy.answers("SELECT min(date) FROM sales_daily")
    assert ReadCopy.answers("SELECT * FROM backtests b JOIN forecast_runs r USING (run_id)")
    assert not ReadCopy.answers("SELECT * FROM sales")              # raw rows: PostgreSQL
    assert not ReadCopy.answers("SELECT * FROM sales_daily JOIN alerts ON TRUE")
    assert not ReadCopy.answers("INSERT INTO skus (sku_id) VALUES ('x')")
    assert not ReadCopy.answers("SELECT * FROM other.sales_daily")
    assert not ReadCopy.answers("SELECT 1")
    assert not ReadCopy.answers("SELECT 1; SELECT * FROM skus")


def test_a_read_copy_leaves_no_folder_behind_when_never_closed(tmp_path):
    """A warehouse that is never closed (a script that just ends, a cached page warehouse
    at exit) still removes its read copy's temporary folder (238 were left in /tmp by one
    suite run before)."""
    code = textwrap.dedent("""
        import gc, os, sys
        from engine.warehouse.pgmirror import ReadCopy
        collected = ReadCopy(None)
        folder = collected._folder
        assert os.path.isdir(folder)
        del collected
        gc.collect()
        print(folder, os.path.isdir(folder))
        kept = ReadCopy(None)            # alive until the interpreter exits
        print(kept._folder)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert out[1] == "False"             # removed when the copy was collected
    assert not os.path.exists(out[0]) and not os.path.exists(out[2])   # and at exit


def test_page_reads_come_from_a_read_copy_as_fresh_as_the_database(on_pg, pg_demo, monkeypatch):
    """The pages' aggregates are answered by the process's DuckDB copy of the sales and
    forecast tables: the same answer as PostgreSQL's, copied again after a commit by
    another process (a data version it bumped) and after a write of this process that
    bumps none."""
    from engine.warehouse import sales_summary as q
    from engine.warehouse.sql import Filters

    sql = ("SELECT pin_code, sum(revenue) AS revenue, count(*) AS n FROM sales_daily "
           "GROUP BY pin_code ORDER BY pin_code")
    monkeypatch.setenv("MICROPULSE_DATABASE_READ_COPY", "off")
    direct = Warehouse(pg_demo)
    monkeypatch.setenv("MICROPULSE_DATABASE_READ_COPY", "on")
    wh, other = Warehouse(pg_demo), Warehouse(pg_demo)
    try:
        expected = direct.query(sql)
        got = wh.query(sql)
        assert wh._read_copy is not None and wh._read_copy.refreshes == 1
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        assert q.kpis(wh, Filters()) == q.kpis(direct, Filters())
        wh.query(sql)
        assert wh._read_copy.refreshes == 1            # nothing committed: no copy again
        assert direct._read_copy is None

        pin, day = expected["pin_code"].iloc[0], "2030-01-01"
        with other.transaction(touches=("sales",)) as cur:   # another process's upload
            cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue) "
                        "SELECT sku_id, ?, CAST(? AS DATE), 1, 1000000 FROM skus LIMIT 1",
                        [pin, day])
        after = wh.query(sql)
        assert after["revenue"].iloc[0] == pytest.approx(expected["revenue"].iloc[0] + 1e6)
        assert wh.scalar("SELECT max(date) FROM sales_daily").isoformat() == day

        cur = wh.cursor()        # a write of this process that bumps no data version
        try:
            cur.execute("DELETE FROM sales_daily WHERE date = CAST(? AS DATE)", [day])
        finally:
            cur.close()
        pd.testing.assert_frame_equal(wh.query(sql), expected, check_dtype=False)
    finally:
        for w in (wh, other, direct):
            w.close()
    assert wh._read_copy is None


def test_tables_over_the_row_limit_are_read_on_postgresql(on_pg, pg_demo, monkeypatch):
    """A domain whose tables hold more rows than MICROPULSE_DATABASE_READ_COPY_MAX_ROWS is
    not copied (the disk and the minute to copy it are not worth it): its reads go to
    PostgreSQL, with the same answer; a domain under the limit is still copied."""
    sql = "SELECT count(*) AS n, sum(revenue) AS revenue FROM sales_daily"
    monkeypatch.setenv("MICROPULSE_DATABASE_READ_COPY_MAX_ROWS", "1000")
    wh = Warehouse(pg_demo)
    try:
        assert wh.count("sales_daily") > 1000
        got = wh.query(sql)
        assert wh._read_copy.refreshes == 0
        assert int(got["n"].iat[0]) == wh.count("sales_daily")
        wh.query("SELECT count(*) FROM forecast_runs")       # few rows: copied
        assert wh._read_copy.refreshes == 1
    finally:
        wh.close()
    monkeypatch.setenv("MICROPULSE_DATABASE_READ_COPY_MAX_ROWS", "many")
    with pytest.raises(Exception, match="whole number of rows"):
        Warehouse(pg_demo)
