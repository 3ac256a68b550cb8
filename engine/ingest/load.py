"""Ingest an uploaded file: open it, map its columns, validate and load it in one
transaction, and say exactly what happened to every row.

    result = ingest_file(wh, "sales", "pos_export.csv", user="asha")
    result.rows_read == result.rows_loaded + result.rows_quarantined + result.duplicates_skipped
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.ingest.errors import IngestError
from engine.ingest.mapping import ColumnMapping, detect_mapping
from engine.ingest.readers import Source, open_source
from engine.warehouse.db import Warehouse, new_id

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

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def issues(self) -> list[dict]:
        return self.report.get("issues", [])

    @property
    def columns(self) -> list[dict]:
        """Every column of the file: mapped to which field, or ignored (ColumnMapping.accounting)."""
        return self.report.get("columns", [])

    @property
    def ignored_columns(self) -> list[str]:
        return [c["column"] for c in self.columns if c["status"] == "ignored"]


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
            "sheets": list(src.sheets), "columns": list(src.columns)}


def ingest_file(wh: Warehouse, kind: str, path: str | Path, *, file_name: str | None = None,
                sheet: str | None = None, overrides: dict[str, str] | None = None,
                user: str | None = None) -> IngestResult:
    """Load `path` as a `kind` upload. Raises IngestError subclasses when the file cannot
    be read or required columns are missing; every readable row ends up loaded,
    quarantined or skipped as a duplicate."""
    from engine.warehouse.ingest_store import (StageSource, find_loaded_batch,
                                               known_pin_codes, load_batch, record_batch)

    with open_source(path, file_name=file_name, sheet=sheet) as src:
        mapping = detect_mapping(kind, src.columns, overrides)
        batch = {"batch_id": new_id("b"), "file_name": src.file_name, "sha256": src.sha256,
                 "created_by": user, "mapping": json.dumps(mapping.columns)}
        previous = find_loaded_batch(wh, src.sha256, kind)
        if previous is not None:
            n = int(previous["rows_read"])
            counts = {"rows_read": n, "rows_loaded": 0, "rows_quarantined": 0,
                      "duplicates_skipped": n}
            report = {"duplicate_of": previous["batch_id"], "issues": [],
                      "columns": mapping.accounting(), "source": _source_facts(src)}
            record_batch(wh, batch, kind, counts, report, status="duplicate_file")
            return IngestResult(batch["batch_id"], kind, src.file_name, src.sha256,
                                status="duplicate_file", mapping=mapping.columns,
                                report=report, **counts)
        frame = None
        if src.frame is not None:
            frame = src.frame.copy()
            frame["__mp_line"] = src.lines
            frame = frame.astype({c: "object" for c in src.columns})
        stage = StageSource("frame" if frame is not None else src.format, str(src.path),
                            tuple(src.columns), src.delimiter or ",", frame, src.padded)
        pins = known_pin_codes() if kind in ("sales", "inventory", "plan") else None
        out = load_batch(wh, stage, kind, mapping, batch, pins)
        out["report"]["source"] = _source_facts(src)
        return IngestResult(out["batch_id"], kind, src.file_name, src.sha256,
                            out["rows_read"], out["rows_loaded"], out["rows_quarantined"],
                            out["duplicates_skipped"], "loaded", out["report"].get("grain"),
                            mapping.columns, out["report"])


def ingest_bytes(wh: Warehouse, kind: str, data: bytes, file_name: str, **kwargs) -> IngestResult:
    """Same as ingest_file for uploaded bytes. The bytes are written to a temporary file
    whose name MicroPulse chooses; `file_name` is only stored and displayed."""
    with tempfile.TemporaryDirectory(prefix="mp_upload_") as tmp:
        path = Path(tmp) / "upload.bin"
        path.write_bytes(data)
        return ingest_file(wh, kind, path, file_name=file_name, **kwargs)


def preview_bytes(kind: str, data: bytes, file_name: str, sheet: str | None = None,
                  overrides: dict[str, str] | None = None, n: int = 20) -> Preview:
    """File facts, detected mapping (or the mapping error) and the first `n` rows."""
    with tempfile.TemporaryDirectory(prefix="mp_upload_") as tmp:
        path = Path(tmp) / "upload.bin"
        path.write_bytes(data)
        with open_source(path, file_name=file_name, sheet=sheet) as src:
            try:
                mapping, err = detect_mapping(kind, src.columns, overrides), None
            except IngestError as exc:
                mapping, err = None, exc
            return Preview(_source_facts(src), mapping, err, _first_rows(src, n))


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
    reader = csv.reader(io.StringIO(text), delimiter=src.delimiter or ",")
    next(reader, None)
    rows = []
    for row in reader:
        if len(rows) >= n:
            break
        row = (row + [None] * len(src.columns))[: len(src.columns)]
        rows.append(row)
    return pd.DataFrame(rows, columns=src.columns, dtype=object)
