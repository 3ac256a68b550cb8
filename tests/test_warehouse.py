"""Warehouse foundation: idempotent schema, data version, transactions, lock errors."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from engine.warehouse.db import Warehouse, WarehouseLockedError
from engine.warehouse.schema import SCHEMA_VERSION, TABLES

DESIGN_TABLES = {
    "sales", "sales_daily", "skus", "locations", "weather", "festivals", "inventory",
    "mandi_prices", "mandis", "forecasts", "forecast_runs", "backtests", "ingest_batches",
    "quarantine", "alerts", "audit_log", "demo_truth",
}


def test_schema_has_every_design_table(empty_warehouse):
    assert DESIGN_TABLES <= set(empty_warehouse.tables())
    assert empty_warehouse.schema_version() == SCHEMA_VERSION


def test_schema_creation_is_idempotent(tmp_warehouse_path):
    wh = Warehouse(tmp_warehouse_path)
    with wh.transaction() as cur:
        cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S1', 'Snacks')")
    wh.apply_schema()
    wh.apply_schema()
    wh.close()
    again = Warehouse(tmp_warehouse_path)  # reopening applies the schema once more
    assert again.count("skus") == 1
    assert set(again.tables()) == set(TABLES) | {"alembic_version"}
    again.close()


def test_a_new_warehouse_records_the_newest_migration_and_reopening_runs_none(
        tmp_warehouse_path, monkeypatch):
    from engine.warehouse import migrate

    wh = Warehouse(tmp_warehouse_path)
    assert wh.scalar("SELECT version_num FROM alembic_version") == migrate.head()
    wh.close()
    ran = []
    monkeypatch.setattr(migrate, "pending_sql", lambda since: ran.append(since) or ())
    Warehouse(tmp_warehouse_path).close()
    assert ran == []                      # at the newest revision: nothing to run


def test_a_warehouse_made_before_migrations_is_brought_to_the_newest_one(tmp_warehouse_path):
    """A file from before Alembic (no alembic_version, a column added since missing) gets
    the baseline's missing pieces, keeps its rows and records the revision."""
    from engine.warehouse import migrate

    wh = Warehouse(tmp_warehouse_path)
    with wh.transaction() as cur:
        cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S1', 'Snacks')")
        cur.execute("DROP TABLE alembic_version")
        cur.execute("ALTER TABLE sales DROP COLUMN tpr")
        cur.execute("DROP TABLE assistant_turns")
    wh.close()
    again = Warehouse(tmp_warehouse_path)
    try:
        assert again.scalar("SELECT version_num FROM alembic_version") == migrate.head()
        assert "tpr" in again.query("SELECT * FROM sales LIMIT 0").columns
        assert again.count("assistant_turns") == 0 and again.count("skus") == 1
    finally:
        again.close()


def test_data_version_changes_on_every_write(empty_warehouse):
    before = empty_warehouse.data_version()
    with empty_warehouse.transaction() as cur:
        cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S1', 'Snacks')")
    middle = empty_warehouse.data_version()
    with empty_warehouse.transaction() as cur:
        cur.execute("UPDATE skus SET mrp = 10 WHERE sku_id = 'S1'")
    assert len({before, middle, empty_warehouse.data_version()}) == 3


def test_a_write_bumps_only_the_domains_it_touches(empty_warehouse):
    wh = empty_warehouse
    sales, alerts, every = wh.data_version("sales"), wh.data_version("alerts"), wh.data_version()
    with wh.transaction(touches=("alerts",)) as cur:
        cur.execute("INSERT INTO alert_rules VALUES ('r', true, 'high', '{}', 'me', now())")
    assert wh.data_version("sales") == sales          # elasticities etc. stay cached
    assert wh.data_version("alerts") != alerts
    assert wh.data_version() != every                  # "anything changed" still moves
    assert wh.data_version("sales", "forecasts") != wh.data_version("sales")
    with wh.transaction(touches=()) as cur:            # bookkeeping: nothing moves
        cur.execute("INSERT INTO audit_log VALUES (now(), 'me', 'x', NULL)")
    with pytest.raises(ValueError, match="unknown data domain"):
        wh.data_version("salse")
    assert str(wh.path) not in wh.data_version()


def test_bump_versions_inside_a_transaction(empty_warehouse):
    from engine.warehouse.db import bump_versions

    before = empty_warehouse.data_version("sales")
    with empty_warehouse.transaction(touches=("inventory",)) as cur:
        bump_versions(cur, ("sales",))
    assert empty_warehouse.data_version("sales") != before


