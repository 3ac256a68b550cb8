"""Live updates in the app: a run, an upload or sales events committed elsewhere show up
without a reload.

`watch(wh, user)` (called by components/session.get_warehouse on every page) draws a
small sidebar fragment that reruns every MICROPULSE_LIVE_POLL_S seconds (default 5; 0 turns
it off). Each tick reads the warehouse's data versions of forecasts, alerts and sales (one
small query of the `meta` table; benchmarks/bench_events.py measures it) and, when one
moved since the previous tick, says what changed and reruns the page, whose caches are
keyed on those versions. A forecast run started in this process (a page's Run button, or
the REST API running inside the app with MICROPULSE_API_IN_APP=1) also shows its progress
while it runs, from the engine's in-process bus (engine/bus.py), filtered by
`bus.may_see` like the API's /ws.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import streamlit as st

from engine import bus

DOMAINS = ("forecasts", "alerts", "sales")
SEEN_KEY, DRAWING_KEY = "_mp_live_seen", "_mp_live_drawing"
WHAT = {"forecasts": "a forecast or backtest run finished", "alerts": "alerts changed",
        "sales": "new sales arrived"}


def poll_seconds() -> float:
    try:
        value = float(os.environ.get("MICROPULSE_LIVE_POLL_S", "5"))
    except ValueError:
        return 5.0
    return value if value >= 0 else 5.0


def versions(text: str) -> dict[str, str]:
    """'tag:forecasts=3,alerts=5,sales=2' -> {'forecasts': '3', ...}."""
    body = text.split(":", 1)[1] if ":" in text else text
    return dict(part.split("=", 1) for part in body.split(",") if "=" in part)


def changes(seen: str | None, now: str) -> list[str]:
    """What moved between two data versions, in words (empty: nothing, or no baseline)."""
    if not seen or seen == now:
        return []
    old, new = versions(seen), versions(now)
    return [WHAT[d] for d in DOMAINS if old.get(d) != new.get(d)]


class RunFeed:
    """The latest progress message of each run in progress in this process (bus-fed)."""

    def __init__(self):
        self.runs: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        bus.subscribe(self._on)

    def _on(self, message: dict) -> None:
        if message.get("type") not in ("run_progress", "run_finished"):
            return
        with self._lock:
            if message["type"] == "run_finished":
                self.runs.pop(message["run"], None)
            else:
                self.runs[message["run"]] = message
                while len(self.runs) > 20:
                    self.runs.popitem(last=False)

    def visible(self, user) -> list[dict]:
        with self._lock:
            return [m for m in self.runs.values() if bus.may_see(user, m)]


@st.cache_resource(show_spinner=False)
def _feed() -> RunFeed:
    return RunFeed()


def watch(wh, user) -> None:
    """Start the sidebar watcher. Its baseline is the versions at its first tick after
    each full page run, so what the page itself just wrote (a button's run or upload,
    whose result the page is showing) never reruns it; a change after that does."""
    every = poll_seconds()
    if not every:
        return
    st.session_state[SEEN_KEY] = None
    st.session_state[DRAWING_KEY] = True
    feed = _feed()

    @st.fragment(run_every=every)
    def watcher() -> None:
        for run in feed.visible(user):
            st.caption(f":material/autorenew: {run['kind'].capitalize()} run in progress: "
                       f"{run['message']}")
        if st.session_state.pop(DRAWING_KEY, False):
            return                    # drawn with the page: the first tick sets the baseline
        now = wh.data_version(*DOMAINS)
        moved = changes(st.session_state.get(SEEN_KEY), now)
        st.session_state[SEEN_KEY] = now
        if moved:
            st.toast("Updated: " + "; ".join(moved) + ".", icon=":material/sync:")
            st.rerun(scope="app")

    with st.sidebar:
        watcher()
