"""Browser test of the ready demo: the small demo prepared the way `make run` prepares the
standard one (`engine.ready.make_ready`: a forecast run with its backtest, alerts, stored
elasticities and accuracy tables), served by `streamlit run app.py`, and every page opened
in headless Chromium. Each page must show content on its first visit - no "no forecast
yet" / "no backtest yet" empty state, no exception, no spinner left - and the expensive
results must come from the warehouse (derived_results), not be recomputed by the page."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, EXCEPTION, exception_text, settle

pytestmark = pytest.mark.browser

EMPTY_STATES = ("No forecast has been run yet", "No backtest yet", "has no sales yet",
                "No alerts yet")
# page -> text that only appears when the page has its content
CONTENT = {"": "Active PIN codes", "Forecast": "What if?", "Accuracy": "League table",
           "Pricing": "Price elasticity", "Reorder": "Reorder", "Sourcing": "mandi",
           "Scenarios": "1. Demand", "Trends": "Emerging and declining",
           "Ask": "Try one of these",
           "Map": "Map", "Alerts": "Alerts", "Data": "Data", "Admin": "Admin"}


@pytest.fixture(scope="module")
def app_warehouse(small_warehouse_path, tmp_path_factory) -> Path:
    from engine.ready import make_ready
    from engine.warehouse.db import Warehouse

    path = tmp_path_factory.mktemp("ready") / "ready.duckdb"
    shutil.copy(small_warehouse_path, path)
    wh = Warehouse(path)
    timings = make_ready(wh, say=lambda _m: None)
    kinds = set(wh.query("SELECT DISTINCT kind FROM derived_results")["kind"])
    wh.close()
    assert {"forecast", "elasticities", "regional elasticities"} <= set(timings)
    assert {"elasticities", "regional_elasticities", "response_sku",
            "backtest_scores"} <= kinds
    assert "sample scenario" in timings
    return path


def test_every_page_has_content_on_its_first_visit(page, app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for name, marker in CONTENT.items():
        page.goto(f"{app_url}/{name}")
        page.get_by_text(marker).first.wait_for(timeout=90_000)
        settle(page)
        page.screenshot(path=str(ARTIFACTS / f"ready_{name or 'Overview'}.png"))
        # the main column (stMain, or the scroll-to-bottom container on a chat page)
        body = page.locator('[data-testid="stMainBlockContainer"]').first.inner_text()
        empty = [e for e in EMPTY_STATES if e in body]
        if page.locator(EXCEPTION).count():
            problems[name] = exception_text(page)
        elif empty:
            problems[name] = f"empty state: {empty}"
        elif page.locator('[data-testid="stSpinner"]').count():
            problems[name] = "a spinner was still showing"
    assert not problems, problems
