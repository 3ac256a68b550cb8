"""Every table MicroPulse writes to a file goes through here: the app's CSV / Excel
downloads and every `python -m engine ... --out FILE` (.csv, .xlsx or .json).

Spreadsheet formula injection. Excel, LibreOffice and Google Sheets run a cell that starts
with = + - @ (or a tab / carriage return) as a formula, and a bare carriage return inside a
CSV field starts a new row in many readers, so 'Chai\\r=cmd|...' smuggles a formula into
the next line. Every text cell and header is therefore neutralised:
- control characters are dropped, CR LF and bare CR become LF;
- a leading single quote goes before the text and before every line (after LF or TAB)
  that starts with = + - @ (after optional spaces), and before text that starts with a
  tab or line break. The quote is what a spreadsheet shows for "this is text";
- Excel cells holding text are written with the string data type, never as formulas.
Numbers stay numbers (a negative price is still -5, not '-5).

Two audiences:
- "people" (the app's downloads): plain headers ('Order qty', 'PIN code'), DD-MMM-YYYY
  dates, Yes / No, known fractions as percentages;
- "machine" (CLI `--out`): the documented snake_case columns and ISO dates stay, so
  scripts keep reading them.
Both round: money to 2 decimals, units to whole numbers when every value is whole (else 2
decimals), other decimals to 4 places, so no 0.30000000000000004 reaches a file.
"""
from __future__ import annotations

import io
import json
import math
import re
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import MicroPulseError
from engine.textfmt import plain_label

AUDIENCES = ("people", "machine")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Control characters Excel files cannot hold (every C0 character but TAB, LF and CR).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A formula trigger at the start of the text or of a line / tab-separated piece of it.
_TRIGGER = re.compile(r"(^|[\n\t])([ \u00a0]*[=+\-@])")

# Column-name words that say what a number is (tokens of the snake_case name).
_RATIO_WORDS = {"pct", "share", "elasticity", "rate", "ratio", "coverage", "index", "score",
                "wape", "mape", "smape", "mase", "rmsse", "bias", "cv", "volatility",
                "weight", "weights", "prob", "probability", "lift", "spread", "fva", "se",
                "confidence", "lat", "lon"}
_MONEY_WORDS = {"price", "prices", "cost", "costs", "value", "revenue", "margin", "budget",
                "mrp", "inr", "rs", "amount", "profit", "freight", "landed", "modal", "risk",
                "spend", "goods", "transport"}
_UNIT_WORDS = {"units", "qty", "quantity", "demand", "stock", "hand", "order", "moq", "pack",
               "forecast", "actual", "yhat", "point", "qtl", "tonnes", "arrivals", "trucks",
               "rows", "count", "days", "km", "cover", "up", "lines", "skus", "pins"}
# Columns that hold fractions (0.12 = 12%) across the engine: shown as % to people.
FRACTION_COLUMNS = frozenset({"change_pct", "units_change_pct", "price_change_pct", "share",
                              "share_of_revenue"})
_LATLON = {"lat", "lon", "latitude", "longitude"}


class ExportError(MicroPulseError, ValueError):
    """A file we were asked to write cannot be written (unknown extension, bad path)."""

    code = "export_error"


def neutralise_text(text: str) -> str:
    """Text that no spreadsheet runs as a formula, on any of its lines.

    '=HYPERLINK(...)' -> "'=HYPERLINK(...)"; 'Chai\\r=cmd|...' -> "Chai\\n'=cmd|...";
    'Amul Butter 100 g' is unchanged. Applying it twice changes nothing more."""
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _TRIGGER.sub(r"\1'\2", text)
    if text[:1] in ("\t", "\n"):
        text = "'" + text
    return text


def neutralise_cell(value):
    """Text cells neutralised (neutralise_text); anything else returned unchanged."""
    return neutralise_text(value) if isinstance(value, str) else value


def column_kind(name, explicit: dict[str, str] | None = None) -> str:
    """'money', 'units', 'percent' (a fraction shown as %), 'coordinate' or 'other', from
    the column name's words (`explicit` {column: kind} wins)."""
    if explicit and name in explicit:
        return explicit[name]
    text = str(name).lower()
    if text in FRACTION_COLUMNS:
        return "percent"
    if text in _LATLON:
        return "coordinate"
    words = set(re.split(r"[^a-z0-9]+", text)) - {""}
    if words & _RATIO_WORDS:
        return "other"
    if words & _MONEY_WORDS:
        return "money"
    if words & _UNIT_WORDS:
        return "units"
    return "other"


