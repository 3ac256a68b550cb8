"""Open an uploaded file: detect its format from its bytes (never from its name), check it
is readable and within the caps (engine.ingest.limits), find the encoding and delimiter,
and describe it for the loader.

CSV text is handed to DuckDB as-is when it is UTF-8 (with or without BOM); other
encodings (Latin-1 / Windows-1252, UTF-16, or UTF-8 mixed with Windows-1252) are
transcoded to a UTF-8 temporary file first. The same pass counts the lines and finds any
line longer than the line cap (those are emptied in a copy and quarantined by number).
Excel (engine.ingest.sheets) is read with openpyxl from an open file, so the name on disk
never matters; Parquet is read by DuckDB directly.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.ingest.errors import EmptyFileError, UnreadableFileError
from engine.ingest.lines import LineScan, LongLine, drop_long_lines
from engine.ingest.limits import Limits, cap_text, size_text

if TYPE_CHECKING:    # only Excel uploads need pandas (imported there)
    import pandas as pd

MAX_COLUMNS = Limits.max_columns
DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 8 << 20


@dataclass
class Source:
    """A readable upload. `path` is a file MicroPulse chose (or the CLI argument); the
    uploaded `file_name` is only ever displayed and stored as text."""

    format: str                      # csv | excel | parquet
    path: Path
    file_name: str
    sha256: str
    size: int
    columns: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    frame: pd.DataFrame | None = None    # excel: every cell as text (None for blank)
    sheets: tuple[str, ...] = ()
    sheet: str | None = None
    lines: list[int] | None = None       # excel: the sheet row of each frame row
    # False when no data cell can start or end with a space (a CSV whose rows are ASCII
    # without a single space): the loader then skips trimming every cell.
    padded: bool = True
    scan: LineScan | None = None         # csv: line facts of the file DuckDB reads
    long_lines: list[LongLine] = field(default_factory=list)   # csv: emptied in `path`
    blank_rows: list[int] = field(default_factory=list)        # excel: blank sheet rows
    # Things the reader noticed and the report should say: {"code", "sentence"}.
    warnings: list[dict] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    _more_tmp: list = field(default_factory=list, repr=False)

    def close(self) -> None:
        for tmp in [self._tmp, *self._more_tmp]:
            if tmp is not None:
                tmp.cleanup()
        self._tmp, self._more_tmp = None, []

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def scratch(self) -> Path:
        """A folder of this source's own for temporary copies (removed on close)."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mp_ingest_")
        return Path(self._tmp.name)


def open_source(path: str | Path, file_name: str | None = None,
                sheet: str | None = None, limits: Limits | None = None) -> Source:
    """Inspect the file at `path` (a path we control: its own name never matters, the
    format comes from the bytes) and return a Source, or raise an UnreadableFileError
    subclass saying why the file cannot be read. `file_name` is the name the user gave
    the file (shown in messages); `limits` default to Limits.from_env()."""
    path = Path(path)
    name = file_name if file_name is not None else path.name
    limits = limits if limits is not None else Limits.from_env()
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise UnreadableFileError(f"Cannot open the file '{name}': {exc.strerror}.") from exc
    if size == 0:
        raise EmptyFileError(f"The file '{name}' is empty (0 bytes).")
    if head.startswith(b"\x1f\x8b"):
        return _open_gzip(path, name, size, limits)
    if head.startswith(b"PK\x03\x04"):
        from engine.ingest.sheets import open_excel

        return open_excel(path, name, size, sheet, limits)
    if head.startswith(b"PAR1"):
        from engine.ingest.sheets import open_parquet

        return open_parquet(path, name, size, limits)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFileError(
            f"'{name}' is an old-style Excel (.xls) file. Open it in Excel and save it as "
            ".xlsx or .csv, then upload again.")
    return _open_csv(path, name, size, head, limits)


