"""Shared fixtures: warehouses on temp files, never the user's data/warehouse.duckdb."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from engine.warehouse.db import Warehouse  # noqa: E402

# MICROPULSE_TEST_BACKEND=postgres: the same suite on the PostgreSQL backend. A throwaway
# server is started in a temporary folder (engine/warehouse/pgserver.py) for the session;
# every warehouse a test opens then lives in a schema of its own on it.
_PG_FOLDER: str | None = None


def pytest_configure(config):
    global _PG_FOLDER
    if os.environ.get("MICROPULSE_TEST_BACKEND", "duckdb") != "postgres":
        return
    import tempfile

    from engine.warehouse import pgserver

    _PG_FOLDER = tempfile.mkdtemp(prefix="micropulse-pg-")
    os.environ["MICROPULSE_DATABASE_URL"] = pgserver.start(_PG_FOLDER)


def pytest_collection_modifyitems(config, items):
    if _PG_FOLDER is None:
        return
    for item in items:
        mark = item.get_closest_marker("duckdb_only")
        if mark is not None:
            reason = mark.args[0] if mark.args else "DuckDB file behaviour"
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL run: {reason}"))


def pytest_unconfigure(config):
    if _PG_FOLDER is not None:
        import shutil

        from engine.warehouse import pgserver

        pgserver.stop(_PG_FOLDER)
        shutil.rmtree(_PG_FOLDER, ignore_errors=True)


@pytest.fixture(scope="session")
def small_warehouse_path(tmp_path_factory) -> Path:
    """A warehouse file seeded once per test session with the small demo."""
    from engine.demo import DemoConfig, load_demo

    path = tmp_path_factory.mktemp("wh") / "small.duckdb"
    wh = Warehouse(path)
    load_demo(wh, DemoConfig.small())
    wh.close()
    return path


@pytest.fixture(scope="session")
def small_warehouse(small_warehouse_path) -> Warehouse:
    """Session-wide handle on the small demo warehouse. Treat as read-only in tests."""
    wh = Warehouse(small_warehouse_path)
    yield wh
    wh.close()


@pytest.fixture()
def tmp_warehouse_path(tmp_path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture()
def empty_warehouse(tmp_warehouse_path) -> Warehouse:
    wh = Warehouse(tmp_warehouse_path)
    yield wh
    wh.close()


@pytest.fixture()
def app_env(small_warehouse_path, monkeypatch):
    """Point the app (AppTest runs in-process) at the small demo warehouse."""
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(small_warehouse_path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    return small_warehouse_path
