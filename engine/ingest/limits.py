"""Caps on what one upload may hold, so that no file can exhaust memory or disk, or be
read only in part without saying so. Every cap either rejects the file or quarantines a
line, with a sentence that names the cap and the setting that changes it.

    Limits.from_env()            # defaults, overridden by MICROPULSE_MAX_* variables
    Limits(max_line_bytes=1000)  # tests and callers may pass their own
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from engine.ingest.errors import IngestError

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    # A compressed (.gz) upload may inflate to at most this many bytes (and an .xlsx's
    # parts together, which are compressed too).
    max_decompressed_bytes: int = 2048 * MB
    # A longer line is quarantined whole ('line_too_long'); a longer header line rejects
    # the file. DuckDB's CSV reader is sized to this too.
    max_line_bytes: int = 2 * MB
    # Data lines (CSV), sheet rows (Excel) or rows (Parquet) per file.
    max_rows: int = 50_000_000
    # Columns in the header (and in an Excel sheet or a Parquet file).
    max_columns: int = 1000

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Limits":
        env = os.environ if env is None else env
        base = cls()
        return cls(
            max_decompressed_bytes=_mb(env, "MICROPULSE_MAX_DECOMPRESSED_MB",
                                       base.max_decompressed_bytes),
            max_line_bytes=_mb(env, "MICROPULSE_MAX_LINE_MB", base.max_line_bytes,
                               most=256 * MB),
            max_rows=_count(env, "MICROPULSE_MAX_ROWS", base.max_rows),
            max_columns=_count(env, "MICROPULSE_MAX_COLUMNS", base.max_columns))


SETTINGS = {"max_decompressed_bytes": "MICROPULSE_MAX_DECOMPRESSED_MB",
            "max_line_bytes": "MICROPULSE_MAX_LINE_MB",
            "max_rows": "MICROPULSE_MAX_ROWS",
            "max_columns": "MICROPULSE_MAX_COLUMNS"}


def size_text(n: float) -> str:
    """Bytes as a person reads them: '812 bytes', '40 KB', '2 MB', '1.5 GB'."""
    if n < 1024:
        return f"{int(n):,} bytes"
    for unit, scale in (("GB", 1 << 30), ("MB", MB), ("KB", 1024)):
        if n >= scale:
            value = f"{n / scale:,.1f}".removesuffix(".0")
            return f"{value} {unit}"
    return f"{int(n):,} bytes"


def cap_text(limits: Limits, name: str) -> str:
    """'2 MB (MICROPULSE_MAX_LINE_MB)' / '1,000 (MICROPULSE_MAX_COLUMNS)'."""
    value = getattr(limits, name)
    shown = size_text(value) if name.endswith("_bytes") else f"{value:,}"
    return f"{shown} ({SETTINGS[name]})"


def _mb(env, key: str, default: int, most: int | None = None) -> int:
    raw = env.get(key)
    if raw is None or not str(raw).strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or (most is not None and value * MB > most):
        top = f" and at most {most // MB:,}" if most else ""
        raise IngestError(f"{key} must be a number of megabytes above 0{top} "
                          f"(it is '{raw}').")
    return int(value * MB)


def _count(env, key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or not str(raw).strip():
        return default
    try:
        value = int(str(raw).replace(",", "").replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise IngestError(f"{key} must be a whole number above 0 (it is '{raw}').")
    return value
