"""Browser test of the Map page: start `streamlit run app.py` on a copy of the small demo
warehouse, open /Map in headless Chromium, save tests/artifacts/map_page.png and check the
deck.gl canvas is on screen, has a size, and is not one flat colour."""
from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, EXCEPTION, exception_text, settle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def viewport() -> dict[str, int]:
    return {"width": 1400, "height": 1600}


def test_map_page_draws_a_non_empty_map_canvas(page, app_url):
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "map_page.png"
    page.goto(f"{app_url}/Map")
    page.wait_for_selector('[data-testid="stDeckGlJsonChart"]', timeout=180_000)
    settle(page)
    page.wait_for_timeout(3000)  # deck.gl draws on the next animation frames
    assert page.locator(EXCEPTION).count() == 0, exception_text(page)
    canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    box = canvas.bounding_box()
    page.screenshot(path=str(shot))
    page.get_by_text("Sales", exact=True).first.wait_for(timeout=10_000)  # the legend
    assert box and box["width"] > 300 and box["height"] > 300, box
    img = Image.open(shot).convert("RGB")
    region = img.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]),
                       int(box["y"] + box["height"])))
    colours = region.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 20, f"map region has only {len(colours)} colours"
    # The choropleth's ramp colours are on screen, not just the grey context.
    ramp = {(255, 255, 178), (254, 204, 92), (253, 141, 60), (240, 59, 32), (189, 0, 38)}
    near = sum(n for n, c in colours
               if any(sum(abs(a - b) for a, b in zip(c, r)) < 40 for r in ramp))
    assert near > 50, "no choropleth colours in the map region"
