"""Tables on screen and download buttons (CSV and Excel), safe to open in a spreadsheet.

Downloads go through engine/export.py, the one module behind every file MicroPulse
writes: text that a spreadsheet would run as a formula (= + - @, a tab or line break, also
after a line break inside the cell) gets a leading single quote, Excel text cells are
typed as text, numbers stay numbers and are rounded (money 2 decimals, whole units
whole), and a download for people has plain headers and DD-MMM-YYYY dates.

On screen, `table_view` / `show_table` give any frame plain headers, counts in lakh/crore
digit grouping, ₹ for money and DD-MMM-YYYY dates (never '2026-11-05 00:00:00').
"""
from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import streamlit as st

from components.format import indian_grouping, inr, pct
from engine.export import (FORMULA_STARTS, column_kind, csv_bytes,  # noqa: F401
                           neutralise_cell, xlsx_bytes)
from engine.textfmt import plain_label

__all__ = ["FORMULA_STARTS", "download_buttons", "neutralise_cell", "neutralise_formulas",
           "render_top_skus", "show_table", "table_view", "to_csv_bytes", "to_excel_bytes"]

# Integer columns that are labels, not counts: never digit-grouped.
_ID_WORDS = {"id", "year", "rank", "code", "pin", "version", "no", "number", "step",
             "fold", "month", "week", "day", "hour"}


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells and headers cannot run as spreadsheet formulas
    (numbers, dates and column names otherwise untouched)."""
    out = df.copy()
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_cell)
    return out


def to_csv_bytes(df: pd.DataFrame, plain: bool = False) -> bytes:
    """CSV (UTF-8 with BOM so Excel shows ₹ and Indian-language names). `plain=True` is the
    download for people (plain headers, DD-MMM-YYYY dates); the default keeps the column
    names and ISO dates."""
    return csv_bytes(df, "people" if plain else "machine")


def to_excel_bytes(df: pd.DataFrame, sheet_name: str = "Data", plain: bool = False) -> bytes:
    """.xlsx with text cells typed as text (never formulas); see to_csv_bytes for `plain`."""
    return xlsx_bytes(df, "people" if plain else "machine", sheet_name=sheet_name)


def download_buttons(df: pd.DataFrame, basename: str, key: str, plain: bool = True) -> None:
    """'Download CSV' and 'Download Excel' side by side: plain headers, DD-MMM-YYYY dates,
    rounded numbers, formula-safe text (`plain=False` keeps the column names, e.g. for a
    file meant to be uploaded again)."""
    # The files are built when the button is clicked (deferred data), not on every render:
    # an Excel file of a few thousand rows costs seconds that a page view must not pay.
    row = st.container(horizontal=True)
    row.download_button("Download CSV", lambda: to_csv_bytes(df, plain),
                        file_name=f"{basename}.csv",
                        mime="text/csv", key=f"{key}_csv", on_click="ignore",
                        icon=":material/download:")
    row.download_button(
        "Download Excel", lambda: to_excel_bytes(df, plain=plain),
        file_name=f"{basename}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx", on_click="ignore", icon=":material/download:")


def _missing(value) -> bool:
    return value is None or value is pd.NaT or value is pd.NA or (
        isinstance(value, float) and math.isnan(value))


def _when(value) -> str:
    """'05-Nov-2026', or '05-Nov-2026 14:30' when there is a time of day."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("Asia/Kolkata").tz_localize(None)
    return ts.strftime("%d-%b-%Y %H:%M" if ts != ts.normalize() else "%d-%b-%Y")


def _decimal(value: float) -> str:
    """A plain decimal: Indian grouping from 1,000, two decimals below 100, three
    significant figures below 1."""
    v = float(value)
    if abs(v) >= 1000:
        return indian_grouping(v)
    if abs(v) >= 1 or v == 0:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def _is_label_column(name) -> bool:
    words = set(str(name).lower().replace("-", "_").replace(" ", "_").split("_"))
    return bool(words & _ID_WORDS)


def _cell(value, kind: str, label_col: bool) -> str:
    if _missing(value):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "Yes" if value else "No"
    if isinstance(value, (pd.Timestamp, datetime, date, np.datetime64)):
        return _when(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value)) if label_col else indian_grouping(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if kind == "money":
            return inr(value, 0 if abs(value) >= 100 else 2)
        if kind == "percent":
            return pct(value, signed=False)
        if kind == "units":
            return indian_grouping(value, 0 if float(value).is_integer() else 1)
        if label_col and float(value).is_integer():
            return str(int(value))
        return _decimal(value)
    return str(value)


def table_view(df: pd.DataFrame, kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """A copy of `df` for the screen, every cell as text a person reads: plain headers
    ('order_qty' -> 'Order qty'), counts with lakh/crore grouping ('1,23,456'), money in ₹,
    known fractions in %, dates DD-MMM-YYYY (with HH:MM only when there is a time), Yes /
    No, '—' for missing. `kinds` ({column: 'money' | 'units' | 'percent' | 'other'})
    overrides the guess from the column name. Integer ids, years and ranks are not
    grouped."""
    out = {}
    for col in df.columns:
        kind = column_kind(col, kinds)
        label_col = _is_label_column(col)
        s = df[col]
        if isinstance(s, pd.DataFrame):         # duplicate column names
            s = s.iloc[:, 0]
        text = [_cell(v, kind, label_col) for v in s.tolist()]
        name = plain_label(col)
        if kind == "percent" and "%" not in name:
            name += " (%)"
        out[name] = text
    return pd.DataFrame(out, index=range(len(df)))


def show_table(df: pd.DataFrame, kinds: dict[str, str] | None = None, **kwargs):
    """st.dataframe of table_view(df), without the index, full width unless told."""
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    return st.dataframe(table_view(df, kinds), **kwargs)


def render_top_skus(top: pd.DataFrame) -> None:
    """Top SKUs with ₹ in Indian grouping; the downloads keep the numbers as numbers."""
    if top.empty:
        st.info("No SKUs sold in this period with these filters.")
        return
    shown = pd.DataFrame({
        "Rank": range(1, len(top) + 1),
        "SKU": top["sku_id"],
        "Product": top["name"].fillna(""),
        "Category": top["category"].fillna(""),
        "Revenue": [inr(v) for v in top["revenue"]],
        "Units": [indian_grouping(v) for v in top["units"]],
        "Avg price": [inr(v, 2) for v in top["avg_price"]],
        "PIN codes": [indian_grouping(v) for v in top["pin_codes"]],
        "Share": [pct(v, signed=False) for v in top["share"]],
    })
    st.dataframe(shown, hide_index=True, width="stretch")
    download_buttons(top, "top_skus", key="top_skus")