def _open_gzip(path: Path, name: str, size: int, limits: Limits) -> Source:
    """A gzip-compressed CSV (Agmarknet extracts often come as .csv.gz), inflated to a
    temporary file and no further than the decompressed-size cap."""
    import gzip

    tmp = tempfile.TemporaryDirectory(prefix="mp_ingest_")
    out = Path(tmp.name) / "gunzipped.csv"
    cap = limits.max_decompressed_bytes
    written = 0
    try:
        with gzip.open(path, "rb") as fin, open(out, "wb") as fout:
            while block := fin.read(min(_CHUNK, cap + 1 - written)):
                written += len(block)
                if written > cap:
                    raise UnreadableFileError(
                        f"'{name}' inflates to more than {size_text(cap)} (it is "
                        f"{size_text(size)} compressed); MicroPulse reads compressed files "
                        f"of up to {cap_text(limits, 'max_decompressed_bytes')} once "
                        "inflated. Split the file, or raise the cap.")
                fout.write(block)
    except (OSError, EOFError) as exc:
        tmp.cleanup()
        from engine.warehouse.db import storage_error

        problem = storage_error(exc, what=f"'{name}' could not be decompressed",
                                where="the disk for temporary files")
        if problem is not None:       # a full disk, not a damaged file
            raise problem from exc
        raise UnreadableFileError(f"'{name}' is a damaged gzip file and cannot be "
                                  "decompressed.") from exc
    except BaseException:
        tmp.cleanup()
        raise
    if written == 0:
        tmp.cleanup()
        raise EmptyFileError(f"'{name}' decompresses to an empty file.")
    with open(out, "rb") as fh:
        inner_head = fh.read(65536)
    if inner_head.startswith((b"PK\x03\x04", b"PAR1", b"\x1f\x8b")):
        tmp.cleanup()
        raise UnreadableFileError(f"'{name}' is a compressed file that does not hold a CSV.")
    try:
        src = _open_csv(out, name, written, inner_head, limits)
    except BaseException:
        tmp.cleanup()
        raise
    src.sha256, src.size = sha256_file(path), size
    src._more_tmp.append(tmp)
    return src


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---- CSV -------------------------------------------------------------------------------
def _open_csv(path: Path, name: str, size: int, head: bytes, limits: Limits) -> Source:
    from engine.ingest.encoding import transcode, transcode_mixed

    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in head:
        raise UnreadableFileError(
            f"'{name}' is not a text table (it contains binary data). Upload a CSV, "
            ".xlsx or Parquet file.")
    else:
        encoding = None
    utf8_ok = encoding is None
    ascii_only, spaced = True, False
    scan = LineScan(limits.max_line_bytes)
    dec = codecs.getincrementaldecoder("utf-8")()
    # The sha256 runs on a second core while this thread checks the text (hashlib and
    # file reads release the GIL): the pass costs the longer of the two, not their sum.
    with ThreadPoolExecutor(max_workers=1) as pool, open(path, "rb") as fh:
        sha256 = pool.submit(sha256_file, path)
        first = True
        while chunk := fh.read(_CHUNK):
            is_ascii = chunk.isascii()
            ascii_only = ascii_only and is_ascii
            # Spaces in the header line do not matter (its names are trimmed in Python).
            body = chunk[chunk.find(b"\n") + 1:] if first else chunk
            spaced = spaced or b" " in body
            first = False
            if utf8_ok:
                scan.feed(chunk)
            # An all-ASCII chunk is valid UTF-8 when no multi-byte character is pending
            # from the previous chunk; only other chunks need decoding.
            if utf8_ok and not (is_ascii and not dec.getstate()[0]):
                try:
                    dec.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
        digest = sha256.result()
    if utf8_ok:
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    src = Source("csv", path, name, digest, size, [], padded=spaced or not ascii_only,
                 limits=limits)
    if utf8_ok:
        src.encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    else:
        scan = LineScan(limits.max_line_bytes)
        out = src.scratch() / "transcoded.csv"
        if encoding == "utf-16":
            src.encoding = encoding
            transcode(path, out, encoding, scan.feed)
        else:
            mix = transcode_mixed(path, out, scan.feed)
            src.encoding = "utf-8 + windows-1252" if mix.mixed else _guess_8bit(head)
            if mix.mixed:
                src.warnings.append(_mixed_warning(name, mix))
        src.path = out
    src.scan = scan.finish()
    with open(src.path, "rb") as fh:
        raw = fh.read(65536)
        if b"\n" not in raw and b"\r" not in raw:     # a header line longer than that
            raw += fh.read(limits.max_line_bytes + 4)
        text_head = raw.decode("utf-8", errors="ignore")
    text_head = text_head.lstrip("\ufeff")
    if _control_ratio(text_head) > 0.05:
        raise UnreadableFileError(
            f"'{name}' is not a text table (it contains binary data). Upload a CSV, "
            ".xlsx or Parquet file.")
    src.delimiter = sniff_delimiter(text_head)
    long = [x for x in src.scan.long if x.start > 3]      # the header's own is below
    if len(long) < len(src.scan.long):
        raise UnreadableFileError(_long_header(src, name))
    if src.scan.lines - 1 > limits.max_rows:
        raise UnreadableFileError(
            f"'{name}' has {src.scan.lines - 1:,} lines after its header; MicroPulse loads "
            f"up to {cap_text(limits, 'max_rows')} rows from one file. Split the file and "
            "upload the parts.")
    raw_header, src.columns = _header(text_head, src.delimiter, name, limits)
    src.warnings += repeated_header_warnings(raw_header, src.columns)
    if long:
        copy = src.scratch() / "within_line_cap.csv"
        drop_long_lines(src.path, copy, long)
        src.path, src.long_lines = copy, long
    return src


