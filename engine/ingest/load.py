"""Ingest an uploaded file: open it, map its columns, validate and load it in one
transaction, and say exactly what happened to every line.

    result = ingest_file(wh, "sales", "pos_export.csv", user="asha")
    result.rows_read == (result.rows_loaded + result.rows_quarantined
                         + result.duplicates_skipped + result.blank_lines + result.total_rows)

App, command line and API share this path: `ingest_bytes` (the app) writes the upload to
a temporary file named by MicroPulse but keeping the upload's real extension, and the API
streams its upload to disk and calls `ingest_file` with the user's file name; the format
always comes from the file's bytes (engine.ingest.readers), never from a temporary name.
"""
from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from engine.ingest.errors import IngestError
from engine.ingest.limits import Limits
from engine.ingest.mapping import ColumnMapping, detect_mapping
from engine.ingest.readers import Source, open_source
from engine.plaintext import age_text, day_with_year
from engine.tracing import traced
from engine.warehouse.db import Warehouse, new_id
from engine.warehouse.sales import newest_sales_day

if TYPE_CHECKING:    # a CSV or Parquet upload is loaded without pandas
    import pandas as pd


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    kind: str
    file_name: str
    sha256: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    duplicates_skipped: int
    status: str                      # loaded | duplicate_file
    grain: str | None = None
    mapping: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    # Lines read that held nothing (empty, only spaces or delimiters, blank sheet rows)
    # and footers holding a 'Total' label and sums: counted, set aside, never loaded.
    blank_lines: int = 0
    total_rows: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def issues(self) -> list[dict]:
        return self.report.get("issues", [])

    @property
    def warnings(self) -> list[dict]:
        return self.report.get("warnings", [])

    @property
    def columns(self) -> list[dict]:
        """Every column of the file: mapped to which field, or ignored (ColumnMapping.accounting)."""
        return self.report.get("columns", [])

    @property
    def ignored_columns(self) -> list[str]:
        return [c["column"] for c in self.columns if c["status"] == "ignored"]

    @property
    def reconciliation(self) -> str:
        return reconciliation(self.as_dict())


COUNTS = ("rows_read", "rows_loaded", "rows_quarantined", "duplicates_skipped",
          "blank_lines", "total_rows")


def reconciliation(counts: dict, number=None) -> str:
    """'49,213 read = 48,832 loaded + 169 quarantined + 60 duplicates + 151 blank + 1 total
    row' from any dict with the six counts (an IngestResult's, a batch's, a JSON reply);
    `number` formats a count (the page passes lakh/crore grouping)."""
    fmt = number or (lambda x: f"{x:,}")
    n = {k: int(counts.get(k) or 0) for k in COUNTS}
    dup, total = n["duplicates_skipped"], n["total_rows"]
    return (f"{fmt(n['rows_read'])} read = {fmt(n['rows_loaded'])} loaded + "
            f"{fmt(n['rows_quarantined'])} quarantined + {fmt(dup)} "
            f"duplicate{'s' if dup != 1 else ''} + {fmt(n['blank_lines'])} blank + "
            f"{fmt(total)} total row{'s' if total != 1 else ''}")


@dataclass(frozen=True)
class Preview:
    """What the page shows before loading: file facts, detected mapping, first rows."""

    source: dict
    mapping: ColumnMapping | None
    mapping_error: IngestError | None
    rows: pd.DataFrame


def _source_facts(src: Source) -> dict:
    return {"file_name": src.file_name, "format": src.format, "size_bytes": src.size,
            "encoding": src.encoding, "delimiter": src.delimiter, "sheet": src.sheet,
            "sheets": list(src.sheets), "columns": list(src.columns),
            "warnings": list(src.warnings)}


@traced("ingest.file", lambda a: {"kind": a["kind"]},
        lambda r: {"batch_id": r.batch_id, "status": r.status, "rows_read": r.rows_read,
                   "rows_loaded": r.rows_loaded, "rows_quarantined": r.rows_quarantined,
                   "duplicates_skipped": r.duplicates_skipped})
