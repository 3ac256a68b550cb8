"""Staging an upload for ingest_store: how to read it as text rows, which date formats
it uses, the lines DuckDB's CSV reader rejected, line numbers, in-file duplicates, and the
PIN codes a row is checked against (given by the caller: engine.pin_directory). Runs
inside the batch transaction."""
from __future__ import annotations

import bisect
import csv
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.ingest.errors import UnreadableFileError
from engine.ingest.lines import (LineScan, LongLine, empty_lines, lines_at, read_span,
                                 record_lines)
from engine.ingest.mapping import ColumnMapping
from engine.warehouse.ingest_sql import (DATE_FORMATS, TOTAL_LABEL, ident, raw_json_expr,
                                          token_expr, v, value_expr)

if TYPE_CHECKING:    # only Excel uploads (a frame source) involve pandas
    import pandas as pd


def register_frame(cur, name: str, frame: pd.DataFrame) -> None:
    """Register a DataFrame as a view (the previous statement's result must be finished)."""
    cur.complete()
    cur.register(name, frame)


def unregister_frame(cur, name: str) -> None:
    cur.complete()
    cur.unregister(name)


@dataclass(frozen=True)
class StageSource:
    """How to read the upload as text rows: csv (path, delimiter, columns), parquet
    (path, columns) or frame (a DataFrame - or an Arrow table - of text cells plus
    '__mp_line'). A csv carries
    its line facts (`scan`, from the reader's pass) and the over-long lines the reader
    emptied (`long_lines`); a frame the sheet rows that were blank (`blank_rows`)."""

    format: str
    path: str
    columns: tuple[str, ...]
    delimiter: str = ","
    frame: pd.DataFrame | None = None
    padded: bool = True              # cells may start or end with spaces (see Source)
    scan: LineScan | None = None
    long_lines: tuple[LongLine, ...] = ()
    blank_rows: tuple[int, ...] = ()
    max_line_bytes: int = 2 << 20

    @property
    def unit(self) -> str:
        """What a position in the file is called: a CSV has lines, a sheet or Parquet rows."""
        return "line" if self.format == "csv" else "row"


