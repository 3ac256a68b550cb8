"""The API served inside the app's process shares the app's open warehouse."""
from __future__ import annotations

import socket

import httpx
import pytest

from components.embedded_api import EmbeddedApiError, serve_in_thread
from engine.warehouse.db import Warehouse, copy_warehouse


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_in_the_app_process_reads_the_warehouse_the_app_holds(small_warehouse_path,
                                                                  tmp_path):
    path = tmp_path / "shared.duckdb"
    copy_warehouse(small_warehouse_path, path)
    app_handle = Warehouse(path)  # what the Streamlit process holds open
    api = serve_in_thread(path, _free_port())
    try:
        ready = httpx.get(f"{api.url}/ready", timeout=30)
        assert ready.status_code == 200, ready.text
        before = ready.json()["data_version"]
        with app_handle.transaction() as cur:  # the app writes; the API sees it
            cur.execute("INSERT INTO audit_log VALUES (now(), 'app', 'test', NULL)")
        after = httpx.get(f"{api.url}/ready", timeout=30).json()["data_version"]
        assert after != before
    finally:
        api.stop()
        app_handle.close()


def test_port_in_use_gives_a_sentence(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(EmbeddedApiError, match="could not start"):
            serve_in_thread(tmp_path / "x.duckdb", port, timeout=5)