def ingest_file(wh: Warehouse, kind: str, path: str | Path, *, file_name: str | None = None,
                sheet: str | None = None, overrides: dict[str, str] | None = None,
                user: str | None = None, limits: Limits | None = None) -> IngestResult:
    """Load `path` as a `kind` upload. `file_name` is the name the user gave the file
    (stored and shown; `path` may be any temporary name: the format is read from the
    bytes). Raises IngestError subclasses when the file cannot be read, breaks a cap, or
    required columns are missing; every line read ends up loaded, quarantined, skipped as
    a duplicate, or counted as blank or as a total row."""
    from engine.pin_directory import known_pin_codes
    from engine.warehouse.ingest_stage import StageSource
    from engine.warehouse.ingest_store import find_loaded_batch, load_batch, record_batch

    with open_source(path, file_name=file_name, sheet=sheet, limits=limits) as src:
        mapping = detect_mapping(kind, src.columns, overrides)
        batch = {"batch_id": new_id("b"), "file_name": src.file_name, "sha256": src.sha256,
                 "created_by": user, "mapping": json.dumps(mapping.columns)}
        previous = find_loaded_batch(wh, src.sha256, kind)
        if previous is not None:
            n = int(previous["rows_read"])
            counts = {"rows_read": n, "rows_loaded": 0, "rows_quarantined": 0,
                      "duplicates_skipped": n}
            report = {"duplicate_of": previous["batch_id"], "issues": [],
                      "warnings": list(src.warnings), "columns": mapping.accounting(),
                      "source": _source_facts(src)}
            record_batch(wh, batch, kind, counts, report, status="duplicate_file")
            return _loaded(wh, IngestResult(batch["batch_id"], kind, src.file_name,
                                            src.sha256, status="duplicate_file",
                                            mapping=mapping.columns, report=report, **counts))
        frame = None
        if src.frame is not None:
            frame = src.frame.copy()
            frame["__mp_line"] = src.lines
            frame = frame.astype({c: "object" for c in src.columns})
        stage = StageSource("frame" if frame is not None else src.format, str(src.path),
                            tuple(src.columns), src.delimiter or ",", frame, src.padded,
                            src.scan, tuple(src.long_lines), tuple(src.blank_rows),
                            src.limits.max_line_bytes)
        pins = known_pin_codes() if kind in ("sales", "inventory", "plan", "competitor") else None
        match = None
        if kind == "competitor":
            from engine.pricing.competitor_match import match_items as match
        out = load_batch(wh, stage, kind, mapping, batch, pins, match=match)
        report = out["report"]
        report["source"] = _source_facts(src)
        report["warnings"] = (list(src.warnings) + report.get("warnings", [])
                              + stale_warnings(wh, kind, report, out["batch_id"]))
        return _loaded(wh, IngestResult(
            out["batch_id"], kind, src.file_name, src.sha256, out["rows_read"],
            out["rows_loaded"], out["rows_quarantined"], out["duplicates_skipped"], "loaded",
            report.get("grain"), mapping.columns, report, out["blank_lines"],
            out["total_rows"]))


def _loaded(wh: Warehouse, result: IngestResult) -> IngestResult:
    """After an upload: its log line and metrics (engine/telemetry.py), a bus message for
    users who see every PIN (engine/bus.py: the API's /ws), and, when it loaded
    sales and forecast runs are stored, the live scores of the runs its sales reach
    (engine/forecast/live.py; cheap, and never fails the upload)."""
    from engine import bus
    from engine.telemetry import upload_loaded
    from engine.warehouse.runs import has_forecast_runs

    upload_loaded(result)
    bus.publish("ingest", {"batch_id": result.batch_id, "kind": result.kind,
                           "status": result.status, "rows_read": result.rows_read,
                           "rows_loaded": result.rows_loaded,
                           "rows_quarantined": result.rows_quarantined,
                           "duplicates_skipped": result.duplicates_skipped},
                audience="unscoped")
    if result.kind == "sales" and result.rows_loaded and has_forecast_runs(wh):
        from engine.forecast.live import after_upload

        after_upload(wh, result.report)
    return result


def upload_suffix(file_name: str | None) -> str:
    """The extension of an uploaded file's name, safe to put on a temporary file:
    'Sales Jan.xlsx' -> '.xlsx', 'prices.csv.gz' -> '.csv.gz', 'x' or '../../a b' -> ''."""
    name = Path(str(file_name or "")).name.lower()
    found = re.search(r"((?:\.[a-z0-9]{1,8}){1,2})$", name)
    return found.group(1) if found and found.group(1) != name else ""


