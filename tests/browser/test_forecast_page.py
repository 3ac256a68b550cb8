"""Browser test of the Forecast page: start `streamlit run app.py` on a copy of the small
demo holding one cheap forecast run, open /Forecast in headless Chromium (Debian's
/usr/bin/chromium; never `playwright install`), move the price slider of the what-if
panel with the keyboard and check that the numbers and the scenario line move. Saves
screenshots to tests/artifacts/ (gitignored)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, EXCEPTION, settle
from tests.forecast_page_frames import forecast_copy

pytestmark = pytest.mark.browser

SCENARIO_SUM = """() => {
  for (const el of document.querySelectorAll('.js-plotly-plot')) {
    const i = (el._fullData || []).findIndex(t => t.name === 'Scenario');
    if (i >= 0 && el.calcdata && el.calcdata[i]) {
      return el.calcdata[i].reduce((a, p) => a + (Number.isFinite(p.y) ? p.y : 0), 0);
    }
  }
  return null;
}"""


@pytest.fixture(scope="module")
def app_warehouse(small_warehouse_path) -> Path:
    return forecast_copy(str(small_warehouse_path))


@pytest.fixture(scope="module")
def viewport() -> dict[str, int]:
    return {"width": 1400, "height": 3200}


def _metric(pg, label: str) -> str:
    box = pg.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_forecast_page_slider_updates_numbers_and_chart(page, app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{app_url}/Forecast")
    page.get_by_text("What if?").first.wait_for(timeout=90_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=60_000)
    settle(page)
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
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "forecast_after_price_rise.png"))
    assert page.locator(EXCEPTION).count() == 0
    assert float(thumb.input_value()) == 10
    after_sum = page.evaluate(SCENARIO_SUM)
    assert after_sum < before_sum, (before_sum, after_sum)   # dearer: fewer units
    assert _metric(page, "Scenario units") != before_units
    assert _metric(page, "Change in units").startswith("−")
