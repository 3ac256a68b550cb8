"""Text that is not all UTF-8: decode each part in its own encoding and say so.

A file exported in pieces (or edited in two programs) can hold UTF-8 lines next to
Windows-1252 / Latin-1 ones. Decoding it all as Windows-1252 turns every UTF-8 'é' into
'Ã©'; decoding it all as UTF-8 fails. `transcode_mixed` decodes the file as UTF-8 and
only the bytes that are not valid UTF-8 as Windows-1252 (Latin-1 for the five bytes
Windows-1252 leaves undefined), writes UTF-8, and counts the lines that needed it, so
the reader can name the mix.
"""
from __future__ import annotations

import codecs
import threading
from dataclasses import dataclass

_CHUNK = 8 << 20
_HANDLER = "micropulse_cp1252"
_HIGH = bytes(range(128, 256))
_local = threading.local()


@dataclass
class MixStats:
    fallback_bytes: int = 0          # bytes read as Windows-1252
    utf8_bytes: int = 0              # non-ASCII bytes that were valid UTF-8
    lines: int = 0                   # lines holding Windows-1252 bytes
    first_line: int | None = None
    first_text: str | None = None    # that line as read (shortened)
    _obj: bytes | None = None
    _cursor: int = 0
    _line: int = 0                   # line breaks before _cursor in _obj, plus _base
    _base: int = 0
    _last: int = -1

    @property
    def mixed(self) -> bool:
        return self.fallback_bytes > 0 and self.utf8_bytes > 0

    def note(self, obj: bytes, start: int, end: int) -> None:
        if obj is not self._obj:
            self._obj, self._cursor, self._line = obj, 0, self._base
        self._line += obj.count(b"\n", self._cursor, start)
        self._cursor = start
        self.fallback_bytes += end - start
        if self._line != self._last:
            self._last = self._line
            self.lines += 1
            if self.first_line is None:
                self.first_line = self._line + 1
                a = obj.rfind(b"\n", 0, start) + 1
                b = obj.find(b"\n", start)
                raw = obj[a:b if b >= 0 else len(obj)].rstrip(b"\r")[:240]
                self.first_text = decode_mixed(raw)[:80]


def _cp1252(raw: bytes) -> str:
    return "".join(bytes([b]).decode("cp1252", errors="strict") if b not in (
        0x81, 0x8D, 0x8F, 0x90, 0x9D) else bytes([b]).decode("latin-1") for b in raw)


def _fallback(exc: UnicodeDecodeError):
    stats = getattr(_local, "stats", None)
    if stats is not None:
        stats.note(exc.object, exc.start, exc.end)
    return _cp1252(exc.object[exc.start:exc.end]), exc.end


codecs.register_error(_HANDLER, _fallback)


def decode_mixed(raw: bytes) -> str:
    """UTF-8 where the bytes are UTF-8, Windows-1252 elsewhere (nothing is counted)."""
    saved, _local.stats = getattr(_local, "stats", None), None
    try:
        return raw.decode("utf-8", errors=_HANDLER)
    finally:
        _local.stats = saved


def transcode_mixed(src, dst, feed=None) -> MixStats:
    """Write `src` to `dst` as UTF-8, decoding it as UTF-8 with Windows-1252 for the bytes
    that are not; `feed` (if given) receives every UTF-8 block written."""
    stats = MixStats()
    dec = codecs.getincrementaldecoder("utf-8")(errors=_HANDLER)
    _local.stats = stats
    try:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            while True:
                block = fin.read(_CHUNK)
                final = not block
                stats.utf8_bytes += len(block) - len(block.translate(None, _HIGH))
                out = dec.decode(block, final=final).encode("utf-8")
                stats._base += block.count(b"\n")
                if out:
                    fout.write(out)
                    if feed is not None:
                        feed(out)
                if final:
                    break
    finally:
        _local.stats = None
    stats.utf8_bytes -= stats.fallback_bytes
    return stats


def transcode(src, dst, encoding: str, feed=None) -> None:
    """Write `src` (in `encoding`, e.g. UTF-16) to `dst` as UTF-8."""
    with open(src, "r", encoding=encoding, errors="replace", newline="") as fin, \
            open(dst, "wb") as fout:
        while block := fin.read(_CHUNK):
            out = block.encode("utf-8")
            fout.write(out)
            if feed is not None:
                feed(out)
