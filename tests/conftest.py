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
