"""Staging an upload for ingest_store: how to read it as text rows, which date formats
it uses, the lines DuckDB's CSV reader rejected, line numbers, in-file duplicates, and the
PIN codes a row is checked against. Runs inside the batch transaction."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from engine.ingest.mapping import ColumnMapping
from engine.warehouse.ingest_sql import (DATE_FORMATS, ident, raw_json_expr, token_expr, v,
                                          value_expr)

if TYPE_CHECKING:    # only Excel uploads (a frame source) involve pandas
    import pandas as pd


def register_frame(cur, name: str, frame: pd.DataFrame) -> None:
    """Register a DataFrame as a view (the previous statement's result must be finished)."""
    cur.complete()
    cur.register(name, frame)


def unregister_frame(cur, name: str) -> None:
    cur.complete()
    cur.unregister(name)


@lru_cache(maxsize=1)
def known_pin_codes() -> tuple[str, ...]:
    """Every PIN code in India Post's directory, sorted."""
    from engine.pin_directory import known_pins

    return tuple(sorted(known_pins()))


# DuckDB's default. A longer line is quarantined whole as a malformed line; raising the
# limit makes every scan slower (the reader sizes its buffers by it).
MAX_LINE_BYTES = 2 << 20


@dataclass(frozen=True)
class StageSource:
    """How to read the upload as text rows: csv (path, delimiter, columns), parquet
    (path, columns) or frame (a DataFrame of text cells plus '__mp_line')."""

    format: str
    path: str
    columns: tuple[str, ...]
    delimiter: str = ","
    frame: pd.DataFrame | None = None
    padded: bool = True              # cells may start or end with spaces (see Source)


def source_sql(src: StageSource, strict: bool = True,
                rejects: str = "ingest_rejects") -> tuple[str, list]:
    if src.format == "csv":
        return ("SELECT * FROM read_csv(?, header=true, auto_detect=false, delim=?, "
                f"quote='\"', escape='\"', columns=?, strict_mode={str(strict).lower()}, "
                f"store_rejects=true, rejects_table='{rejects}', "
                f"rejects_scan='{rejects}_scans', max_line_size={MAX_LINE_BYTES})",
                [src.path, src.delimiter, {c: "VARCHAR" for c in src.columns}])
    if src.format == "parquet":
        cols = ", ".join(f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}" for c in src.columns)
        return f"SELECT {cols} FROM read_parquet(?)", [src.path]
    return "SELECT * FROM ingest_frame", []


def rank_formats(cur, src_sql: str, params: list, column: str) -> tuple[str, ...]:
    """Date formats ordered by how many of the first 2,000 values each one parses."""
    sample = f"SELECT {token_expr(ident(column))} AS t FROM ({src_sql}) LIMIT 2000"
    hits = ", ".join(f"count(try_strptime(t, '{f}'))" for f in DATE_FORMATS)
    counts = cur.execute(f"SELECT {hits} FROM ({sample})", params).fetchone()
    order = sorted(range(len(DATE_FORMATS)), key=lambda i: (-counts[i], i))
    return tuple(DATE_FORMATS[i] for i in order)


class Reject(NamedTuple):
    line: int
    csv_line: str
    error_message: str


def read_rejects(cur, src: StageSource) -> list[Reject]:
    """Lines DuckDB's CSV reader could not split into the header's columns (in line
    order), with the full text of each line read back from the file (DuckDB's copy may be
    shortened)."""
    if src.format != "csv":
        return []
    try:
        rej = cur.execute(
            "SELECT line, min(line_byte_position) AS pos, any_value(csv_line) AS csv_line, "
            "any_value(error_message) AS error_message FROM ingest_rejects GROUP BY line "
            "ORDER BY line").fetchall()
    except Exception:  # noqa: BLE001 - no rejects table when the scan had no errors
        return []
    out = []
    with open(src.path, "rb") as fh:
        for line, pos, short, message in rej:
            out.append(Reject(int(line), _full_line(fh, pos, short), message))
    return out


def _full_line(fh, pos: int | None, short: str) -> str:
    """The line starting at byte `pos` (counted from 1, as DuckDB does), or DuckDB's
    copy `short` when `pos` is unknown or not at the start of a line."""
    if pos is None:
        return short
    start = max(int(pos) - 1, 0)
    if start > 0:
        fh.seek(start - 1)
        if fh.read(1) not in (b"\n", b"\r"):
            return short
    fh.seek(start)
    text = fh.readline(16 << 20).decode("utf-8", errors="replace").rstrip("\r\n")
    return text.lstrip("\ufeff") or short


def number_lines(cur, src: StageSource, rejects: list[Reject], every_row: bool = False) -> None:
    """Give each bad staged row (`every_row`: every staged row) its line in the original
    file (header = line 1). Lines the CSV reader skipped (rejected lines, and empty lines,
    which it passes over silently) are counted in."""
    if src.format == "frame":
        return                      # the Excel reader put the sheet row in __mp_line
    which = "TRUE" if every_row else "__mp_reason IS NOT NULL"
    if not cur.execute(f"SELECT EXISTS (SELECT 1 FROM ingest_stage WHERE {which})").fetchone()[0]:
        return
    first = 2 if src.format == "csv" else 1
    base = cur.execute("SELECT min(rowid) FROM ingest_stage").fetchone()[0] or 0
    cur.execute(f"UPDATE ingest_stage SET __mp_line = rowid - ? + ? WHERE {which}",
                [base, first])
    skipped = [r.line for r in rejects]
    if src.format == "csv":
        n = cur.execute("SELECT count(*) FROM ingest_stage").fetchone()[0]
        skipped += empty_lines(src.path, n + len(rejects))
    if skipped:
        # Row k sits after every skipped line whose would-be row index is <= k.
        lines = sorted(set(skipped))
        thresholds = [ln - first - i for i, ln in enumerate(lines)]
        cur.execute("CREATE TEMP TABLE ingest_thresholds AS SELECT unnest(?::BIGINT[]) AS t",
                    [thresholds])
        cur.execute("UPDATE ingest_stage SET __mp_line = __mp_line + (SELECT count(*) FROM "
                    "ingest_thresholds WHERE t <= ingest_stage.rowid - ?) "
                    f"WHERE {which}", [base])
        cur.execute("DROP TABLE ingest_thresholds")


_EMPTY_LINE = re.compile(rb"\n(?=\r?\n)")


def empty_lines(path: str, rows: int | None = None, chunk: int = 8 << 20) -> list[int]:
    """Line numbers (from 1) of the empty lines after the header, which DuckDB's CSV reader
    skips without a trace. With `rows` (the rows and rejected lines read), a file with
    exactly that many lines after its header has none, and is not searched. (A blank line
    inside a quoted multi-line cell is counted too; such files are rare.)"""
    if rows is not None and _physical_lines(path, chunk) == rows + 1:
        return []
    out: list[int] = []
    line, carry = 1, b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            data = carry + block
            # A match at p needs data[p + 1 : p + 3]; leave the last two bytes for later.
            limit = len(data) if not block else max(len(data) - 2, 0)
            pos = 0
            for m in _EMPTY_LINE.finditer(data):
                p = m.start()
                if p >= limit:
                    break
                line += data.count(b"\n", pos, p + 1)
                pos = p + 1
                out.append(line)      # the line that starts after the newline at p
            line += data.count(b"\n", pos, limit)
            carry = data[limit:]
            if not block:
                return out


def _physical_lines(path: str, chunk: int) -> int:
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


_FILE_KEYS = {"sales": ("transaction_id", "sku_id"), "catalog": ("sku_id",),
              "inventory": ("sku_id", "pin_code"),
              "mandi": ("market", "commodity", "state", "district", "variety", "grade", "date")}


def mark_in_file_duplicates(cur, kind: str, mapping: ColumnMapping) -> bool:
    """A good row whose key repeats an earlier good row of the same file is quarantined.
    Returns whether any row was."""
    if kind not in _FILE_KEYS:
        return False    # a plan keeps every row (overlaps are resolved when it is used)
    keys = [k for k in _FILE_KEYS[kind] if mapping.source(k)]
    if kind == "sales" and "transaction_id" not in keys:
        return False    # without transaction ids, several rows per day are transactions
    first = keys[0]
    part = ", ".join(v(k) for k in keys)
    good = f"__mp_reason IS NULL AND {v(first)} IS NOT NULL"
    # Equal keys have equal hashes, so all-distinct hashes prove there are no repeats
    # (cheaper than grouping the text keys); only a clash needs the exact check.
    clash = cur.execute(f"SELECT count(DISTINCT hash({part})) < count(*) FROM ingest_stage "
                        f"WHERE {good}").fetchone()[0]
    if not clash or not cur.execute(
            f"SELECT EXISTS (SELECT 1 FROM ingest_stage WHERE {good} GROUP BY {part} "
            f"HAVING count(*) > 1)").fetchone()[0]:
        return False
    cur.execute(
        f"UPDATE ingest_stage SET __mp_reason = '{first}|duplicate_in_file' WHERE rowid IN "
        f"(SELECT rowid FROM (SELECT rowid, row_number() OVER (PARTITION BY {part} "
        f"ORDER BY rowid) AS rn FROM ingest_stage WHERE {good}) WHERE rn > 1)")
    return True


def fill_raw(cur, src: StageSource, mapping: ColumnMapping, strict: bool) -> None:
    """Rows quarantined after staging (in-file duplicates) have no raw values yet: read
    the source again and take them by position. Both reads skip the same malformed
    lines and keep the file's order, so the k-th staged row is the k-th row read."""
    src_sql, params = source_sql(src, strict, rejects="ingest_rejects_again")
    cur.execute(f"CREATE TEMP TABLE ingest_raw AS SELECT * FROM ({src_sql})", params)
    stage_base = cur.execute("SELECT min(rowid) FROM ingest_stage").fetchone()[0] or 0
    raw_base = cur.execute("SELECT min(rowid) FROM ingest_raw").fetchone()[0] or 0
    cur.execute(
        f"UPDATE ingest_stage SET __mp_raw = {raw_json_expr(src.columns, 'r')}, "
        f"__mp_value = {value_expr(mapping, 'r', 'ingest_stage')} FROM ingest_raw r "
        f"WHERE ingest_stage.__mp_reason IS NOT NULL AND ingest_stage.__mp_raw IS NULL "
        f"AND r.rowid - ? = ingest_stage.rowid - ?", [raw_base, stage_base])
    cur.execute("DROP TABLE ingest_raw")
