"""Open an uploaded file: detect its format from its bytes (never from its name), check it
is readable, find the encoding and delimiter, and describe it for the loader.

CSV text is handed to DuckDB as-is when it is UTF-8 (with or without BOM); other
encodings (Latin-1 / Windows-1252, UTF-16) are transcoded to a UTF-8 temporary file first.
Excel is read with openpyxl (sheet choice); Parquet is read by DuckDB directly.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.ingest.errors import EmptyFileError, SheetNotFoundError, UnreadableFileError

if TYPE_CHECKING:    # only Excel uploads need pandas (imported there)
    import pandas as pd

MAX_COLUMNS = 1000
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


def open_source(path: str | Path, file_name: str | None = None,
                sheet: str | None = None) -> Source:
    """Inspect the file at `path` (a path we control) and return a Source, or raise an
    UnreadableFileError subclass saying why the file cannot be read."""
    path = Path(path)
    name = file_name if file_name is not None else path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise UnreadableFileError(f"Cannot open the file '{name}': {exc.strerror}.") from exc
    if size == 0:
        raise EmptyFileError(f"The file '{name}' is empty (0 bytes).")
    if head.startswith(b"\x1f\x8b"):
        return _open_gzip(path, name, size)
    if head.startswith(b"PK\x03\x04"):
        return _open_excel(path, name, size, sheet)
    if head.startswith(b"PAR1"):
        return _open_parquet(path, name, size)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFileError(
            f"'{name}' is an old-style Excel (.xls) file. Open it in Excel and save it as "
            ".xlsx or .csv, then upload again.")
    return _open_csv(path, name, size, head)


def _open_gzip(path: Path, name: str, size: int) -> Source:
    """A gzip-compressed CSV (Agmarknet extracts often come as .csv.gz)."""
    import gzip
    import shutil

    tmp = tempfile.TemporaryDirectory(prefix="mp_ingest_")
    out = Path(tmp.name) / "gunzipped.csv"
    try:
        with gzip.open(path, "rb") as fin, open(out, "wb") as fout:
            shutil.copyfileobj(fin, fout, _CHUNK)
    except (OSError, EOFError) as exc:
        tmp.cleanup()
        raise UnreadableFileError(f"'{name}' is a damaged gzip file and cannot be "
                                  "decompressed.") from exc
    if out.stat().st_size == 0:
        tmp.cleanup()
        raise EmptyFileError(f"'{name}' decompresses to an empty file.")
    with open(out, "rb") as fh:
        inner_head = fh.read(65536)
    if inner_head.startswith((b"PK\x03\x04", b"PAR1", b"\x1f\x8b")):
        tmp.cleanup()
        raise UnreadableFileError(f"'{name}' is a compressed file that does not hold a CSV.")
    try:
        src = _open_csv(out, name, out.stat().st_size, inner_head)
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
def _open_csv(path: Path, name: str, size: int, head: bytes) -> Source:
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
    src = Source("csv", path, name, digest, size, [], padded=spaced or not ascii_only)
    if utf8_ok:
        src.encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        text_head = head.decode("utf-8", errors="ignore")
    else:
        src.encoding = encoding or _guess_8bit(head)
        src._tmp = tempfile.TemporaryDirectory(prefix="mp_ingest_")
        out = Path(src._tmp.name) / "transcoded.csv"
        _transcode(path, out, src.encoding)
        src.path = out
        with open(out, "rb") as fh:
            text_head = fh.read(65536).decode("utf-8", errors="ignore")
    text_head = text_head.lstrip("\ufeff")
    if _control_ratio(text_head) > 0.05:
        raise UnreadableFileError(
            f"'{name}' is not a text table (it contains binary data). Upload a CSV, "
            ".xlsx or Parquet file.")
    src.delimiter = sniff_delimiter(text_head)
    src.columns = _header(text_head, src.delimiter, name)
    return src


def _guess_8bit(head: bytes) -> str:
    """Windows-1252 when every byte is defined there (it is a superset of Latin-1's
    printable range), else plain Latin-1, which decodes any byte."""
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _transcode(src: Path, dst: Path, encoding: str) -> None:
    with open(src, "r", encoding=encoding, errors="replace", newline="") as fin, \
            open(dst, "w", encoding="utf-8", newline="") as fout:
        while block := fin.read(_CHUNK):
            fout.write(block)


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


def _header(text: str, delim: str, name: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text), delimiter=delim), None)
    if not first or all(not c.strip() for c in first):
        raise EmptyFileError(f"'{name}' has no header row (its first line is blank).")
    if len(first) > MAX_COLUMNS:
        raise UnreadableFileError(
            f"'{name}' has {len(first):,} columns in its header; MicroPulse reads files "
            f"with up to {MAX_COLUMNS:,} columns. Remove the columns you do not need.")
    rest = text.split("\n", 1)[1] if "\n" in text else ""
    if not rest.strip():
        raise EmptyFileError(f"'{name}' has a header row but no data rows.")
    return unique_names(first)


def unique_names(names: list) -> list[str]:
    """Blank headers become 'column_N'; repeated headers get '_2', '_3'..."""
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names, start=1):
        base = str(raw).strip() if raw is not None and str(raw).strip() else f"column_{i}"
        cand, k = base, 2
        while cand.lower() in seen:
            cand, k = f"{base}_{k}", k + 1
        seen.add(cand.lower())
        out.append(cand)
    return out


# ---- Excel -----------------------------------------------------------------------------
def _open_excel(path: Path, name: str, size: int, sheet: str | None) -> Source:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
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
        rows = wb[chosen].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or all(v is None for v in header):
            raise EmptyFileError(f"The sheet '{chosen}' in '{name}' is empty.")
        if len(header) > MAX_COLUMNS:
            raise UnreadableFileError(
                f"The sheet '{chosen}' has {len(header):,} columns; MicroPulse reads up to "
                f"{MAX_COLUMNS:,}.")
        width = len(header)
        body, lines = [], []
        for row_no, r in enumerate(rows, start=2):
            if r is None or all(v is None for v in r):
                continue
            cells = [_cell_text(v) for v in r[:width]]
            cells += [None] * (width - len(cells))
            body.append(cells)
            lines.append(row_no)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFileError(f"'{name}' is a damaged Excel file: {exc}.") from exc
    finally:
        wb.close()
    if not body:
        raise EmptyFileError(f"The sheet '{chosen}' in '{name}' has a header row but no data rows.")
    columns = unique_names(list(header))
    import pandas as pd

    frame = pd.DataFrame(body, columns=columns, dtype=object)
    return Source("excel", path, name, sha256_file(path), size, columns, frame=frame,
                  sheets=sheets, sheet=chosen, lines=lines)


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
        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()
    except Exception:  # noqa: BLE001 - a picker must not fail; open_source reports why
        return []


# ---- Parquet ---------------------------------------------------------------------------
def _open_parquet(path: Path, name: str, size: int) -> Source:
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
    if len(columns) > MAX_COLUMNS:
        raise UnreadableFileError(f"'{name}' has {len(columns):,} columns; MicroPulse reads "
                                  f"up to {MAX_COLUMNS:,}.")
    if len(set(columns)) != len(columns):
        raise UnreadableFileError(f"'{name}' has repeated column names; rename them.")
    return Source("parquet", path, name, sha256_file(path), size, columns)
