"""Indian number and date formatting for everything a user reads: ₹ with lakh/crore digit
grouping, unit counts, percentages, DD-MMM dates. Engine reasons and pages share it
(components/format.py re-exports it for the UI)."""
from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def indian_grouping(value: float, decimals: int = 0) -> str:
    """12345678.9 -> '1,23,45,679' (lakh/crore digit grouping)."""
    if _is_missing(value):
        return "—"
    sign = "-" if value < 0 else ""
    text = f"{abs(value):.{decimals}f}"
    whole, _, frac = text.partition(".")
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        whole = ",".join(groups + [tail])
    return sign + whole + (f".{frac}" if frac else "")


def inr(value: float, decimals: int = 0) -> str:
    """₹ with Indian grouping: 1234567 -> '₹12,34,567'."""
    if _is_missing(value):
        return "—"
    return ("-" if value < 0 else "") + "₹" + indian_grouping(abs(value), decimals)


def inr_compact(value: float) -> str:
    """Rupees in words a manager reads: '₹3.2 crore', '₹12.4 lakh', '₹8,450'."""
    if _is_missing(value):
        return "—"
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e7:
        return f"{sign}₹{v / 1e7:,.2f} crore"
    if v >= 1e5:
        return f"{sign}₹{v / 1e5:,.2f} lakh"
    return sign + inr(v)


def units(value: float) -> str:
    """Unit counts with Indian grouping, compact above a lakh: '2.35 lakh units'."""
    if _is_missing(value):
        return "—"
    if abs(value) >= 1e7:
        return f"{value / 1e7:,.2f} crore units"
    if abs(value) >= 1e5:
        return f"{value / 1e5:,.2f} lakh units"
    return f"{indian_grouping(value)} units"


def pct(value: float, decimals: int = 1, signed: bool = True) -> str:
    if _is_missing(value):
        return "—"
    return f"{value * 100:+.{decimals}f}%" if signed else f"{value * 100:.{decimals}f}%"


def dd_mmm(value, with_year: bool = False) -> str:
    """Dates as DD-MMM ('05-Nov'), or DD-MMM-YYYY."""
    if _is_missing(value):
        return "—"
    ts = pd.Timestamp(value) if not isinstance(value, (date, datetime)) else value
    return ts.strftime("%d-%b-%Y" if with_year else "%d-%b")
