"""The app's warehouse handle, and the sign-in gate every page passes through.

`get_warehouse()` is the first call of every page. With sign-in on (the default; see
engine/auth.py and MICROPULSE_AUTH) it shows the sign-in or first-run form until someone
is signed in, draws the sidebar navigation (components/nav.py: links to exactly the pages
the user's role may open) and the account box, stops pages the role may not open, and
returns:
- the process-wide `Warehouse` (st.cache_resource) for admins, managers and analysts;
- a `ScopedWarehouse` limited to their PIN codes for store users (read-only), whose
  `data_version()` carries the scope, so st.cache_data entries keyed on it are never
  shared with users who see more.
With MICROPULSE_AUTH=off it returns the warehouse as before (demo user "demo", admin).

Every page also gets the live-updates watcher (components/live_updates.py): a run, an
upload or sales events committed elsewhere rerun the page without a reload.

With MICROPULSE_API_IN_APP=1 the first page view also starts the REST API inside this
process (components/embedded_api.py), on the same warehouse, at MICROPULSE_API_PORT (default 8000).
"""
from __future__ import annotations

import os

import streamlit as st

from components.auth import (PIN_SCOPE_KEY, account_box, current_page, page_gate,
                             signed_in_user)
from components.errors import show_error
from components.live_updates import watch
from components.nav import render_nav
from engine import auth
from engine.errors import MicroPulseError
from engine.warehouse.db import Warehouse
from engine.warehouse.scoped import ScopedWarehouse


@st.cache_resource(show_spinner=False)
def _open_warehouse(path: str | None) -> Warehouse:
    wh = Warehouse(path)
    _observability(wh)
    return wh


def _observability(wh: Warehouse) -> None:
    """MICROPULSE_LOG_FORMAT=json: the app's engine events as JSON lines on stderr;
    MICROPULSE_METRICS_PORT=N: this process's metrics at http://127.0.0.1:N/metrics
    (engine/telemetry.py). Off unless asked for."""
    from engine import telemetry

    if os.environ.get("MICROPULSE_LOG_FORMAT"):
        telemetry.configure_logging()
    port = os.environ.get("MICROPULSE_METRICS_PORT", "").strip()
    if port.isdigit():
        try:
            telemetry.serve_metrics(wh, int(port))
        except OSError as exc:      # the port is taken: the app runs on without metrics
            telemetry.log.warning("metrics not served on port %s: %s", port, exc)


@st.cache_resource(show_spinner=False)
def _embedded_api(path: str | None, port: int) -> str:
    """Start the REST API in this process once; its URL, or a sentence saying why not."""
    from components.embedded_api import EmbeddedApiError, serve_in_thread

    try:
        return serve_in_thread(path, port).url
    except EmbeddedApiError as exc:
        return str(exc)


def _maybe_start_api(path: str | None) -> None:
    if os.environ.get("MICROPULSE_API_IN_APP", "").strip() != "1":
        return
    status = _embedded_api(path, int(os.environ.get("MICROPULSE_API_PORT", "8000")))
    if status.startswith("http"):
        st.sidebar.caption(f"REST API: {status}/docs")
    else:
        st.sidebar.warning(status)


@st.cache_resource(show_spinner=False)
def _scoped(path: str | None, pins: tuple[str, ...]) -> ScopedWarehouse:
    return ScopedWarehouse(_open_warehouse(path), pins)


def get_warehouse() -> Warehouse | ScopedWarehouse:
    """The warehouse this user may read; stops the page with a clear message when the
    file cannot be opened, nobody is signed in, or the role may not open this page."""
    path = os.environ.get("MICROPULSE_WAREHOUSE")
    page = current_page()
    try:
        wh = _open_warehouse(path)
        _maybe_start_api(path)
        if not auth.auth_enabled():
            render_nav(auth.DEMO_USER)
            account_box(wh, auth.DEMO_USER)
            watch(wh, auth.DEMO_USER)
            return wh
        user = signed_in_user(wh)
        render_nav(user)
        account_box(wh, user)
        page_gate(user, page)
        watch(wh, user)
        if user.is_scoped:
            st.session_state[PIN_SCOPE_KEY] = tuple(user.pin_codes)
            return _scoped(path, tuple(user.pin_codes))
    except MicroPulseError as exc:
        show_error(exc)
        st.stop()
    st.session_state.pop(PIN_SCOPE_KEY, None)
    return wh
