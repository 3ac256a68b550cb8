"""The audit log (`audit_log`): who did what. Rows are written inside each change's own
transaction (`Warehouse.audit`); `write_audit` records an action that changes nothing else,
in a small transaction that leaves the data version alone."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from engine.warehouse.db import Warehouse


def write_audit(wh: Warehouse, actor: str | None, action: str, details: dict | None = None,
                now: datetime | None = None) -> None:
    with wh.transaction(touches=(), what="sign-in data") as cur:
        wh.audit(cur, actor, action, details, now)


def read_audit_log(wh: Warehouse, action_prefix: str | None = None, actor: str | None = None,
                   limit: int = 500) -> pd.DataFrame:
    """Newest audit rows first, optionally only actions starting with `action_prefix` and
    one actor."""
    sql, params = "SELECT ts, actor, action, details FROM audit_log WHERE TRUE", []
    if action_prefix:
        sql += " AND starts_with(action, ?)"
        params.append(action_prefix)
    if actor:
        sql += " AND actor = ?"
        params.append(actor)
    return wh.query(sql + " ORDER BY ts DESC LIMIT ?", [*params, int(limit)])
