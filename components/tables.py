"""Tables and download buttons (CSV and Excel), safe to open in a spreadsheet.

Spreadsheet formula injection: a text cell that starts with = + - @ (or a tab / carriage
return) is run as a formula by Excel, LibreOffice and Google Sheets. Every text cell and
header we export gets a leading single quote in that case, so it opens as plain text.
Numbers are left as numbers.
"""
from __future__ import annotations

import io
import re

import pandas as pd
import streamlit as st

from components.format import indian_grouping, inr, pct

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Control characters openpyxl refuses to write (all C0 except tab, newline, CR).
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise_cell(value):
    """'=HYPERLINK(...)' -> "'=HYPERLINK(...)"; non-text values are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells and headers cannot run as spreadsheet formulas."""
    out = df.copy()
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_cell)
    return out


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 with BOM so Excel shows ₹ and Indian-language names correctly."""
    return neutralise_formulas(df).to_csv(index=False).encode("utf-8-sig")


def to_excel_bytes(df: pd.DataFrame, sheet_name: str = "Data") -> bytes:
    safe = neutralise_formulas(df)
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(
                lambda v: _ILLEGAL_XLSX.sub("", v) if isinstance(v, str) else v)
        elif isinstance(safe[col].dtype, pd.DatetimeTZDtype):
            safe[col] = safe[col].dt.tz_localize(None)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        safe.to_excel(writer, index=False, sheet_name=sheet_name[:31])
    return buf.getvalue()


def download_buttons(df: pd.DataFrame, basename: str, key: str) -> None:
    """'Download CSV' and 'Download Excel' side by side."""
    row = st.container(horizontal=True)
    row.download_button("Download CSV", to_csv_bytes(df), file_name=f"{basename}.csv",
                         mime="text/csv", key=f"{key}_csv", on_click="ignore",
                         icon=":material/download:")
    row.download_button(
        "Download Excel", to_excel_bytes(df), file_name=f"{basename}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx", on_click="ignore", icon=":material/download:")


def render_top_skus(top: pd.DataFrame) -> None:
    """Top SKUs with ₹ in Indian grouping; the downloads keep the raw numbers."""
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
        "PIN codes": top["pin_codes"],
        "Share": [pct(v, signed=False) for v in top["share"]],
    })
    st.dataframe(shown, hide_index=True, width="stretch")
    download_buttons(top, "top_skus", key="top_skus")
