"""Page times in a real browser: every page of the running app, cold, warm and after a write.

Builds the demo warehouse the way `make run` does (`init --demo --ready`: seed, a forecast
run, alerts, stored elasticities and accuracy tables) unless --warehouse names one, starts
`streamlit run app.py` on a copy (sign-in off), and opens each page in Debian's headless
Chromium (never `playwright install`). A page is *complete* when the app has rendered
content, Streamlit's "running" indicator is gone and no spinner is left, for 0.75 s in a
row; the time printed is from navigation to the start of that quiet spell.

Passes:
- cold:        first visit of each page right after the server started (new session);
- new session: each page in a fresh browser context (a new user), the server warm;
- warm:        each page again in one session that has seen them all, reached as a user
               does, by its link in the sidebar (Streamlit keeps the session);
- reload:      each page again by its URL in that browser tab (the browser's cache warm,
               but a reload starts a new Streamlit session);
- after write: a write elsewhere (an alert acknowledged on the Alerts page, as a user
               would), then each page in a new session.
Also prints the idle server's CPU share over 20 s (target < 5%).

    python benchmarks/bench_pages.py [--warehouse FILE] [--pages Forecast Pricing ...]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, start_app  # noqa: E402

PAGES = ["", "Forecast", "Accuracy", "Pricing", "Reorder", "Sourcing", "Scenarios", "Trends",
         "Ask",
         "Map", "Alerts", "Data", "Admin"]
# Text drawn near the end of each page's script: a page is complete only once it shows.
LAST = {"": "Top 10 SKUs", "Forecast": "What if?", "Accuracy": "Worst series",
        "Pricing": "Recommended prices", "Reorder": "Purchase orders",
        "Sourcing": "Purchase split", "Scenarios": "Scenarios to compare", "Trends": "Weekly digest",
        "Ask": "Try one of these", "Map": "One PIN code",
        "Alerts": "most rupees at stake first",
        "Data": "Upload history", "Admin": "Audit log"}
# The app root carries the script's state (initial / running / notRunning); the status
# widget is not drawn in every toolbar mode, so it is not enough on its own.
RUNNING = ('[data-testid="stStatusWidget"], [data-testid="stApp"][data-test-script-state='
           '"running"], [data-testid="stApp"][data-test-script-state="initial"]')
SPINNER = '[data-testid="stSpinner"]'
CONTENT = '[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]'
NAV_LINK = '[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]'


def complete_time(pg, url: str | None, page: str, timeout: float = 120.0,
                  quiet: float = 0.75) -> float:
    """Seconds from opening `page` (by `url`, or with url=None by its sidebar link, in the
    same session) to the start of a 0.75 s quiet spell with the page complete."""
    started = time.perf_counter()
    if url is None:
        pg.locator(NAV_LINK).filter(has=pg.get_by_text(page or "Overview", exact=True)
                                    ).first.click()
    else:
        pg.goto(url, wait_until="commit")
    quiet_since = None
    last = pg.get_by_text(LAST[page]).first
    while time.perf_counter() - started < timeout:
        busy = (pg.locator(RUNNING).count() > 0 or pg.locator(SPINNER).count() > 0
                or pg.locator(CONTENT).count() < 2 or last.count() == 0)
        now = time.perf_counter()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet:
            return quiet_since - started
        pg.wait_for_timeout(50)
    return float("nan")


def build_warehouse(dest: Path) -> None:
    env = {**os.environ, "MICROPULSE_WAREHOUSE": str(dest)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "init", "--demo", "--ready", "--json"],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    print(f"demo warehouse ready (init --demo --ready) in {time.perf_counter() - started:.0f} s")


def idle_cpu(pid: int, seconds: float = 20.0) -> float:
    def ticks() -> int:
        total = 0
        for p in [pid, *_children(pid)]:
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError):
                pass
        return total
    hz = os.sysconf("SC_CLK_TCK")
    before = ticks()
    time.sleep(seconds)
    return 100.0 * (ticks() - before) / hz / seconds


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, help="serve a copy of this warehouse")
    ap.add_argument("--pages", nargs="*", default=None, help="only these pages")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print("Debian chromium is not installed (/usr/bin/chromium): nothing measured")
        return 0
    from playwright.sync_api import sync_playwright

    pages = PAGES if not args.pages else [p for p in PAGES if p in args.pages or
                                          (p == "" and "Overview" in args.pages)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_pages_"))
    served = tmp / "app.duckdb"
    if args.warehouse:
        shutil.copy(args.warehouse, served)
    else:
        build_warehouse(served)
    rows: dict[str, dict[str, float]] = {p or "Overview": {} for p in pages}
    with start_app(served) as url, sync_playwright() as pw:
        server_pid = int(subprocess.run(["pgrep", "-f", f"streamlit run app.py.*{url[-5:]}"],
                                        capture_output=True, text=True).stdout.split()[0])
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def record(page: str, label: str, seconds: float) -> None:
            rows[page or "Overview"][label] = seconds
            print(f"  {label:12s} {page or 'Overview':10s} {seconds:6.2f} s", flush=True)

        def new_session():
            return browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()

        def visit_all(label: str, pg=None) -> None:
            """Each page once; in a fresh browser context (a new session, closed after)
            unless `pg` is given."""
            for p in pages:
                one = pg or new_session()
                record(p, label, complete_time(one, f"{url}/{p}", p))
                if pg is None:
                    one.context.close()

        visit_all("cold")                   # first visits after the server started
        visit_all("new session")
        warm = new_session()
        for p in pages:                     # load once, then time the second visit
            complete_time(warm, f"{url}/{p}", p)
        for p in pages:                     # by the sidebar links: one session throughout
            record(p, "warm", complete_time(warm, None, p))
        visit_all("reload", warm)
        warm.context.close()
        note = write_through_app(url, new_session)
        print(f"  write: {note}", flush=True)
        visit_all("after write")
        browser.close()
        cpu = idle_cpu(server_pid)
    print(f"\nwrite between passes: {note}")
    cols = ["cold", "new session", "warm", "reload", "after write"]
    print(f"{'page':10s} " + " ".join(f"{c:>12s}" for c in cols))
    for page, t in rows.items():
        print(f"{page:10s} " + " ".join(f"{t.get(c, float('nan')):11.2f}s" for c in cols))
    worst_new = max(max(t.get(c, 0) for c in ("new session", "reload", "after write"))
                    for t in rows.values())
    worst_warm = max(t.get("warm", 0) for t in rows.values())
    print(f"worst new-session/reload/after-write page {worst_new:.2f} s (target < 4 s); "
          f"worst warm page {worst_warm:.2f} s (target < 2 s)")
    print(f"idle server CPU over 20 s: {cpu:.1f}% of one core (target < 5%)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def write_through_app(url: str, new_session) -> str:
    """Acknowledge the first open alert on the Alerts page, as a user would."""
    pg = new_session()
    complete_time(pg, f"{url}/Alerts", "Alerts")
    # Streamlit 1.67's multiselect is React Aria's, no longer baseweb's select
    picker = pg.locator(".st-key-al_pick [data-testid='stMultiSelect']")
    try:               # drawn below the alert table, after the page's last marker
        picker.first.wait_for(timeout=60_000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: no open alert shown
        pg.context.close()
        return "no open alert to acknowledge (no write made)"
    picker.first.get_by_role("combobox").first.click()
    # one alert: the list's first option is "Select all", which would acknowledge hundreds
    pg.locator("[data-testid='stMultiSelectDropdown'] [role='option']"
               ":not([data-key='__select_all__'])").first.click()
    pg.keyboard.press("Escape")
    pg.get_by_role("button", name="Acknowledge").first.click()
    pg.get_by_text("1 alert(s) acknowledged by").first.wait_for(timeout=60_000)
    pg.context.close()
    return "one alert acknowledged on the Alerts page"


if __name__ == "__main__":
    sys.exit(main())
