"""The time grain of the sales in the warehouse: daily ('D') or weekly ('W').

Uploads record their own grain (`ingest_batches.grain`) and the forecaster detects it
from the history it fits (`engine.forecast.features.detect_grain`, stored as
`forecast_runs.grain`). Everything else - alerts, maps, reorder demand, what-if texts -
asks this module: the warehouse's sales are weekly when every `sales_daily` date falls on
one weekday and consecutive dates are mostly 7 days apart (one row per SKU x PIN x week,
labelled by one day of the week), otherwise daily. Transaction-level uploads are
aggregated to days in `sales_daily`, so they are daily here.

`grain_of_dates` is the pure rule; `sales_grain` applies it to the warehouse; the small
text helpers say "day"/"week" for a grain so every reason and label uses the same words.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:     # the pure helpers must not pull in the database driver
    from engine.warehouse.db import Warehouse

DAILY, WEEKLY = "D", "W"


def grain_of_dates(dates) -> str:
    """'W' when the distinct dates all fall on one weekday and the median gap between
    consecutive ones is 7 days, else 'D' (also for fewer than two dates)."""
    d = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dropna().unique()).sort_values()
    if len(d) < 2 or d.dayofweek.nunique() != 1:
        return DAILY
    gaps = (d[1:] - d[:-1]).days.to_numpy()
    return WEEKLY if float(np.median(gaps)) == 7.0 else DAILY


def normalise_grain(value) -> str:
    """'W' for any spelling of weekly ('W', 'weekly', 'week'), else 'D' (daily,
    transaction-level or unknown)."""
    return WEEKLY if isinstance(value, str) and value.strip().lower().startswith("w") \
        else DAILY


_KNOWN: dict[str, str] = {}     # data version -> grain (the scan costs ~0.3 s at 20M rows)


def sales_grain(wh: Warehouse) -> str:
    """The grain of the sales in `sales_daily` ('D' when there are none). On a PIN-scoped
    handle it is the grain of the sales that handle can see. Remembered per data version
    (every committed write changes it), so the overview's several queries scan once."""
    version = wh.data_version()
    if version not in _KNOWN:
        dates = wh.query("SELECT DISTINCT date FROM sales_daily ORDER BY date")["date"]
        if len(_KNOWN) >= 64:
            _KNOWN.clear()
        _KNOWN[version] = grain_of_dates(dates)
    return _KNOWN[version]


def period_days(grain: str) -> int:
    """Days in one period of the grain: 7 for weekly, 1 for daily."""
    return 7 if normalise_grain(grain) == WEEKLY else 1


def periods_for(days: int, grain: str) -> int:
    """Whole periods covering `days` days: 7 days -> 1 week, 28 -> 4, 10 -> 2; days
    themselves for daily data."""
    return max(1, math.ceil(int(days) / period_days(grain)))


def period_noun(grain: str, n: int = 1) -> str:
    """'day' / 'days' / 'week' / 'weeks'."""
    word = "week" if normalise_grain(grain) == WEEKLY else "day"
    return word if n == 1 else word + "s"


def periods_text(n: int, grain: str) -> str:
    """'1 day', '3 days', '1 week', '4 weeks'."""
    return f"{int(n)} {period_noun(grain, int(n))}"
