"""Browser test of the Map page: start `streamlit run app.py` on a copy of the small demo
warehouse, open /Map in headless Chromium, save tests/artifacts/map_page.png and check the
deck.gl canvas is on screen, has a size, and is not one flat colour."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.test_smoke import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, EXCEPTION, REPO,
                                      _exception_text, _free_port, _settle, _wait_health)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def map_url(small_warehouse_path, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium)")
    pytest.importorskip("playwright.sync_api")
    workdir = tmp_path_factory.mktemp("browser_map")
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


def test_map_page_draws_a_non_empty_map_canvas(map_url):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "map_page.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(f"{map_url}/Map")
        page.wait_for_selector('[data-testid="stDeckGlJsonChart"]', timeout=180_000)
        _settle(page)
        page.wait_for_timeout(3000)  # deck.gl draws on the next animation frames
        assert page.locator(EXCEPTION).count() == 0, _exception_text(page)
        canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
        box = canvas.bounding_box()
        page.screenshot(path=str(shot))
        page.get_by_text("Sales", exact=True).first.wait_for(timeout=10_000)  # the legend
        browser.close()
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