def _round_floats(values: pd.Series, kind: str, audience: str) -> pd.Series:
    v = values.astype(float)
    decimals = {"money": 2, "units": 2, "coordinate": 5}.get(kind, 4)
    if kind == "percent" and audience == "people":
        v, decimals = v * 100, 1
    out = v.round(decimals) + 0.0          # + 0.0 turns -0.0 into 0.0
    if kind == "units":
        finite = out[np.isfinite(out)]
        if len(finite) == out.notna().sum() and len(finite) and \
                (finite == finite.round(0)).all():
            return out.round(0).astype("Int64")
    return out


def _has_time(ts: pd.Series) -> bool:
    ok = ts.dropna()
    return bool(len(ok)) and bool((ok != ok.dt.normalize()).any())


def _naive(ts: pd.Series) -> pd.Series:
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        return ts.dt.tz_convert("Asia/Kolkata").dt.tz_localize(None)
    return ts


def _date_text(ts: pd.Series, audience: str) -> pd.Series:
    ts = _naive(ts)
    fmt = "%d-%b-%Y" if audience == "people" else "%Y-%m-%d"
    if _has_time(ts):
        fmt += " %H:%M" if audience == "people" else " %H:%M:%S"
    return ts.dt.strftime(fmt).astype(object).where(ts.notna(), None)


