"""Excel and Parquet uploads, for engine.ingest.readers.open_source: the chosen sheet as
text cells with its Excel row numbers (blank rows listed, not dropped), or a Parquet
file's columns, each checked against the caps (engine.ingest.limits)."""
from __future__ import annotations

import zipfile
from datetime import date, datetime, time
from pathlib import Path

from engine.ingest.errors import EmptyFileError, SheetNotFoundError, UnreadableFileError
from engine.ingest.limits import Limits, cap_text, size_text
from engine.ingest.readers import (Source, repeated_header_warnings, sha256_file,
                                   unique_names)


# ---- Excel -----------------------------------------------------------------------------
def open_excel(path: Path, name: str, size: int, sheet: str | None,
                limits: Limits) -> Source:
    """The chosen sheet as text cells. The header is the sheet's first non-blank row;
    every row keeps its Excel row number; blank rows between the header and the last
    filled row are listed (they are counted, not silently dropped). Columns no row fills
    (before the first or after the last used one) are left out."""
    import openpyxl

    _check_unpacked_size(path, name, limits)
    fh = open(path, "rb")           # a file object: openpyxl never sees the name on disk
    try:
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
            raise UnreadableFileError(
                f"'{name}' looks like an Excel file but cannot be opened (it may be damaged "
                "or password-protected). Open it in Excel, save it again as .xlsx, then "
                "upload it.") from exc
        try:
            sheets = tuple(wb.sheetnames)
            chosen = sheet if sheet is not None else sheets[0]
            if chosen not in sheets:
                raise SheetNotFoundError(chosen, list(sheets))
            header, header_row, body, lines, blank = _sheet_rows(
                wb[chosen].iter_rows(min_row=1, values_only=True), chosen, name, limits)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise UnreadableFileError(f"'{name}' is a damaged Excel file: {exc}.") from exc
        finally:
            wb.close()
    finally:
        fh.close()
    if not body:
        raise EmptyFileError(f"The sheet '{chosen}' in '{name}' has a header row but no data rows.")
    lo, hi = _used_columns([header, *body])
    if hi - lo > limits.max_columns:
        raise UnreadableFileError(
            f"The sheet '{chosen}' in '{name}' has {hi - lo:,} columns in use; MicroPulse "
            f"reads up to {cap_text(limits, 'max_columns')} columns. Remove the columns you "
            "do not need.")
    raw_header = list(header[lo:hi]) + [None] * max(0, hi - len(header))
    columns = unique_names(raw_header, start=lo + 1)
    cells = [[_cell_text(v) for v in r[lo:hi]] + [None] * max(0, hi - max(len(r), lo))
             for r in body]
    import pandas as pd

    frame = pd.DataFrame(cells, columns=columns, dtype=object)
    src = Source("excel", path, name, sha256_file(path), size, columns, frame=frame,
                 sheets=sheets, sheet=chosen, lines=lines, blank_rows=blank, limits=limits)
    src.warnings += repeated_header_warnings(raw_header, columns, start=lo + 1)
    return src


def _sheet_rows(rows, chosen: str, name: str, limits: Limits):
    header, header_row = None, 0
    for row_no, r in enumerate(rows, start=1):
        if not _blank_row(r):
            header, header_row = r, row_no
            break
    if header is None:
        raise EmptyFileError(f"The sheet '{chosen}' in '{name}' is empty.")
    body, lines, blank = [], [], []
    for row_no, r in enumerate(rows, start=header_row + 1):
        if _blank_row(r):
            blank.append(row_no)
            continue
        if len(body) >= limits.max_rows:
            raise UnreadableFileError(
                f"The sheet '{chosen}' in '{name}' has more than {limits.max_rows:,} rows; "
                f"MicroPulse loads up to {cap_text(limits, 'max_rows')} rows from one file. "
                "Split the sheet and upload the parts.")
        body.append(r)
        lines.append(row_no)
    last = lines[-1] if lines else header_row
    # Rows after the last filled one are the sheet's formatting, not blank lines of data.
    return header, header_row, body, lines, [b for b in blank if b < last]


def _blank_row(r) -> bool:
    return r is None or all(_empty(v) for v in r)


def _used_columns(rows) -> tuple[int, int]:
    """[lo, hi): the columns some row fills (each row is searched from both ends, so a
    row costs a step or two unless it has empty cells at its edges)."""
    lo, hi = None, 0
    for r in rows:
        n, i = len(r), 0
        while i < n and _empty(r[i]):
            i += 1
        if i == n:
            continue
        j = n - 1
        while _empty(r[j]):
            j -= 1
        lo = i if lo is None else min(lo, i)
        hi = max(hi, j + 1)
    return (lo or 0), hi


def _empty(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _check_unpacked_size(path: Path, name: str, limits: Limits) -> None:
    """An .xlsx is a zip: refuse one whose parts unpack beyond the decompressed cap."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(
            f"'{name}' looks like an Excel file but cannot be opened (it may be damaged "
            "or password-protected). Open it in Excel, save it again as .xlsx, then "
            "upload it.") from exc
    names = [i.filename for i in infos]
    if "xl/workbook.xml" not in names and names:
        shown = ", ".join(f"'{n}'" for n in names[:3]) + (" ..." if len(names) > 3 else "")
        raise UnreadableFileError(
            f"'{name}' is a zip archive, not an Excel workbook (it holds {shown}). Unzip it "
            "and upload the CSV, .xlsx or Parquet file inside.")
    if total > limits.max_decompressed_bytes:
        raise UnreadableFileError(
            f"'{name}' unpacks to {size_text(total)}; MicroPulse reads workbooks of up to "
            f"{cap_text(limits, 'max_decompressed_bytes')} unpacked. Save the sheet you "
            "need on its own, or as CSV.")


def _cell_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def excel_sheets(path: str | Path) -> list[str]:
    """Sheet names of an .xlsx (for the page's sheet picker); [] if it is not one."""
    import openpyxl

    try:
        with open(path, "rb") as fh:
            wb = openpyxl.load_workbook(fh, read_only=True)
            try:
                return list(wb.sheetnames)
            finally:
                wb.close()
    except Exception:  # noqa: BLE001 - a picker must not fail; open_source reports why
        return []


# ---- Parquet ---------------------------------------------------------------------------
def open_parquet(path: Path, name: str, size: int, limits: Limits) -> Source:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)
        columns = [str(c) for c in meta.schema_arrow.names]
        n = meta.metadata.num_rows
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for damage
        raise UnreadableFileError(
            f"'{name}' looks like a Parquet file but cannot be read (it may be damaged "
            "or truncated).") from exc
    if n == 0:
        raise EmptyFileError(f"'{name}' has columns but no data rows.")
    if len(columns) > limits.max_columns:
        raise UnreadableFileError(f"'{name}' has {len(columns):,} columns; MicroPulse reads "
                                  f"up to {cap_text(limits, 'max_columns')}.")
    if n > limits.max_rows:
        raise UnreadableFileError(f"'{name}' has {n:,} rows; MicroPulse loads up to "
                                  f"{cap_text(limits, 'max_rows')} rows from one file. "
                                  "Split the file and upload the parts.")
    if len(set(columns)) != len(columns):
        raise UnreadableFileError(f"'{name}' has repeated column names; rename them.")
    return Source("parquet", path, name, sha256_file(path), size, columns, limits=limits)
