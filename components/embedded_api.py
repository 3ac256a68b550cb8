"""Serve the REST API from inside the Streamlit app's process.

DuckDB lets one process at a time open a warehouse file read-write, so the app and a
separate `make api` process cannot share a warehouse. Inside one process they can: DuckDB
hands every connection to the same file the same database instance. With
MICROPULSE_API_IN_APP=1 the app starts the API on a background thread, so a pilot gets the
dashboard and the API on one warehouse at once.

The UI does not import the API package: the API is named by its ASGI app factory's import
string (`API_FACTORY`), as uvicorn names apps, and loaded only when it is started.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import MicroPulseError

API_FACTORY = "api.main:create_app"     # create_app(warehouse_path) -> the FastAPI app


class EmbeddedApiError(MicroPulseError, RuntimeError):
    """The API could not start inside this process (e.g. its port is taken)."""

    code = "api_not_started"
    http_status = 503


@dataclass
class EmbeddedApi:
    url: str
    server: object
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def serve_in_thread(warehouse_path: str | Path | None, port: int,
                    host: str = "127.0.0.1", timeout: float = 20.0) -> EmbeddedApi:
    """Start uvicorn with `create_app(warehouse_path)` on a daemon thread and wait until it
    accepts requests. Raises EmbeddedApiError with a sentence if it does not come up."""
    import uvicorn
    from uvicorn.importer import import_from_string

    create_app = import_from_string(API_FACTORY)
    config = uvicorn.Config(create_app(warehouse_path), host=host, port=port,
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn exits this way when it cannot bind; reported below
            pass

    thread = threading.Thread(target=run, name="micropulse-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.started:
            return EmbeddedApi(f"http://{host}:{port}", server, thread)
        if not thread.is_alive():
            break
        time.sleep(0.05)
    server.should_exit = True
    raise EmbeddedApiError(
        f"The REST API could not start on {host}:{port} inside the app (is the port in use? "
        "Set MICROPULSE_API_PORT to a free port).")
