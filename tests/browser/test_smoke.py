"""Browser smoke test: start `streamlit run app.py` on the small demo warehouse, open it in
headless Chromium (Debian's /usr/bin/chromium; never `playwright install`), check that
the overview and every page in pages/ render without an exception element when visited
through the sidebar links of components/nav.py, and save screenshots to tests/artifacts/
(gitignored)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'


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


@pytest.fixture(scope="module")
def app_url(small_warehouse_path, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    # The test process may hold the session warehouse open; the app gets its own copy so
    # it can take DuckDB's file lock.
    workdir = tmp_path_factory.mktemp("browser")
    warehouse = workdir / "app.duckdb"
    shutil.copy(small_warehouse_path, warehouse)
    port = _free_port()
    log = workdir / "streamlit.log"
    env = {**os.environ, "MICROPULSE_WAREHOUSE": str(warehouse), "MICROPULSE_AUTH": "off"}
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
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # Streamlit scrolls inside its own container: a tall viewport shows everything.
        pg = browser.new_page(viewport={"width": 1400, "height": 2400})
        yield pg
        browser.close()


def _settle(pg, timeout_ms: int = 60_000) -> None:
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


def _exception_text(pg) -> str:
    return "\n\n".join(pg.locator(EXCEPTION).all_inner_texts())


def test_overview_renders_in_chromium_without_exception(page, app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(app_url)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.get_by_text("Active PIN codes").first.wait_for(timeout=60_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=30_000)
    page.wait_for_selector('[data-testid="stDeckGlJsonChart"]', timeout=30_000)
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / "overview.png"))
    assert page.locator(EXCEPTION).count() == 0, _exception_text(page)
    revenue = page.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert revenue.startswith("₹"), revenue


NAV_LINK = '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'
MENU = ["Overview", "Forecast", "Accuracy", "Pricing", "Reorder", "Sourcing", "Map", "Alerts",
        "Data", "Admin"]


def _nav_labels(pg) -> list[str]:
    """Labels of the sidebar links (components/nav.py); the icon name is the first line."""
    links = pg.locator(NAV_LINK)
    return [links.nth(i).inner_text().strip().splitlines()[-1] for i in range(links.count())]


def _nav_link(pg, name: str):
    return pg.locator(NAV_LINK).filter(has=pg.get_by_text(name, exact=True))


def test_every_page_renders_without_exception(page, app_url):
    """Visit every page through our sidebar links (Streamlit's own list is switched off),
    then come back to the overview through its link."""
    pages = sorted(p for p in (REPO / "pages").glob("*.py") if not p.name.startswith("_"))
    if not pages:
        pytest.skip("no pages/ yet")
    page.goto(app_url)
    page.get_by_text("Active PIN codes").first.wait_for(timeout=60_000)
    _settle(page)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    assert _nav_labels(page) == MENU  # demo mode signs in as an admin: every page
    assert len(MENU) == len(pages) + 1, [p.name for p in pages]
    failures = {}
    for name in MENU[1:]:
        _nav_link(page, name).click()
        page.wait_for_url(f"{app_url}/{name}", timeout=30_000)
        _settle(page)
        page.screenshot(path=str(ARTIFACTS / f"page_{name}.png"))
        if page.locator(EXCEPTION).count():
            failures[name] = _exception_text(page)
        assert _nav_labels(page) == MENU, name
    assert not failures, failures
    _nav_link(page, "Overview").click()
    page.wait_for_url(f"{app_url}/", timeout=30_000)
    page.get_by_text("Active PIN codes").first.wait_for(timeout=60_000)
