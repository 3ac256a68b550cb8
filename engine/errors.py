"""One error family for the whole engine.

Every typed error a user can meet derives from `MicroPulseError`: a stable snake_case
`code` (for the API and scripts), a `message` a manager can act on ("Column 'pin_code' has
14 values that are not 6-digit PIN codes (e.g. '56001' on line 9)."), and, where there are
any, the `evidence`: the offending rows (a DataFrame or a list of dict rows) or values (a
dict). `http_status` is a hint for the API (422 by default: the request cannot be done as
asked; 404 not found, 403 not allowed, 409 conflicts with the current state, 503 busy or
read-only, 507 storage full, 500 the engine's own fault).

Each domain keeps its own root (IngestError, PricingError, WarehouseError, ...) with a
class-level default `code`, and keeps its builtin base (ValueError, RuntimeError) where
callers catch that. So one handler serves every domain: the API maps the base class
(api/errors.py), pages show the message and an evidence table (components/errors.py), and
the command line prints one `error: ...` line (engine/__main__.py).
"""
from __future__ import annotations

import json
import math
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # pandas is imported where a table is made: a CLI error stays light
    import pandas as pd

EVIDENCE_LIMIT = 50         # evidence rows an error response or page shows at most


class MicroPulseError(Exception):
    """An error a user can act on: `code`, `message`, optional `evidence`, `http_status`."""

    code: str = "micropulse_error"
    http_status: int = 422

    def __init__(self, message: str = "", evidence: Any = None, *, code: str | None = None,
                 http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.evidence = evidence
        if code:
            self.code = code
        if http_status:
            self.http_status = http_status

    def __str__(self) -> str:
        return str(getattr(self, "message", "") or (self.args[0] if self.args else ""))

    def __reduce__(self):
        """Pickle without calling the subclass's constructor (many build their sentence
        from other arguments), so an error survives st.cache_data and process pools."""
        return _rebuild, (type(self), self.args), self.__dict__

    def evidence_table(self) -> pd.DataFrame:
        """The evidence as a table (empty when there is none); see `evidence_table`."""
        return evidence_table(getattr(self, "evidence", None))

    def to_dict(self, limit: int = EVIDENCE_LIMIT) -> dict:
        """{"code", "message", "evidence"} with JSON-safe evidence (at most `limit` rows; a
        dict as it is), plus "evidence_total" when rows were left out."""
        out: dict = {"code": self.code, "message": str(self)}
        evidence, total = evidence_json(getattr(self, "evidence", None), limit)
        if evidence is not None:
            out["evidence"] = evidence
            if total is not None and total > len(evidence):
                out["evidence_total"] = total
        return out


def _rebuild(cls: type, args: tuple) -> MicroPulseError:
    exc = cls.__new__(cls, *args)
    exc.args = args
    return exc


def error_classes(root: type[BaseException] = MicroPulseError) -> list[type]:
    """`root` and every class derived from it that is imported so far (depth first)."""
    seen: list[type] = []

    def walk(cls: type) -> None:
        if cls not in seen:
            seen.append(cls)
            for sub in cls.__subclasses__():
                walk(sub)

    walk(root)
    return seen


# ---- evidence -----------------------------------------------------------------------------
def offending_rows(frame: pd.DataFrame, mask, columns: list[str] | None = None,
                   limit: int = EVIDENCE_LIMIT, line_offset: int | None = None
                   ) -> pd.DataFrame:
    """The rows of `frame` where `mask` holds (first `limit`), `columns` only, as evidence.
    With `line_offset` the frame's position becomes a `line` column (position +
    line_offset: 2 for a file with one header line), so people find the row in their file."""
    import pandas as pd

    mask = pd.Series(mask, index=frame.index).fillna(False).astype(bool)
    rows = frame.loc[mask, columns or list(frame.columns)]
    if line_offset is not None:
        positions = pd.Series(range(len(frame)), index=frame.index)[mask]
        rows = rows.assign(line=(positions + line_offset).to_numpy())
        rows = rows[["line"] + [c for c in rows.columns if c != "line"]]
    return rows.head(limit).reset_index(drop=True)


def evidence_table(evidence: Any) -> pd.DataFrame:
    """Any evidence as a table: a frame as it is, a list of dict rows as rows, a list of
    values as one `value` column, a dict as `item` / `value` rows (lists joined), a single
    value as one row. Empty for None."""
    import pandas as pd

    if evidence is None:
        return pd.DataFrame()
    if isinstance(evidence, pd.DataFrame):
        return evidence.reset_index(drop=True)
    if isinstance(evidence, pd.Series):
        return evidence.reset_index()
    if isinstance(evidence, dict):
        return pd.DataFrame({"item": [str(k) for k in evidence],
                             "value": [_cell_text(v) for v in evidence.values()]})
    if isinstance(evidence, (list, tuple, set)):
        items = list(evidence)
        if items and all(isinstance(i, dict) for i in items):
            return pd.DataFrame(items)
        return pd.DataFrame({"value": [_cell_text(i) for i in items]})
    return pd.DataFrame({"value": [_cell_text(evidence)]})


def evidence_json(evidence: Any, limit: int = EVIDENCE_LIMIT) -> tuple[Any, int | None]:
    """(JSON-safe evidence, how many rows there were): rows (a frame, a list) capped at
    `limit`, a dict kept as a dict, a single value as {"value": ...}; (None, None) for
    none. NaN / infinity become null, dates ISO text, numpy numbers Python numbers."""
    if evidence is None:
        return None, None
    if _is_frame(evidence):
        frame = evidence_table(evidence)
        rows = json.loads(frame.head(limit).to_json(orient="records", date_format="iso"))
        return rows, len(frame)
    if isinstance(evidence, (list, tuple, set)):
        items = list(evidence)
        return [_plain(i) for i in items[:limit]], len(items)
    if isinstance(evidence, dict):
        return _plain(evidence), None
    return {"value": _plain(evidence)}, None


def _plain(value: Any) -> Any:
    """`value` with only JSON types in it (recursively)."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if _is_frame(value):
        return evidence_json(value)[0]
    pd = sys.modules.get("pandas")
    if pd is not None and (value is pd.NaT or value is pd.NA):
        return None
    if isinstance(value, (datetime, date)):       # pd.Timestamp too
        return value.isoformat()
    if hasattr(value, "item"):          # numpy scalars
        return _plain(value.item())
    return str(value)


def _is_frame(value: Any) -> bool:
    pd = sys.modules.get("pandas")     # no pandas imported: no frame can exist
    return pd is not None and isinstance(value, (pd.DataFrame, pd.Series))


def _cell_text(value: Any) -> Any:
    """A table cell: lists and dicts as short text, anything else as it is."""
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return value
