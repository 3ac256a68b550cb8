"""Where a CSV's lines are, as a text editor shows them (so every line number MicroPulse
reports is the one a user finds in the file): line breaks are LF, CRLF or a lone CR.

- `LineScan` is fed the file chunk by chunk during the reader's one pass: it counts the
  lines, notes whether the text holds a quote, and finds the lines longer than the line
  cap, with one byte count per chunk and searches that stop at their first hit.
- `empty_lines`, `lines_at` and `record_lines` answer the precise questions afterwards,
  and only when the counts say they are needed (the lines outnumber the rows and rejects:
  an empty line exists, or a record spans several lines; a row was rejected).
- `drop_long_lines` writes a copy of the file in which each over-long line is empty
  (so no line number moves), for the loader to quarantine those lines by number.
"""
from __future__ import annotations

import csv
import re
from array import array
from dataclasses import dataclass, field

_CHUNK = 8 << 20


@dataclass
class LongLine:
    start: int                  # byte offset of the line in the file
    length: int                 # bytes, without its line break
    line: int = 0               # line number (from 1), set by drop_long_lines
    preview: str = ""           # its first characters


@dataclass
class LineScan:
    """Line facts of a file, fed chunk by chunk (`feed`, then `finish`). Each chunk costs
    one count of its LF bytes and a few searches that stop at the first hit; CR bytes are
    only counted in a file that has them."""

    cap: int
    size: int = 0
    lf: int = 0
    cr: int = 0
    crlf: int = 0
    quote: bool = False
    long: list[LongLine] = field(default_factory=list)
    last_byte: bytes = b""
    _since: int = 0             # bytes since the last line break
    _tail: bytes = b""

    @property
    def breaks(self) -> int:
        return self.lf + self.cr - self.crlf

    @property
    def lines(self) -> int:
        """Lines as an editor numbers them (a final line without a break counts)."""
        if not self.size:
            return 0
        return self.breaks + (self.last_byte not in (b"\n", b"\r"))

    @property
    def lone_cr(self) -> bool:
        return self.cr > self.crlf

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        lf = chunk.count(b"\n")
        has_cr = b"\r" in chunk
        self.lf += lf
        if has_cr:
            self.cr += chunk.count(b"\r")
            self.crlf += chunk.count(b"\r\n")
        if self._tail.endswith(b"\r") and chunk.startswith(b"\n"):
            self.crlf += 1
        if not self.quote and b'"' in chunk:
            self.quote = True
        if lf or has_cr:
            first = _first_break(chunk, 0, has_cr)
            last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r") if has_cr else -1)
            if self._since + first > self.cap:
                self.long.append(LongLine(self.size - self._since, self._since + first))
            self._windows(chunk, first + 1, last, has_cr)
            self._since = len(chunk) - last - 1
        else:
            self._since += len(chunk)
        self._tail = chunk[-2:]
        self.last_byte = chunk[-1:]
        self.size += len(chunk)

    def _windows(self, chunk: bytes, p: int, end: int, has_cr: bool) -> None:
        """Lines longer than the cap between offsets p and end (a line break at `end`):
        a line longer than 2w holds a whole w-byte window without a break, so only windows
        need checking, and only a window without a break is measured."""
        w = max(self.cap // 2, 1)
        while p + w <= end:
            if chunk.find(b"\n", p, p + w) >= 0 or (has_cr and chunk.find(b"\r", p, p + w) >= 0):
                p += w
                continue
            start = max(chunk.rfind(b"\n", 0, p), chunk.rfind(b"\r", 0, p)) + 1
            stop = _first_break(chunk, p, True)
            if stop - start > self.cap:
                self.long.append(LongLine(self.size + start, stop - start))
            p = stop + 1

    def finish(self) -> "LineScan":
        if self._since > self.cap:
            self.long.append(LongLine(self.size - self._since, self._since))
            self._since = 0
        return self


def _first_break(chunk: bytes, start: int, cr: bool = True) -> int:
    hits = [i for i in (chunk.find(b"\n", start), chunk.find(b"\r", start) if cr else -1)
            if i >= 0]
    return min(hits) if hits else len(chunk)


def scan_file(path, cap: int) -> LineScan:
    scan = LineScan(cap)
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            scan.feed(block)
    return scan.finish()


def _breaks(data: bytes, a: int, b: int) -> int:
    n = data.count(b"\n", a, b)
    cr = data.count(b"\r", a, b)
    return n + cr - (data.count(b"\r\n", a, b) if cr else 0)


def _blocks(path, chunk: int = _CHUNK, keep: int = 2):
    """(data, limit) pairs covering the file: `data[:limit]` is new; the bytes after it
    are carried into the next pair (so a CRLF is never split and a pattern may look
    ahead `keep` bytes)."""
    carry = b""
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            data = carry + block
            if not block:
                yield data, len(data)
                return
            limit = max(len(data) - keep, 0)
            if limit and data[limit - 1:limit] == b"\r":
                limit -= 1
            yield data, limit
            carry = data[limit:]


_EMPTY_AFTER = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?=[\r\n])")


