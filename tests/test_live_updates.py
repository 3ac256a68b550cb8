"""The app's live-updates watcher (components/live_updates.py): what moved between two
data versions, the in-process run feed, and pages drawing with it."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from components.live_updates import RunFeed, changes, versions
from engine import bus
from tests.forecast_page_frames import copy_warehouse

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "7_Alerts.py")


def test_changes_name_what_moved_between_two_versions(empty_warehouse):
    wh = empty_warehouse
    before = wh.data_version("forecasts", "alerts", "sales")
    assert versions(before) == {"forecasts": "0", "alerts": "0", "sales": "0"}
    assert changes(None, before) == [] and changes(before, before) == []
    with wh.transaction(touches=("forecasts",)):
        pass
    with wh.transaction(touches=("sales",)):
        pass
    after = wh.data_version("forecasts", "alerts", "sales")
    assert changes(before, after) == ["a forecast or backtest run finished", "new sales arrived"]
    with wh.transaction(touches=("inventory",)):       # not watched: no rerun
        pass
    assert changes(after, wh.data_version("forecasts", "alerts", "sales")) == []


def test_run_feed_keeps_runs_in_progress_and_drops_finished_ones():
    class U:
        username, pin_codes, is_scoped = "s", ("560001",), True
    feed = RunFeed()
    say, finished = bus.run_progress("forecast", None)
    say("fitting models")
    got = feed.visible(U())
    assert [m["message"] for m in got] == ["fitting models"] and got[0]["kind"] == "forecast"
    finished("fc_x")
    assert feed.visible(U()) == []


def test_pages_draw_with_the_watcher_and_leave_its_baseline_to_the_first_tick(small_warehouse_path,
                                                                      tmp_path, monkeypatch):
    path = copy_warehouse(small_warehouse_path, tmp_path / "w.duckdb")
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert at.session_state["_mp_live_seen"] is None      # the first tick sets the baseline
    assert "_mp_live_drawing" not in at.session_state      # the watcher ran with the page