def save_upload(path: Path, data: bytes) -> Path:
    """Write uploaded bytes to `path`; a full or read-only temporary disk is the storage
    error (WarehouseStorageError), not an error about the file."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        from engine.warehouse.db import storage_error

        problem = storage_error(exc, what="the uploaded file could not be saved",
                                where="the disk for temporary files")
        if problem is None:
            raise
        raise problem from exc
    return path


def ingest_bytes(wh: Warehouse, kind: str, data: bytes, file_name: str, **kwargs) -> IngestResult:
    """Same as ingest_file for uploaded bytes. The bytes are written to a temporary file
    whose name MicroPulse chooses (keeping the upload's extension); `file_name` is only
    stored and displayed."""
    with tempfile.TemporaryDirectory(prefix="mp_upload_") as tmp:
        path = save_upload(Path(tmp) / f"upload{upload_suffix(file_name)}", data)
        return ingest_file(wh, kind, path, file_name=file_name, **kwargs)


def preview_bytes(kind: str, data: bytes, file_name: str, sheet: str | None = None,
                  overrides: dict[str, str] | None = None, n: int = 20,
                  limits: Limits | None = None) -> Preview:
    """File facts (with what the reader noticed: `source['warnings']`), detected mapping
    (or the mapping error) and the first `n` rows."""
    with tempfile.TemporaryDirectory(prefix="mp_upload_") as tmp:
        path = save_upload(Path(tmp) / f"upload{upload_suffix(file_name)}", data)
        with open_source(path, file_name=file_name, sheet=sheet, limits=limits) as src:
            try:
                mapping, err = detect_mapping(kind, src.columns, overrides), None
            except IngestError as exc:
                mapping, err = None, exc
            return Preview(_source_facts(src), mapping, err, _first_rows(src, n))


# Sales older than this (days before today) get a stale-data warning at upload.
STALE_SALES_DAYS = 30
STALE_SALES_WEEKS = 5


def stale_warnings(wh: Warehouse, kind: str, report: dict, batch_id: str,
                   today: date | None = None) -> list[dict]:
    """A warning when the newest sales or mandi prices just loaded are far behind today,
    saying what that means where they are used: forecasts start after the newest sale;
    Sourcing ranks mandis on the prices of the days before the newest price it holds."""
    newest = report.get("date_max")
    if kind not in ("sales", "mandi") or not newest:
        return []
    today = today or date.today()
    newest = date.fromisoformat(str(newest)[:10])
    age = (today - newest).days
    if kind == "sales":
        weekly = report.get("grain") == "weekly"
        if age <= (7 * STALE_SALES_WEEKS if weekly else STALE_SALES_DAYS):
            return []
        return [_stale_sales(wh, newest, today, age, weekly)]
    from engine.sourcing.ranking import RankConfig

    window = RankConfig().max_stale_days
    if age <= window:
        return []
    return [_stale_mandi(wh, batch_id, newest, today, age, window)]


def _stale_sales(wh: Warehouse, newest: date, today: date, age: int, weekly: bool) -> dict:
    held = newest_sales_day(wh)
    held = date.fromisoformat(str(held)[:10]) if held is not None else newest
    week = "the week of " if weekly else ""
    head = (f"The newest sales in this file are from {week}{day_with_year(newest)}, "
            f"{age_text(age)} before today ({day_with_year(today)}).")
    if held > newest:
        tail = (f" They add history: the warehouse's newest sales ({day_with_year(held)}) "
                "stay where forecasts start.")
    else:
        tail = (f" Forecasts start after {day_with_year(held)}, not from today, and the alerts "
                "treat this as a historical load; upload recent sales for forecasts of "
                "the coming days.")
    return {"code": "stale_data", "count": age, "first_line": None, "sentence": head + tail}


def _stale_mandi(wh: Warehouse, batch_id: str, newest: date, today: date, age: int,
                 window: int) -> dict:
    held = wh.scalar("SELECT max(date) FROM mandi_prices WHERE commodity IN (SELECT DISTINCT "
                     "commodity FROM mandi_prices WHERE batch_id = ?)", [batch_id])
    held = date.fromisoformat(str(held)[:10]) if held is not None else newest
    head = (f"These mandi prices are {age_text(age)} old: the newest is from "
            f"{day_with_year(newest)} (today is {day_with_year(today)}). Sourcing ranks "
            f"mandis on their prices in the last {window} days up to the newest price it holds for the "
            "commodity")
    if (today - held).days > window:
        tail = (f" ({day_with_year(held)}), so it will rank on {held.year} prices, not "
                "today's; upload a recent Agmarknet export before buying on its advice.")
    else:
        tail = f" ({day_with_year(held)}): these older prices add history only."
    return {"code": "stale_data", "count": age, "first_line": None, "sentence": head + tail}


def _first_rows(src: Source, n: int) -> pd.DataFrame:
    import pandas as pd

    if src.frame is not None:
        return src.frame.head(n).reset_index(drop=True)
    if src.format == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(src.path)
        batch = next(pf.iter_batches(batch_size=n))
        return batch.to_pandas().astype(str).head(n)
    with open(src.path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        text = fh.read(1 << 20)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=src.delimiter or ",")
    next(reader, None)
    rows = []
    for row in reader:
        if len(rows) >= n:
            break
        row = (row + [None] * len(src.columns))[: len(src.columns)]
        rows.append(row)
    return pd.DataFrame(rows, columns=src.columns, dtype=object)
