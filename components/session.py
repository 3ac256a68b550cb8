"""The app's warehouse handle and the sidebar filters every page shares.

`get_warehouse()` is the process-wide DuckDB handle (st.cache_resource); pages key their
st.cache_data wrappers on `get_warehouse().data_version()`.
"""
from __future__ import annotations

import streamlit as st

from engine.warehouse.db import Warehouse, WarehouseError


@st.cache_resource(show_spinner=False)
def _open_warehouse(path: str | None) -> Warehouse:
    return Warehouse(path)


def get_warehouse() -> Warehouse:
    """The warehouse for this app process; stops the page with a clear message if the
    file cannot be opened (e.g. another process holds the write lock)."""
    import os

    try:
        return _open_warehouse(os.environ.get("MICROPULSE_WAREHOUSE"))
    except WarehouseError as exc:
        st.error(str(exc))
        st.stop()
