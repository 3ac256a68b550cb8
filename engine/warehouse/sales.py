"""Sales (`sales_daily`): how far the sales reach.

One question, one query: "what is the newest sales date?" (on or before a day, for the
alert rules) is answered by `newest_sales_day` for the alerts, reorder, live-accuracy,
telemetry and upload-warning code alike. No pandas import at module level, nor in
`newest_sales_day` (a sales upload from the command line loads no pandas)."""
from __future__ import annotations

from datetime import date

from engine.warehouse.db import Warehouse


def newest_sales_day(wh: Warehouse, as_of=None) -> date | None:
    """The newest sales_daily date (on or before `as_of` when given), or None when there
    are no such sales."""
    if as_of is None:
        return wh.scalar("SELECT max(date) FROM sales_daily")
    return wh.scalar("SELECT max(date) FROM sales_daily WHERE date <= ?", [as_of])


def last_sales_date(wh: Warehouse, as_of=None):
    """`newest_sales_day` as a pandas Timestamp (None when there are no such sales), for
    callers that compare it with datetime columns."""
    import pandas as pd

    day = newest_sales_day(wh, as_of)
    return None if day is None else pd.Timestamp(day)
