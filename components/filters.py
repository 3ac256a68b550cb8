"""The sidebar filters every page shares: state, city (depends on state), category, dates.

`sidebar_filters(wh)` draws the widgets and returns a frozen `Filters`. The selection is
kept in st.session_state under keys that are not widget keys (`mp_filter_*`), so it
survives page switches (a keyed widget's identity includes the page, so each page has
its own widget) and seeds the widgets on the next page.

Row-level security hook: the PIN codes a signed-in user may see are read from
`st.session_state[PIN_SCOPE_KEY]` (set by sign-in; absent = unrestricted). A page can
pass `pin_scope` explicitly too, but it can never widen a scope held in the session.
"""
from __future__ import annotations

from datetime import date

import streamlit as st

from components.format import dd_mmm
from engine.warehouse.sales_summary import default_period, filter_options
from engine.warehouse.sql import Filters

PIN_SCOPE_KEY = "mp_pin_scope"
_STORE = {"states": "mp_filter_states", "cities": "mp_filter_cities",
          "categories": "mp_filter_categories", "dates": "mp_filter_dates"}
_WIDGET = {name: f"_w_{key}" for name, key in _STORE.items()}


@st.cache_data(show_spinner=False, max_entries=64)
def cached_filter_options(_wh, data_version: str, pin_scope: tuple[str, ...] | None) -> dict:
    return filter_options(_wh, pin_scope)


def current_pin_scope(pin_scope: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
    """The narrower of the session's scope and the one passed in (None = unrestricted)."""
    session = st.session_state.get(PIN_SCOPE_KEY)
    session = tuple(session) if session is not None else None
    if session is None:
        return tuple(pin_scope) if pin_scope is not None else None
    if pin_scope is None:
        return session
    return tuple(p for p in pin_scope if p in set(session))


def _multiselect(name: str, label: str, options: list[str], help_text: str) -> list[str]:
    """A multiselect seeded from the shared store. With a key, Streamlit identifies the
    widget by key and page, so `default` only seeds a widget new to this page (e.g. after
    a page switch); on later reruns the widget keeps the user's picks and drops any that
    stopped being options (a city whose state was deselected)."""
    valid = set(options)
    stored = [v for v in st.session_state.get(_STORE[name], []) if v in valid]
    value = st.sidebar.multiselect(label, options, default=stored, key=_WIDGET[name],
                                   placeholder="All", help=help_text)
    st.session_state[_STORE[name]] = list(value)
    return list(value)


def _clamp_range(rng, lo: date, hi: date) -> tuple[date, date] | None:
    if not isinstance(rng, (tuple, list)) or len(rng) != 2:
        return None
    start, end = max(rng[0], lo), min(rng[1], hi)
    return (start, end) if start <= end else None


def _date_range(lo: date, hi: date) -> tuple[date, date]:
    """A date-range picker seeded from the store; while only the first date of a new
    range has been clicked, the last complete range stays in force."""
    stored = _clamp_range(st.session_state.get(_STORE["dates"]), lo, hi) or default_period(lo, hi)
    picked = st.sidebar.date_input("Date range", value=stored, min_value=lo, max_value=hi,
                                   key=_WIDGET["dates"], format="DD/MM/YYYY",
                                   help="Defaults to the last 90 days of data.")
    rng = _clamp_range(picked, lo, hi) or stored
    st.session_state[_STORE["dates"]] = rng
    return rng


def _reset() -> None:
    for key in (*_STORE.values(), *_WIDGET.values()):
        st.session_state.pop(key, None)


def sidebar_filters(wh, pin_scope: tuple[str, ...] | None = None) -> Filters:
    """Draw the shared sidebar filters and return what is selected."""
    scope = current_pin_scope(pin_scope)
    opts = cached_filter_options(wh, wh.data_version("sales"), scope)
    st.sidebar.header("Filters")
    if opts["max_date"] is None:
        st.sidebar.caption("No sales in the warehouse yet.")
        return Filters(pin_scope=scope)
    states = _multiselect("states", "State", opts["states"],
                          "Leave empty for every state.")
    city_options = sorted({c for s in (states or opts["states"])
                           for c in opts["cities_by_state"].get(s, [])})
    cities = _multiselect("cities", "City", city_options,
                          "Only cities in the selected states are listed.")
    categories = _multiselect("categories", "Category", opts["categories"],
                              "Leave empty for every category.")
    start, end = _date_range(opts["min_date"], opts["max_date"])
    days = (end - start).days + 1
    st.sidebar.caption(f"{dd_mmm(start, with_year=True)} to {dd_mmm(end, with_year=True)} "
                       f"({days} days). Data runs {dd_mmm(opts['min_date'], True)} to "
                       f"{dd_mmm(opts['max_date'], True)}.")
    st.sidebar.button("Reset filters", on_click=_reset, key="mp_filter_reset")
    return Filters(states=tuple(states), cities=tuple(cities), categories=tuple(categories),
                   start=start, end=end, pin_scope=scope)


def cluster_filter(f: Filters, clusters) -> Filters:
    """A "Store cluster" picker under the sidebar filters (`clusters`: the stored cluster
    rows this user may see, pin_code / cluster / cluster_name). Picked clusters narrow
    the filters' PIN scope to their PIN codes - never wider than the scope in force."""
    if clusters is None or len(clusters) == 0:
        return f
    names = dict(zip(clusters["cluster"].astype(int), clusters["cluster_name"]))
    stored = [c for c in st.session_state.get("mp_filter_clusters", []) if c in names]
    picked = st.sidebar.multiselect("Store cluster", sorted(names), default=stored,
                                    format_func=lambda c: names[c], key="_w_mp_filter_clusters",
                                    placeholder="All",
                                    help="PIN codes grouped by how their demand behaves "
                                         "(see the Trends page).")
    st.session_state["mp_filter_clusters"] = list(picked)
    if not picked:
        return f
    pins = set(clusters.loc[clusters["cluster"].isin(picked), "pin_code"].astype(str))
    scope = tuple(sorted(pins if f.pin_scope is None else pins & set(f.pin_scope)))
    return Filters(f.states, f.cities, f.categories, f.start, f.end, pin_scope=scope)
