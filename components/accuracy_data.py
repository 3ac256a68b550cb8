"""Cached reads of the Accuracy page: the runs with backtests, a run's accuracy tables
(engine/forecast/scores.py), its model coverage and its worst series, each keyed on the
data version of the sales and forecasts they read and on the run and filters."""
from __future__ import annotations

import streamlit as st

from engine.forecast import scores
from engine.warehouse.backtests import worst_series
from engine.warehouse.runs import backtest_runs


@st.cache_data(show_spinner=False, max_entries=8)
def runs(_wh, version: str):
    """Runs that stored backtest rows, newest first."""
    return backtest_runs(_wh)


@st.cache_data(show_spinner="Scoring the backtest (once per run and filter)...",
               max_entries=64)
def score(_wh, version: str, run_id: str, f, by: tuple[str, ...]):
    return scores.backtest_scores(_wh, run_id, f, by)


@st.cache_data(show_spinner=False, max_entries=8)
def coverage(_wh, version: str, run_id: str, f):
    return scores.coverage(_wh, run_id, f)


@st.cache_data(show_spinner=False, max_entries=64)
def like_for_like(_wh, version: str, run_id: str, f, models: tuple[str, ...],
                  by: tuple[str, ...]):
    return scores.like_for_like(_wh, run_id, f, models, by)


@st.cache_data(show_spinner=False, max_entries=32)
def worst(_wh, version: str, run_id: str, f, model: str):
    return worst_series(_wh, run_id, f, model, 15)
