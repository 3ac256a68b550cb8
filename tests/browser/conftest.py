"""Shared machinery of the browser tests: start `streamlit run app.py` on a copy of a
warehouse (MICROPULSE_AUTH=off), wait for `/_stcore/health`, and drive it with Debian's
headless Chromium (/usr/bin/chromium; never `playwright install`). Tests are skipped when
Chromium or playwright is missing.

Module-scoped fixtures: `app_url` (the running app) and `page` (a playwright page). A test
file changes what they use by overriding two fixtures:
- `app_warehouse`: the warehouse file the app serves a copy of (default: the small demo);
- `viewport`: the page size (default 1400x2400; Streamlit scrolls inside its own
  container, so a tall viewport shows everything).
Test files import the constants and helpers (`settle`, `exception_text`, `start_app`) from
`tests.browser.conftest`. Screenshots go to tests/artifacts/ (gitignored)."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
EXCEPTION = '[data-testid="stException"]'
# "Running": the status widget, or the app root's script state (the widget is not drawn in
# every toolbar mode).
RUNNING = ('[data-testid="stStatusWidget"], [data-testid="stApp"][data-test-script-state='
           '"running"]')


def require_browser() -> None:
    """Skip the calling test unless Debian's Chromium and playwright are installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_health(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not become healthy in {timeout}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def start_app(warehouse_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `streamlit run app.py` on `warehouse_path` (auth off) and yield its base URL once
    healthy; the server log goes next to the warehouse. Stops the server on exit."""
    warehouse_path = Path(warehouse_path)
    log = warehouse_path.parent / "streamlit.log"
    port = _free_port()
    env = {**os.environ, "MICROPULSE_WAREHOUSE": str(warehouse_path),
           "MICROPULSE_AUTH": "off", **(extra_env or {})}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_health(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def app_warehouse(small_warehouse_path) -> Path:
    """The warehouse the app serves (a copy of). Override in a test file to serve another."""
    return small_warehouse_path


@pytest.fixture(scope="module")
def viewport() -> dict[str, int]:
    """Page size for `page`. Override in a test file for a taller or shorter page."""
    return {"width": 1400, "height": 2400}


@pytest.fixture(scope="module")
def app_url(request, tmp_path_factory) -> Iterator[str]:
    require_browser()
    # Looked up only after the skip check: building a warehouse (e.g. a forecast run) is
    # wasted work when there is no browser to look at it.
    source = request.getfixturevalue("app_warehouse")
    # The test process may hold the session warehouse open; the app gets its own copy so
    # it can take DuckDB's file lock.
    warehouse = tmp_path_factory.mktemp("browser") / "app.duckdb"
    shutil.copy(source, warehouse)
    with start_app(warehouse) as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url, viewport):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport=viewport)
        yield pg
        browser.close()


def settle(pg, timeout_ms: int = 60_000) -> None:
    """Wait until the app script has finished (no 'Running...' status) for a moment."""
    pg.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        if pg.locator(RUNNING).count() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.5:
                return
        else:
            quiet_since = None
        pg.wait_for_timeout(250)


def exception_text(pg) -> str:
    """The text of every Streamlit exception box on the page (for assertion messages)."""
    return "\n\n".join(pg.locator(EXCEPTION).all_inner_texts())
