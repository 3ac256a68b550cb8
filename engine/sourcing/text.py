"""Small text helpers for reasons and messages (engine code cannot import components/)."""
from __future__ import annotations

import math


def _grouped(whole: str) -> str:
    if len(whole) <= 3:
        return whole
    head, tail = whole[:-3], whole[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join(groups + [tail])


def inr(value: float) -> str:
    """Rupees with Indian digit grouping, no decimals: 1234567 -> '₹12,34,567'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}₹{_grouped(f'{abs(value):.0f}')}"


def pct_text(value: float) -> str:
    """0.123 -> '12%' (one decimal below 10%)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = abs(value) * 100
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"
