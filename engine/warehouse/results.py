"""Derived results stored once per version of the data they read.

Elasticities, regional elasticities, accuracy tables and the like take seconds to minutes
to compute and change only when their inputs change. `stored(wh, kind, params, depends,
compute)` returns the stored frame when the versions of the `depends` domains (see
`db.DOMAINS`) are the ones it was computed on, and otherwise computes, stores and returns
it. So a result survives an app restart, is shared by the app and the API, and is thrown
away only by a write to what it depends on (saving a scenario or acknowledging an alert
does not touch the sales an elasticity reads).

Frames are stored as Parquet (pyarrow), `DataFrame.attrs` included. On a PIN-scoped
handle the scope is part of the key, and the row is written through the scope's base
warehouse (the scoped view of this table is empty, like every bookkeeping table). A
read-only warehouse computes without storing.
"""
from __future__ import annotations

import io
import json
import logging
import time
from datetime import datetime
from typing import Callable

import pandas as pd

from engine.warehouse.db import WarehouseError

log = logging.getLogger(__name__)


def _key(params) -> str:
    return params if isinstance(params, str) else json.dumps(params, sort_keys=True,
                                                             default=str)


def _base(wh):
    return getattr(wh, "base", wh)


def _in_file(version: str) -> str:
    """The data version without the warehouse's tag (a hash of its path): what is stored
    in the file itself must still match after the file is copied or moved."""
    return version.split(":", 1)[1] if ":" in version else version


def _full_key(wh, params) -> str:
    scope = getattr(wh, "scope_tag", "")
    return _key(params) + (f"|scope:{scope}" if scope else "")


def _to_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=True)
    return buf.getvalue()


def _from_bytes(payload: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(payload))


def read(wh, kind: str, params, version: str) -> pd.DataFrame | None:
    """The stored result for these inputs computed at `version` (a `data_version` of the
    domains it depends on), or None."""
    row = _base(wh).query("SELECT depends_on, payload FROM derived_results WHERE kind = ? AND "
                     "params = ?", [kind, _full_key(wh, params)])
    if row.empty or row["depends_on"].iat[0] != _in_file(version):
        return None
    return _from_bytes(bytes(row["payload"].iat[0]))


def write(wh, kind: str, params, version: str, frame: pd.DataFrame,
          seconds: float | None = None) -> bool:
    """Store `frame` for these inputs at `version` (read BEFORE computing, so a write that
    lands meanwhile leaves a stale version that the next read recomputes). False when the
    warehouse cannot be written now (read-only, or another write of this process is under
    way: a read never waits for a writer); the caller still has its result."""
    base = _base(wh)
    if getattr(base, "read_only", False):
        return False
    payload = _to_bytes(frame)
    try:
        with base.transaction(touches=(), wait=False) as cur:   # a reader never waits
            cur.execute("INSERT INTO derived_results VALUES (?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (kind, params) DO UPDATE SET depends_on = "
                        "excluded.depends_on, computed_at = excluded.computed_at, "
                        "seconds = excluded.seconds, payload = excluded.payload",
                        [kind, _full_key(wh, params), _in_file(version), datetime.now(),
                         seconds, payload])
            # results of this kind computed on older data (same PIN scope) are dead weight
            cur.execute("DELETE FROM derived_results WHERE kind = ? AND depends_on <> ? AND "
                        "split_part(depends_on, '|scope:', 2) = split_part(?, '|scope:', 2)",
                        [kind, _in_file(version), _in_file(version)])
    except WarehouseError as exc:    # busy, disk full...: the result is still good to show
        log.warning("could not store %s: %s", kind, exc)
        return False
    return True


def stored(wh, kind: str, params, depends: tuple[str, ...],
           compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """`compute()` once per version of `depends` (and per `params` and PIN scope), kept in
    the warehouse; see the module docstring."""
    version = wh.data_version(*depends)
    found = read(wh, kind, params, version)
    if found is not None:
        return found
    started = time.perf_counter()
    frame = compute()
    write(wh, kind, params, version, frame, time.perf_counter() - started)
    return frame

