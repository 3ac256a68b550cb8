"""The sidebar navigation: one `st.page_link` per page the signed-in role may open.

Streamlit's automatic page list is off (`client.showSidebarNavigation = false` in
.streamlit/config.toml): it named the overview "app" and listed pages a role cannot open.
`components.session.get_warehouse()` draws this navigation on every page once the user is
known, so no page needs its own call.

A link can only point at a page Streamlit has registered for the running app. Under
`streamlit run app.py` (and `AppTest.from_file("app.py")`) that is app.py plus every file
in pages/. When a page file runs on its own (`AppTest.from_file("pages/1_Forecast.py")`,
`streamlit run pages/1_Forecast.py`) or outside Streamlit, nothing is registered and
`st.page_link` would raise "Could not find page": the navigation is then left out.
"""
from __future__ import annotations

import os

import streamlit as st

from engine import auth
from engine.auth import User

NAV_ICONS = {  # labels are the page keys: "Overview", "Forecast", ...
    "Overview": ":material/dashboard:",
    "Forecast": ":material/insights:",
    "Accuracy": ":material/target:",
    "Pricing": ":material/sell:",
    "Reorder": ":material/inventory_2:",
    "Sourcing": ":material/agriculture:",
    "Scenarios": ":material/alt_route:",
    "Trends": ":material/trending_up:",
    "Ask": ":material/forum:",
    "Map": ":material/map:",
    "Alerts": ":material/notifications:",
    "Data": ":material/upload_file:",
    "Admin": ":material/admin_panel_settings:",
}


def registered_pages() -> dict[str, str]:
    """Page key ('Overview', 'Forecast', ...) -> script path, for the pages Streamlit has
    registered in this run. Empty outside Streamlit and when a page file runs on its own
    (Streamlit then reports only the running script, without a page hash)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return {}
    pages = {}
    for info in ctx.pages_manager.get_pages().values():
        path = info.get("script_path")
        if path and info.get("page_script_hash"):
            pages.setdefault(auth.page_key(path), os.path.realpath(path))
    return pages if "Overview" in pages else {}


def nav_pages(user: User, registered: dict[str, str]) -> list[str]:
    """Page keys to link, in menu order: the role's pages that the app has registered."""
    return [p for p in auth.PAGE_TITLES if auth.can_open_page(user, p) and p in registered]


def render_nav(user: User) -> list[str]:
    """Draw the links in the sidebar; returns the page keys linked (empty when the app's
    pages are not registered, see the module docstring)."""
    registered = registered_pages()
    pages = nav_pages(user, registered)
    for page in pages:
        st.sidebar.page_link(registered[page], label=page, icon=NAV_ICONS[page])
    if pages:
        st.sidebar.divider()
    return pages


def page_link_or_text(page: str, label: str, where=st) -> bool:
    """A link to `page` (a page key) in `where` when the app has registered it, else the
    label as plain text (a page file running on its own). True when a link was drawn."""
    registered = registered_pages()
    if page in registered:
        where.page_link(registered[page], label=label, icon=NAV_ICONS[page])
        return True
    where.markdown(label)
    return False
