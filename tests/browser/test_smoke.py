"""Browser smoke test: start `streamlit run app.py` on the small demo warehouse, open it in
headless Chromium (Debian's /usr/bin/chromium; never `playwright install`), check that
the overview and every page in pages/ render without an exception element when visited
through the sidebar links of components/nav.py, and save screenshots to tests/artifacts/
(gitignored)."""
from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, EXCEPTION, REPO, exception_text, settle

pytestmark = pytest.mark.browser


def test_overview_renders_in_chromium_without_exception(page, app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(app_url)
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    page.get_by_text("Active PIN codes").first.wait_for(timeout=60_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=30_000)
    page.wait_for_selector('[data-testid="stDeckGlJsonChart"]', timeout=30_000)
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "overview.png"))
    assert page.locator(EXCEPTION).count() == 0, exception_text(page)
    revenue = page.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert revenue.startswith("₹"), revenue


NAV_LINK = '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'
MENU = ["Overview", "Forecast", "Accuracy", "Pricing", "Reorder", "Sourcing", "Scenarios",
        "Trends", "Ask", "Map", "Alerts", "Data", "Admin"]


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
    settle(page)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    assert _nav_labels(page) == MENU  # demo mode signs in as an admin: every page
    assert len(MENU) == len(pages) + 1, [p.name for p in pages]
    failures = {}
    for name in MENU[1:]:
        _nav_link(page, name).click()
        page.wait_for_url(f"{app_url}/{name}", timeout=30_000)
        settle(page)
        page.screenshot(path=str(ARTIFACTS / f"page_{name}.png"))
        if page.locator(EXCEPTION).count():
            failures[name] = exception_text(page)
        assert _nav_labels(page) == MENU, name
    assert not failures, failures
    _nav_link(page, "Overview").click()
    page.wait_for_url(f"{app_url}/", timeout=30_000)
    page.get_by_text("Active PIN codes").first.wait_for(timeout=60_000)