def empty_lines(path, chunk: int = _CHUNK) -> list[int]:
    """Line numbers (from 1) of the empty lines, which DuckDB's CSV reader skips without a
    trace. (A blank line inside a quoted multi-line cell counts too; the loader tells
    those apart with `record_lines`.)"""
    out: list[int] = []
    before = 0                       # line breaks before the current position
    for data, limit in _blocks(path, chunk):
        pos = 0
        if b"\r" not in data:         # LF only: look for LF LF, no regular expression
            hit = data.find(b"\n\n")
            while 0 <= hit < limit:
                before += data.count(b"\n", pos, hit) + 1
                pos = hit + 1
                out.append(before + 1)
                hit = data.find(b"\n\n", pos)
            before += data.count(b"\n", pos, limit)
            continue
        for m in _EMPTY_AFTER.finditer(data):
            if m.start() >= limit:
                break
            before += _breaks(data, pos, m.start()) + 1
            pos = m.end()
            out.append(before + 1)
        before += _breaks(data, pos, limit)
    return out


def lines_at(path, positions: list[int], chunk: int = _CHUNK) -> dict[int, int]:
    """Line number (from 1) of each byte offset in `positions` (offsets from 0)."""
    todo = sorted(set(int(p) for p in positions))
    out: dict[int, int] = {}
    before, offset, i = 0, 0, 0
    for data, limit in _blocks(path, chunk, keep=1):
        pos = 0
        while i < len(todo) and todo[i] < offset + limit:
            p = todo[i] - offset
            before += _breaks(data, pos, p)
            pos = p
            out[todo[i]] = before + 1
            i += 1
        before += _breaks(data, pos, limit)
        offset += limit
        if i == len(todo):
            break
    for p in todo[i:]:
        out[p] = before + 1
    return out


def record_lines(path, delimiter: str) -> tuple[array, list[int]]:
    """For a file whose records may span several lines (a quoted cell holding a line
    break): the first line of every non-empty record after the header, and the empty
    lines outside quoted cells. Python's csv module splits records as DuckDB does for any
    well-formed file; the loader checks that the counts agree before trusting it."""
    starts: array = array("q")
    empty: list[int] = []
    old = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, quotechar='"', doublequote=True,
                                strict=False)
            prev, header = 0, True
            for row in reader:
                start, prev = prev + 1, reader.line_num
                if header:
                    header = False
                elif row:
                    starts.append(start)
                else:
                    empty.append(start)
    finally:
        csv.field_size_limit(old)
    return starts, empty


def drop_long_lines(path, out, long: list[LongLine], preview_chars: int = 200) -> None:
    """Copy `path` to `out` with every line in `long` emptied (its line break kept, so the
    copy has the same lines; a single space where a lone CR before it would otherwise join
    the LF after it), filling in each one's line number and first characters."""
    todo = sorted(long, key=lambda x: x.start)
    numbers = lines_at(path, [x.start for x in todo])
    with open(path, "rb") as fin:
        for item in todo:
            item.line = numbers[item.start]
            fin.seek(item.start)
            item.preview = fin.read(preview_chars * 4).decode(
                "utf-8", errors="replace")[:preview_chars]
    with open(path, "rb") as fin, open(out, "wb") as fout:
        pos = 0
        for item in todo:
            stop = item.start + item.length
            fin.seek(stop)
            merges = fin.read(1) == b"\n" and item.start > 0
            if merges:
                fin.seek(item.start - 1)
                merges = fin.read(1) == b"\r"
            fin.seek(pos)
            _copy(fin, fout, item.start - pos)
            if merges:                  # so a blank in its place (the lines stay the same)
                fout.write(b" ")
            fin.seek(stop)
            pos = stop
        while block := fin.read(_CHUNK):
            fout.write(block)


def _copy(fin, fout, n: int) -> None:
    while n > 0:
        block = fin.read(min(n, _CHUNK))
        if not block:
            return
        fout.write(block)
        n -= len(block)


def read_span(path, start: int, lines: int, limit: int = 16 << 20) -> str:
    """The text of `lines` lines from byte offset `start` (line breaks between them kept,
    the last one's dropped), at most `limit` bytes."""
    out = bytearray()
    with open(path, "rb") as fh:
        fh.seek(start)
        while lines > 0 and len(out) < limit:
            line = fh.readline(limit - len(out))
            if not line:
                break
            # A lone CR ends a line too: split there and step back.
            cr = line.find(b"\r")
            if 0 <= cr < len(line) - 1 and line[cr + 1:cr + 2] != b"\n":
                fh.seek(fh.tell() - (len(line) - cr - 1))
                line = line[:cr + 1]
            out += line
            lines -= 1
    return bytes(out).rstrip(b"\r\n").decode("utf-8", errors="replace")