def source_sql(src: StageSource, strict: bool = True,
                rejects: str = "ingest_rejects") -> tuple[str, list]:
    if src.format == "csv":
        # The reader emptied every line longer than the cap, so DuckDB never meets one
        # (its buffers are sized from max_line_size; the margin covers a quoted record).
        size = src.max_line_bytes + (64 << 10)
        return ("SELECT * FROM read_csv(?, header=true, auto_detect=false, delim=?, "
                f"quote='\"', escape='\"', columns=?, strict_mode={str(strict).lower()}, "
                f"store_rejects=true, rejects_table='{rejects}', "
                f"rejects_scan='{rejects}_scans', max_line_size={size})",
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


@dataclass
class Reject:
    """A record DuckDB's CSV reader could not split into the header's columns. `line` is
    its first line in the file, `last_line` its last (a quote left open swallows the lines
    up to the next quote); `kind` is malformed, blank (only spaces and delimiters) or total
    (a 'Total' label and sums)."""

    line: int
    csv_line: str
    error_message: str
    pos: int | None = None
    last_line: int | None = None
    kind: str = "malformed"
    label: str | None = None


def read_rejects(cur, src: StageSource) -> list[Reject]:
    """Lines DuckDB's CSV reader could not split into the header's columns (in line
    order), with the full text of each read back from the file (DuckDB's copy may be
    shortened), each classed as malformed, blank or a total row."""
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
            start = None if pos is None else _line_start(fh, max(int(pos) - 1, 0))
            short = (short or "").lstrip("\r\n")
            text = short if "\n" in short or "\r" in short else _full_line(fh, start, short)
            out.append(Reject(int(line), text, message, start))
    for r in out:
        r.kind, r.label = classify_line(r.csv_line, src.delimiter)
    return out


def _line_start(fh, start: int) -> int:
    """DuckDB may give a line's position at the line break before it (the LF of a CRLF):
    step past line-break bytes to the line's first character."""
    fh.seek(start)
    lead = fh.read(2)
    while lead[:1] in (b"\r", b"\n") and lead:
        start, lead = start + 1, lead[1:]
    return start


def _full_line(fh, start: int | None, short: str) -> str:
    """The line starting at byte offset `start`, or DuckDB's copy `short` when the offset
    is unknown or not at the start of a line."""
    if start is None:
        return short
    if start > 0:
        fh.seek(start - 1)
        if fh.read(1) not in (b"\n", b"\r"):
            return short
    fh.seek(start)
    text = fh.readline(16 << 20).decode("utf-8", errors="replace")
    text = text.split("\r", 1)[0] if "\r" in text.rstrip("\r\n") else text
    return text.rstrip("\r\n").lstrip("\ufeff") or short


_TOTAL_LABEL = re.compile(TOTAL_LABEL)


def classify_line(text: str, delimiter: str) -> tuple[str, str | None]:
    """('blank', None) for a line of only spaces, delimiters and quotes; ('total',
    label) for a line whose only text is a total label ('Grand Total') beside numbers;
    else ('malformed', None)."""
    if not re.sub(r'[\s"' + re.escape(delimiter) + "]", "", text or ""):
        return "blank", None
    try:
        cells = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        return "malformed", None
    filled = [c.strip() for c in cells if c.strip()]
    labels = [c for c in filled if _TOTAL_LABEL.fullmatch(c.lower())]
    if len(labels) == 1 and all(c in labels or _is_number(c) for c in filled):
        return "total", labels[0]
    return "malformed", None


def _is_number(text: str) -> bool:
    for junk in (",", "₹", "Rs.", "Rs", "INR"):
        text = text.replace(junk, "")
    try:
        float(text)
        return True
    except ValueError:
        return False


# A rejected record spanning this many lines is a quote left open, not a long cell.
MAX_SPAN_LINES = 1000


@dataclass
class LineLayout:
    """Where the staged rows sit in the file (see line_layout)."""

    format: str
    base: int = 0                    # the first staged row's rowid
    empty: list[int] = field(default_factory=list)     # empty lines the reader skipped
    skipped: list[int] | None = None  # one record per line: the lines that are no row
    rows: list[int] | None = None    # records over several lines: each row's first line
    restage: bool = False            # stage again from a copy to keep the file's order


def line_layout(cur, src: StageSource, rejects: list[Reject]) -> LineLayout:
    """Work out each staged row's line in the file as an editor numbers it (header =
    line 1; a sheet's rows as Excel numbers them; Parquet rows from 1), and each reject's
    first and last line.

    A CSV whose records are one line each (almost all) is numbered from the rows' order
    and the lines the reader skipped (empty lines, rejected and over-long lines); one
    with records over several lines (a quoted cell holding a line break, or a quote left
    open) is split again with Python's csv module to find where each record starts."""
    base = cur.execute("SELECT min(rowid) FROM ingest_stage").fetchone()[0] or 0
    out = LineLayout(src.format, base)
    if src.format != "csv":
        return out                  # the Excel reader put the sheet row in __mp_line
    n = cur.execute("SELECT count(*) FROM ingest_stage").fetchone()[0]
    at = lines_at(src.path, [r.pos for r in rejects if r.pos is not None]) if rejects else {}
    for r in rejects:
        r.line = at.get(r.pos, r.line)
    long = {x.line for x in src.long_lines}
    # A long line the reader replaced with a single space comes back as a reject.
    rejects[:] = [r for r in rejects if r.line not in long]
    skipped = sorted(long | {r.line for r in rejects})
    data_lines = (src.scan.lines if src.scan is not None else None)
    empty = []
    if data_lines is None or data_lines - 1 > n + len(skipped):     # some line is no row
        empty = empty_lines(src.path)
        skipped = sorted(set(skipped) | set(empty))
    if data_lines is None or data_lines - 1 == n + len(skipped):
        for r in rejects:
            r.last_line = r.line
        out.skipped, out.empty = skipped, [e for e in empty if e not in long]
        return out
    starts, empty = record_lines(src.path, src.delimiter)
    starts = [s for s in starts if s not in long]
    out.empty = [e for e in empty if e not in long]
    bad = {r.line for r in rejects}
    if len(starts) != n + len(rejects) or not bad <= set(starts):
        # The readers split the records differently: a quote left open makes it unclear
        # where rows start, and loading on a guess could lose or shift rows silently.
        raise UnreadableFileError(_open_quote_sentence(src, starts, out.empty))
    follow = sorted(set(starts) | set(out.empty) | long)
    for r in rejects:                   # a reject runs up to the next line that starts anew
        i = bisect.bisect_right(follow, r.line)
        r.last_line = (follow[i] - 1) if i < len(follow) else src.scan.lines
        if r.last_line - r.line >= MAX_SPAN_LINES:
            # No cell holds that many lines: a stray quote swallowed the rest of the
            # file. Quarantining it as one row would bury those lines; say so instead.
            raise UnreadableFileError(_open_quote_sentence(src, starts, out.empty))
        if r.last_line > r.line and r.pos is not None:      # DuckDB's copy is shortened
            r.csv_line = read_span(src.path, r.pos, r.last_line - r.line + 1)
    out.rows = [s for s in starts if s not in bad] if bad else starts
    # Past a record it rejected over several lines, DuckDB's reader can hand rows to a
    # join out of the file's order; staging again from a plain copy of the file keeps it.
    out.restage = any(r.last_line > r.line for r in rejects)
    return out


def _open_quote_sentence(src: StageSource, starts: list[int], empty: list[int]) -> str:
    """Name the record that spans the most lines (where a quote was left open)."""
    last = src.scan.lines if src.scan is not None else (starts[-1] if starts else 1)
    bounds = sorted(set(starts) | set(empty)) + [last + 1]
    first, stop = max(zip(bounds, bounds[1:]), key=lambda p: p[1] - p[0], default=(2, 2))
    end = "the end of the file" if stop > last else f"line {stop - 1}"
    return (f"The file cannot be split into rows reliably: a quote (\") opened on line "
            f"{first} is not closed before {end}, so where each row starts is unclear. "
            "Close or remove that quote (or save the file again as CSV from a spreadsheet) "
            "and upload it again. Nothing was loaded.")


def number_lines(cur, layout: LineLayout, which: str) -> None:
    """Fill __mp_line for the staged rows `which` (SQL over ingest_stage) selects."""
    base = layout.base
    if layout.format == "frame":
        return
    if layout.format == "parquet":
        cur.execute(f"UPDATE ingest_stage SET __mp_line = rowid - ? + 1 WHERE {which}", [base])
        return
    if layout.rows is None:
        _number_by_order(cur, which, base, layout.skipped or [])
        return
    ks = [k for (k,) in cur.execute(f"SELECT rowid - ? FROM ingest_stage WHERE {which}",
                                     [base]).fetchall()]
    if ks:
        cur.execute("CREATE TEMP TABLE ingest_linemap AS SELECT unnest(?::BIGINT[]) AS k, "
                    "unnest(?::BIGINT[]) AS line", [ks, [layout.rows[k] for k in ks]])
        cur.execute("UPDATE ingest_stage SET __mp_line = m.line FROM ingest_linemap m "
                    "WHERE m.k = ingest_stage.rowid - ?", [base])
        cur.execute("DROP TABLE ingest_linemap")


def _number_by_order(cur, which: str, base: int, skipped: list[int]) -> None:
    """Row k (from 0) is on line k + 2 plus the skipped lines before it."""
    cur.execute(f"UPDATE ingest_stage SET __mp_line = rowid - ? + 2 WHERE {which}", [base])
    if not skipped:
        return
    # Row k sits after every skipped line whose would-be row index is <= k.
    thresholds = [ln - 2 - i for i, ln in enumerate(skipped)]
    cur.execute("CREATE TEMP TABLE ingest_thresholds AS SELECT unnest(?::BIGINT[]) AS t",
                [thresholds])
    cur.execute("UPDATE ingest_stage SET __mp_line = __mp_line + (SELECT count(*) FROM "
                f"ingest_thresholds WHERE t <= ingest_stage.rowid - ?) WHERE {which}", [base])
    cur.execute("DROP TABLE ingest_thresholds")


# The key of one row of each kind: a later row with the same key repeats it.
_FILE_KEYS = {"sales": ("transaction_id", "sku_id"), "catalog": ("sku_id",),
              "inventory": ("sku_id", "pin_code"),
              "mandi": ("market", "commodity", "state", "district", "variety", "grade", "date"),
              "competitor": ("competitor", "item_name", "item_code", "pin_code", "city", "date")}
# Rows set aside as blank lines or total rows are not compared.
ELIGIBLE = "coalesce(__mp_reason, '') NOT IN ('|blank_line', '|total_row')"


def mark_duplicates(cur, src: StageSource, kind: str, mapping: ColumnMapping,
                    strict: bool) -> dict:
    """In-file repeats, after staging.

    1. A line whose every cell equals an earlier line's (blank and total rows aside) is a
       duplicate line: reason '|duplicate_line', skipped and counted as a duplicate, with
       the row it repeats in temp table ingest_dups (rid, orig).
    2. Among the other good rows, a row whose key repeats an earlier one's: for sales (the
       same bill number and SKU) both are loaded - one item scanned twice on a bill is
       two sales - and the pair noted in ingest_repeats (rid, orig); for a catalog,
       inventory or mandi file (two versions of one SKU, stock line or price) the later
       row is quarantined as '<key field>|duplicate_in_file'.

    Equal lines have equal keys, so one pass over the keys finds every candidate (a file
    without a key - sales without bill numbers, plans - uses all its mapped fields).
    Returns {'duplicate_lines': n, 'repeats': n, 'key_duplicates': n}."""
    out = {"duplicate_lines": 0, "repeats": 0, "key_duplicates": 0}
    keys = [k for k in _FILE_KEYS.get(kind, ()) if mapping.source(k)]
    if kind == "sales" and "transaction_id" not in keys:
        keys = []       # without bill numbers, several rows per SKU and day are sales
    part = ", ".join(v(k) for k in (keys or mapping.columns))
    present = f"{ELIGIBLE} AND {v(keys[0])} IS NOT NULL" if keys else ELIGIBLE
    # Equal keys have equal hashes: all-distinct hashes prove there is no repeat (cheaper
    # than grouping the values); only a clash is looked at closely.
    n, distinct = cur.execute(f"SELECT count(*), count(DISTINCT hash({part})) FROM "
                              f"ingest_stage WHERE {present}").fetchone()
    if distinct == n:
        return out
    cur.execute(f"CREATE TEMP TABLE ingest_dupcand AS SELECT rowid AS rid FROM ingest_stage "
                f"WHERE {present} AND ({part}) IN (SELECT ({part}) FROM ingest_stage WHERE "
                f"{present} GROUP BY ALL HAVING count(*) > 1)")
    if not cur.execute("SELECT count(*) FROM ingest_dupcand").fetchone()[0]:
        cur.execute("DROP TABLE ingest_dupcand")
        return out
    out["duplicate_lines"] = _mark_duplicate_lines(cur, src, mapping, strict)
    good_key = f"__mp_reason IS NULL AND {v(keys[0])} IS NOT NULL" if keys else None
    if good_key:
        out.update(_mark_key_repeats(cur, kind, keys, ", ".join(v(k) for k in keys),
                                     good_key))
    cur.execute("DROP TABLE ingest_dupcand")
    return out


def _mark_duplicate_lines(cur, src: StageSource, mapping: ColumnMapping, strict: bool) -> int:
    """Among the candidates, lines equal cell for cell (their raw cells compared: bad rows
    carry them, good ones are read again)."""
    _raw_for(cur, src, mapping, strict,
             "ingest_stage.rowid IN (SELECT rid FROM ingest_dupcand)", keep_value=False)
    cur.execute(
        "CREATE TEMP TABLE ingest_dups AS SELECT rid, orig FROM (SELECT s.rowid AS rid, "
        "first_value(s.rowid) OVER (PARTITION BY s.__mp_raw ORDER BY s.rowid) AS orig "
        "FROM ingest_stage s SEMI JOIN ingest_dupcand c ON s.rowid = c.rid) WHERE rid <> orig")
    n = cur.execute("SELECT count(*) FROM ingest_dups").fetchone()[0]
    cur.execute("UPDATE ingest_stage SET __mp_reason = '|duplicate_line', __mp_value = NULL "
                "WHERE rowid IN (SELECT rid FROM ingest_dups)")
    # Candidates that repeat nothing keep no raw cells (good rows carry none).
    cur.execute("UPDATE ingest_stage SET __mp_raw = NULL WHERE __mp_reason IS NULL AND "
                "rowid IN (SELECT rid FROM ingest_dupcand)")
    return int(n)


def _mark_key_repeats(cur, kind: str, keys: list[str], part: str, good_key: str) -> dict:
    cur.execute(
        f"CREATE TEMP TABLE ingest_repeats AS SELECT rid, orig FROM (SELECT rowid AS rid, "
        f"first_value(rowid) OVER (PARTITION BY {part} ORDER BY rowid) AS orig "
        f"FROM ingest_stage WHERE {good_key} AND rowid IN (SELECT rid FROM ingest_dupcand)) "
        f"WHERE rid <> orig")
    n = int(cur.execute("SELECT count(*) FROM ingest_repeats").fetchone()[0])
    if not n:
        cur.execute("DROP TABLE ingest_repeats")
        return {}
    if kind == "sales":
        return {"repeats": n}
    cur.execute(f"UPDATE ingest_stage SET __mp_reason = '{keys[0]}|duplicate_in_file' "
                f"WHERE rowid IN (SELECT rid FROM ingest_repeats)")
    cur.execute("DROP TABLE ingest_repeats")
    return {"key_duplicates": n}


def fill_raw(cur, src: StageSource, mapping: ColumnMapping, strict: bool) -> None:
    """Rows set aside after staging (in-file duplicates, total rows that passed the field
    rules) have no raw values yet: read the source again and take them by position."""
    _raw_for(cur, src, mapping, strict, "ingest_stage.__mp_reason IS NOT NULL")


def _raw_for(cur, src: StageSource, mapping: ColumnMapping, strict: bool, which: str,
             keep_value: bool = True) -> None:
    """Fill __mp_raw (and __mp_value) of the staged rows `which` selects that have none.
    Both reads skip the same malformed lines and keep the file's order, so the k-th
    staged row is the k-th row read."""
    which = f"({which}) AND ingest_stage.__mp_raw IS NULL"
    if not cur.execute(f"SELECT EXISTS (SELECT 1 FROM ingest_stage WHERE {which})").fetchone()[0]:
        return
    src_sql, params = source_sql(src, strict, rejects="ingest_rejects_again")
    cur.execute("DROP TABLE IF EXISTS ingest_raw")
    cur.execute(f"CREATE TEMP TABLE ingest_raw AS SELECT * FROM ({src_sql})", params)
    stage_base = cur.execute("SELECT min(rowid) FROM ingest_stage").fetchone()[0] or 0
    raw_base = cur.execute("SELECT min(rowid) FROM ingest_raw").fetchone()[0] or 0
    value = (f", __mp_value = {value_expr(mapping, 'r', 'ingest_stage')}" if keep_value
             else "")
    cur.execute(
        f"UPDATE ingest_stage SET __mp_raw = {raw_json_expr(src.columns, 'r')}{value} "
        f"FROM ingest_raw r WHERE {which} "
        f"AND r.rowid - ? = ingest_stage.rowid - ?", [raw_base, stage_base])
    cur.execute("DROP TABLE ingest_raw")