def _mixed_warning(name: str, mix) -> dict:
    n = mix.lines
    return {"code": "mixed_encoding",
            "sentence": (f"'{name}' mixes two text encodings: it is UTF-8, but {n:,} "
                         f"line{'s hold' if n != 1 else ' holds'} Windows-1252 (Latin-1) "
                         f"characters (first: line {mix.first_line}, read as "
                         f"'{mix.first_text}'). Each part was read in its own encoding, "
                         "so names such as 'Café' do not turn into 'CafÃ©'; check those "
                         "lines if a name still looks wrong.")}


def _long_header(src: Source, name: str) -> str:
    """The sentence for a header line over the line cap, with its real column count."""
    first = src.scan.long[0]
    count = 1
    with open(src.path, "rb") as fh:
        fh.seek(first.start)
        left, delim = first.length, src.delimiter.encode()
        while left > 0 and (block := fh.read(min(left, _CHUNK))):
            count += block.count(delim)
            left -= len(block)
    limits = src.limits
    if count > limits.max_columns:
        return (f"'{name}' has {count:,} columns in its header (a {size_text(first.length)} "
                f"line); MicroPulse reads files with up to {cap_text(limits, 'max_columns')} "
                "columns. Remove the columns you do not need.")
    return (f"The header line of '{name}' is {size_text(first.length)} long; MicroPulse "
            f"reads lines of up to {cap_text(limits, 'max_line_bytes')}. Shorten the column "
            "names or remove columns you do not need.")


def _guess_8bit(head: bytes) -> str:
    """Windows-1252 when every byte is defined there (it is a superset of Latin-1's
    printable range), else plain Latin-1, which decodes any byte."""
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\r\n\t") or ch == "\ufffd")
    return bad / len(text)


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most, equally many fields."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1] or lines     # the sample's last line may be cut mid-way
    best, best_score = ",", (-1, -1)
    for delim in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)),
                                                delimiter=delim)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for c in counts if c == counts[0])
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _header(text: str, delim: str, name: str, limits: Limits) -> tuple[list, list[str]]:
    """(the header's cells as written, the column names MicroPulse uses)."""
    try:                            # newline="": a CR alone ends a line too
        first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delim), None)
    except csv.Error as exc:
        raise UnreadableFileError(f"'{name}' has a header line MicroPulse cannot split into "
                                  f"columns ({exc}). Save it again as CSV.") from exc
    if not first or all(not c.strip() for c in first):
        raise EmptyFileError(f"'{name}' has no header row (its first line is blank).")
    if len(first) > limits.max_columns:
        raise UnreadableFileError(
            f"'{name}' has {len(first):,} columns in its header; MicroPulse reads files "
            f"with up to {cap_text(limits, 'max_columns')} columns. Remove the columns you "
            "do not need.")
    parts = re.split(r"\r\n|\n|\r", text, maxsplit=1)
    if len(parts) < 2 or not parts[1].strip():
        raise EmptyFileError(f"'{name}' has a header row but no data rows.")
    return first, unique_names(first)


def unique_names(names: list, start: int = 1) -> list[str]:
    """Blank headers become 'column_N' (N counted from `start`); repeated headers get
    '_2', '_3'..."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names, start=start):
        base = str(raw).strip() if raw is not None and str(raw).strip() else f"column_{i}"
        cand, k = base, 2
        while cand.lower() in seen:
            cand, k = f"{base}_{k}", k + 1
        seen.add(cand.lower())
        out.append(cand)
    return out


def repeated_header_warnings(raw: list, columns: list[str], start: int = 1) -> list[dict]:
    """One warning per header name that appears more than once (any case): which columns
    share it and the names they are read under."""
    groups: dict[str, list[int]] = {}
    for i, cell in enumerate(raw):
        text = str(cell).strip() if cell is not None else ""
        if text:
            groups.setdefault(text.lower(), []).append(i)
    out = []
    for idx in groups.values():
        if len(idx) < 2:
            continue
        shown = str(raw[idx[0]]).strip()
        where = _and([str(i + start) for i in idx])
        read = _and([f"'{columns[i]}'" for i in idx])
        out.append({"code": "repeated_header",
                    "sentence": (f"Columns {where} are {'both' if len(idx) == 2 else 'all'} "
                                 f"named '{shown}': they are read as {read}. The first one "
                                 "feeds a field unless you map another by hand; check the "
                                 "column mapping.")})
    return out


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
