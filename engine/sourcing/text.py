"""Small text helpers for sourcing reasons and messages."""
from __future__ import annotations

import math

from engine.textfmt import inr

__all__ = ["inr", "pct_text"]


def pct_text(value: float) -> str:
    """0.123 -> '12%' (one decimal below 10%)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = abs(value) * 100
    return f"{v:.1f}%" if v < 10 else f"{v:.0f}%"
