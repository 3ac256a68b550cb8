"""Cached reads of the Forecast page (forecast runs, series, backtests, festivals,
seasonality, demand responses, what-if results, saved what-ifs) and its one write (save a
what-if scenario), each read keyed on the data version of what it reads and its arguments."""
from __future__ import annotations

import streamlit as st

from engine.forecast.intervals import aggregate_bands
from engine.forecast.whatif import response_curves, run_scenario
from engine.scenarios.whatif_saved import list_scenarios
from engine.signals.festivals import festivals_in_range
from engine.signals.seasonality import decompose
from engine.warehouse import backtests, forecasts, runs, sales_history
from engine.warehouse.festivals import read_festivals
from engine.scenarios.whatif_saved import save_scenario  # noqa: F401 - the page's write


# The page's reads by name: the stored run, its forecasts, backtest and the sales history.
READS = {f.__name__: f for f in (
    runs.latest_forecast_run, forecasts.selection_options, forecasts.forecast_series,
    forecasts.forecast_detail, forecasts.routing_mix, forecasts.driver_effects,
    forecasts.scenario_base, backtests.selection_backtest, sales_history.history_series)}


@st.cache_data(show_spinner=False, max_entries=64)
def read(_wh, version: str, name: str, *args):
    """Every forecast read of the page (READS[name]: engine.warehouse.forecasts,
    backtests, runs, sales_history), keyed on the data version and its arguments."""
    return READS[name](_wh, *args)


@st.cache_data(show_spinner=False, max_entries=64)
def saved_whatifs(_wh, version: str, sel, f):
    """The what-ifs saved as scenarios for this selection and view
    (engine.scenarios.whatif_saved.list_scenarios), keyed on the scenarios' data version."""
    return list_scenarios(_wh, sel, f)


@st.cache_data(show_spinner=False, max_entries=64)
def aggregate(_wh, version: str, run_id: str, sel, f):
    """The selection's summed forecast with bands calibrated on its own summed backtest."""
    return aggregate_bands(read(_wh, version, "forecast_series", run_id, sel, f),
                           read(_wh, version, "selection_backtest", run_id, sel, f))


@st.cache_data(show_spinner=False, max_entries=16)
def festivals(_wh, version: str, start, end, state):
    return festivals_in_range(read_festivals(_wh)[0], start, end, state)


@st.cache_data(show_spinner=False, max_entries=16)
def seasonality(_wh, version: str, sel, f, grain: str):
    return decompose(sales_history.history_series(_wh, sel, f, grain=grain), grain)


@st.cache_data(show_spinner="Estimating demand responses (once per data version)...",
               max_entries=2)
def response(_wh, version: str):
    return response_curves(_wh)


@st.cache_data(show_spinner=False, max_entries=256)
def scenario(_wh, version: str, response_version: str, run_id: str, sel, f, cfg, grain: str):
    base = read(_wh, version, "scenario_base", run_id, sel, f)
    return run_scenario(base, response(_wh, response_version), cfg, grain=grain)

