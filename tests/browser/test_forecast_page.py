"""Browser test of the Forecast page: start `streamlit run app.py` on a copy of the small
demo holding one cheap forecast run, open /Forecast in headless Chromium (Debian's
/usr/bin/chromium; never `playwright install`), move the price slider of the what-if
panel with the keyboard and check that the numbers and the scenario line move. Saves
screenshots to tests/artifacts/ (gitignored)."""
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

from tests.forecast_page_frames import forecast_copy

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-quic", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'
SCENARIO_SUM = """() => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const i = (el._fullData || []).findIndex(t => t.name === 'Scenario');
    if (i >= 0 && el.calcdata && el.calcdata[i]) {
      return el.calcdata[i].reduce((a, p) => a + (Number.isFinite(p.y) ? p.y : 0), 0);
    }
  }
  return null;
}"""


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
    workdir = tmp_path_factory.mktemp("browser_forecast")
    warehouse = workdir / "app.duckdb"
    shutil.copy(forecast_copy(str(small_warehouse_path)), warehouse)
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
        pg = browser.new_page(viewport={"width": 1400, "height": 3200})
        yield pg
        browser.close()


def _settle(pg, timeout_ms: int = 60_000) -> None:
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


def _metric(pg, label: str) -> str:
    box = pg.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_forecast_page_slider_updates_numbers_and_chart(page, app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{app_url}/Forecast")
    page.get_by_text("What if?").first.wait_for(timeout=90_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=60_000)
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / "forecast_before.png"))
    assert page.locator(EXCEPTION).count() == 0
    before_units = _metric(page, "Scenario units")
    before_sum = page.evaluate(SCENARIO_SUM)
    assert before_sum is not None, "scenario chart not found"

    thumb = page.locator('.st-key-wi_price input[type="range"]').first
    thumb.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(500)
    _settle(page)
    page.screenshot(path=str(ARTIFACTS / "forecast_after_price_rise.png"))
    assert page.locator(EXCEPTION).count() == 0
    assert float(thumb.input_value()) == 10
    after_sum = page.evaluate(SCENARIO_SUM)
    assert after_sum < before_sum, (before_sum, after_sum)   # dearer: fewer units
    assert _metric(page, "Scenario units") != before_units
    assert _metric(page, "Change in units").startswith("−")