def _object_cell(value, audience: str):
    if isinstance(value, str):
        return neutralise_text(value)
    if isinstance(value, (pd.Timestamp, datetime)):
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("Asia/Kolkata").tz_localize(None)
        timed = ts != ts.normalize()
        if audience == "people":
            return ts.strftime("%d-%b-%Y %H:%M" if timed else "%d-%b-%Y")
        return ts.strftime("%Y-%m-%d %H:%M:%S" if timed else "%Y-%m-%d")
    if isinstance(value, date):
        return value.strftime("%d-%b-%Y" if audience == "people" else "%Y-%m-%d")
    if isinstance(value, (bool, np.bool_)):
        return ("Yes" if value else "No") if audience == "people" else bool(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else round(float(value), 4) + 0.0
    if isinstance(value, (list, tuple, dict, set)):
        return neutralise_text(json.dumps(value, default=str, ensure_ascii=False)
                               if not isinstance(value, set) else
                               json.dumps(sorted(map(str, value)), ensure_ascii=False))
    return value


def export_frame(df: pd.DataFrame, audience: str = "people", *,
                 kinds: dict[str, str] | None = None, keep_dates: bool = False,
                 headers: bool | None = None) -> pd.DataFrame:
    """A copy of `df` ready to write: text neutralised, numbers rounded by kind, dates as
    text (DD-MMM-YYYY for people, ISO for machines; `keep_dates` leaves them as datetimes
    for an Excel writer), and for people plain headers and Yes / No.

    `kinds` overrides the guess from the column name: {'lo': 'units', ...} with kinds
    'money', 'units', 'percent', 'coordinate' or 'other'. `headers=False` keeps the
    column names as they are (still neutralised)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be 'people' or 'machine', not {audience!r}")
    plain = audience == "people" if headers is None else headers
    out = pd.DataFrame(index=range(len(df)))
    names = []
    for i, col in enumerate(df.columns):
        s = df.iloc[:, i].reset_index(drop=True)
        kind = column_kind(col, kinds)
        if pd.api.types.is_bool_dtype(s):
            s = s.map({True: "Yes", False: "No"}) if audience == "people" else s
        elif pd.api.types.is_datetime64_any_dtype(s):
            s = _naive(s) if keep_dates else _date_text(s, audience)
        elif pd.api.types.is_float_dtype(s):
            s = _round_floats(s, kind, audience)
        elif pd.api.types.is_integer_dtype(s) or pd.api.types.is_complex_dtype(s):
            pass
        else:                       # object, string, category: cell by cell
            s = s.astype(object).map(lambda v: _object_cell(v, audience))
            s = s.where(pd.notna(s), None)
        out[i] = s
        label = str(col)
        if plain:
            label = plain_label(col)
            if kind == "percent" and audience == "people" and "%" not in label:
                label += " (%)"
        names.append(neutralise_text(label))
    out.columns = _unique(names)
    return out


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n} ({seen[n]})"
        else:
            seen[n] = 1
        out.append(n)
    return out


def csv_bytes(df: pd.DataFrame, audience: str = "people", **kw) -> bytes:
    """UTF-8 with a BOM (Excel then shows ₹ and Indian-language names), every field that
    holds a comma, quote or line break quoted."""
    safe = export_frame(df, audience, **kw)
    return safe.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


def xlsx_bytes(df: pd.DataFrame, audience: str = "people", sheet_name: str = "Data",
               **kw) -> bytes:
    """An .xlsx workbook: text cells typed as strings (never formulas), numbers as numbers,
    dates as real dates shown DD-MMM-YYYY (people) or YYYY-MM-DD (machine)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    safe = export_frame(df, audience, keep_dates=True, **kw)
    wb = Workbook()
    ws = wb.active
    ws.title = re.sub(r"[\[\]:*?/\\]", " ", neutralise_text(sheet_name)).strip("'")[:31] or "Data"
    date_fmt = "DD-MMM-YYYY" if audience == "people" else "YYYY-MM-DD"
    for j, name in enumerate(safe.columns, start=1):
        put_cell(ws.cell(row=1, column=j), name, date_fmt)
    for j, col in enumerate(safe.columns, start=1):
        values = safe[col].tolist()
        for i, value in enumerate(values, start=2):
            put_cell(ws.cell(row=i, column=j), value, date_fmt)
        width = max([len(str(name))] + [len(str(v)) for v in values[:200] if v is not None])
        ws.column_dimensions[get_column_letter(j)].width = min(max(8, width + 2), 60)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def put_cell(cell, value, date_fmt: str) -> None:
    """Write `value` to an openpyxl cell: missing values stay blank, dates get `date_fmt`."""
    if value is None or value is pd.NA or value is pd.NaT:
        return
    if isinstance(value, float) and math.isnan(value):
        return
    if isinstance(value, (np.integer,)):
        value = int(value)
    elif isinstance(value, (np.floating,)):
        value = float(value)
    elif isinstance(value, np.bool_):
        value = bool(value)
    if isinstance(value, pd.Timestamp):
        timed = value != value.normalize()
        cell.value = value.to_pydatetime()
        cell.number_format = date_fmt + (" HH:MM" if timed else "")
        return
    if isinstance(value, float) and math.isinf(value):
        value = str(value)
    if isinstance(value, str):
        cell.value = neutralise_text(value)
        cell.data_type = "s"           # text, even if it looked like a formula
        return
    if not isinstance(value, (int, float, bool, datetime, date)):
        cell.value = neutralise_text(str(value))
        cell.data_type = "s"
        return
    cell.value = value


def json_records(df: pd.DataFrame, **kw) -> str:
    """A JSON list of row objects for scripts: snake_case keys, ISO dates, rounded numbers,
    null for missing. Text is kept as it is (JSON is not opened as a spreadsheet)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = _date_text(s, "machine")
        elif pd.api.types.is_float_dtype(s):
            out[col] = _round_floats(s, column_kind(col, kw.get("kinds")), "machine")
    return out.to_json(orient="records", force_ascii=False, date_format="iso")


FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}


def check_target(path) -> Path:
    """`path` as a Path when write_table can write it (a .csv, .xlsx or .json name in a
    folder that exists), else ExportError with the sentence to show. Commands call it
    before their work, so a typo in --out does not cost a whole run."""
    path = Path(path)
    if FORMATS.get(path.suffix.lower()) is None:
        raise ExportError(f"Cannot write {str(path)!r}: use a file name ending in .csv, .xlsx "
                          "or .json.")
    if not path.parent.exists():
        raise ExportError(f"Cannot write {path}: the folder {path.parent} does not exist.")
    if path.is_dir():
        raise ExportError(f"Cannot write {path}: it is a folder.")
    return path


def write_table(df: pd.DataFrame, path, audience: str = "auto", *,
                sheet_name: str = "Data", kinds: dict[str, str] | None = None) -> Path:
    """Write `df` to `path` as .csv, .xlsx or .json (by its extension), safely (see the
    module docstring). audience 'auto' (what the CLI uses): an Excel file is for people
    (plain headers, DD-MMM-YYYY dates), a CSV keeps the documented snake_case columns and
    ISO dates for scripts; JSON is always for scripts. Raises ExportError with a sentence
    for an unknown extension or a folder that does not exist."""
    path = check_target(path)
    fmt = FORMATS[path.suffix.lower()]
    if audience == "auto":
        audience = "people" if fmt == "xlsx" else "machine"
    if fmt == "csv":
        data = csv_bytes(df, audience, kinds=kinds)
    elif fmt == "xlsx":
        data = xlsx_bytes(df, audience, sheet_name=sheet_name, kinds=kinds)
    else:
        data = json_records(df, kinds=kinds).encode("utf-8")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ExportError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    return path