@pytest.mark.duckdb_only("DuckDB fails the closing COMMIT after an early one; PostgreSQL only "
                         "warns (its failing COMMIT: test_a_deferred_constraint_fails_...)")
def test_failed_commit_reports_the_first_error(empty_warehouse, monkeypatch):
    """A COMMIT that fails ends the transaction; the ROLLBACK that follows must not replace
    the real error with 'no transaction is active'."""
    with pytest.raises(Exception) as info:
        with empty_warehouse.transaction() as cur:
            cur.execute("CREATE TEMP TABLE t (x INTEGER PRIMARY KEY)")
            cur.execute("INSERT INTO t VALUES (1)")
            cur.execute("COMMIT")          # ends it early: the closing COMMIT fails
    assert "commit" in str(info.value).lower()
    assert "rollback" not in str(info.value).lower()


def test_a_deferred_constraint_fails_the_commit_with_its_own_error(empty_warehouse):
    """PostgreSQL's COMMIT that fails (a deferred key checked at COMMIT) ends the
    transaction: its error is the one raised, nothing is kept, no version moves."""
    wh = empty_warehouse
    if wh.backend != "postgresql":
        pytest.skip("DuckDB has no deferred constraints (its failing COMMIT: the test above)")
    with wh.transaction(touches=()) as cur:
        cur.execute("CREATE TABLE deferred_keys (x INTEGER UNIQUE DEFERRABLE "
                    "INITIALLY DEFERRED)")
    before = wh.data_version()
    with pytest.raises(Exception) as info:
        with wh.transaction() as cur:
            cur.execute("INSERT INTO deferred_keys VALUES (1)")
            cur.execute("INSERT INTO deferred_keys VALUES (1)")   # checked at COMMIT only
    assert "duplicate key" in str(info.value).lower()
    assert "rollback" not in str(info.value).lower()
    assert wh.scalar("SELECT count(*) FROM deferred_keys") == 0
    assert wh.data_version() == before


def test_failed_load_rolls_back_and_keeps_version(empty_warehouse):
    before = empty_warehouse.data_version()
    with pytest.raises(RuntimeError):
        with empty_warehouse.transaction() as cur:
            cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S1', 'Snacks')")
            cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S2', 'Dairy')")
            raise RuntimeError("disk full halfway through")
    assert empty_warehouse.count("skus") == 0
    assert empty_warehouse.data_version() == before


def test_sql_parameters_store_text_verbatim(empty_warehouse):
    nasty = "x'); DROP TABLE sales; --"
    with empty_warehouse.transaction() as cur:
        cur.execute("INSERT INTO skus (sku_id, name, category) VALUES (?, ?, 'Snacks')",
                    ["S1", nasty])
    assert empty_warehouse.scalar("SELECT name FROM skus") == nasty
    assert "sales" in empty_warehouse.tables()


@pytest.mark.duckdb_only("the DuckDB file's one-writer-process lock; PostgreSQL takes several "
                         "writers (test_postgres_backend's two writer processes)")
def test_second_process_gets_a_clear_lock_message(tmp_warehouse_path):
    holder = Warehouse(tmp_warehouse_path)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).resolve().parents[1])!r})
        from engine.warehouse.db import Warehouse, WarehouseLockedError
        try:
            Warehouse({str(tmp_warehouse_path)!r})
        except WarehouseLockedError as exc:
            print("LOCKED:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    holder.close()
    assert "LOCKED:" in out.stdout, out.stderr
    assert "in use by another MicroPulse process" in out.stdout
    assert WarehouseLockedError.__mro__[1].__name__ == "WarehouseError"


def test_init_cli_creates_schema_without_demo(tmp_warehouse_path):
    out = subprocess.run([sys.executable, "-m", "engine", "init", "--warehouse",
                          str(tmp_warehouse_path), "--json"],
                         capture_output=True, text=True, timeout=120,
                         cwd=str(__import__('pathlib').Path(__file__).resolve().parents[1]))
    assert out.returncode == 0, out.stderr
    wh = Warehouse(tmp_warehouse_path)
    assert DESIGN_TABLES <= set(wh.tables())
    assert wh.count("sales") == 0
    wh.close()


def test_the_newest_revision_read_from_the_files_is_alembic_own_head():
    from alembic.script import ScriptDirectory

    from engine.warehouse import migrate

    assert migrate.head() == ScriptDirectory.from_config(migrate._config()).get_current_head()
