"""Wording helpers that import nothing heavy (no pandas): the upload path, which must stay
light, and the alert texts share them."""
from __future__ import annotations

from datetime import date


def age_text(days: int) -> str:
    """An age as a manager says it: '5 days', '3 weeks', '7 months', '14 years 11 months'."""
    days = int(days)
    if days < 14:
        return f"{days} day{'' if days == 1 else 's'}"
    if days < 63:
        return f"{days // 7} weeks"
    months = int(round(days / 30.44))
    if months < 24:
        return f"{months} months"
    years, rest = divmod(months, 12)
    return f"{years} years" + (f" {rest} month{'' if rest == 1 else 's'}" if rest else "")


def day_with_year(day: date) -> str:
    """DD-MMM-YYYY, as engine.textfmt.dd_mmm(day, with_year=True) (tested to agree)."""
    return day.strftime("%d-%b-%Y")
