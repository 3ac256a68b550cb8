"""Dates and ranges in a question: English and common Hinglish words, relative to the
warehouse's "today" (the day after its last sales date), and explicit dates in Indian
day-month order ("15-Aug", "15/08", "25 December") read by dateparser, which is set to
English only and never looks anything up.

`find_dates(text, today)` -> DateSpan(date_from, date_to, horizon_days) or None.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dateparser

_SETTINGS = {"DATE_ORDER": "DMY", "PREFER_DATES_FROM": "future",
             "PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False,
             "REQUIRE_PARTS": ["day", "month"]}
_MONTHS = ("jan|january|feb|february|mar|march|apr|april|may|jun|june|jul|july|aug|august|"
           "sep|sept|september|oct|october|nov|november|dec|december")
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?[\s\-/.]*({_MONTHS})\b(?:[\s\-/.,]*(\d{{4}}))?"
    rf"|\b({_MONTHS})[\s\-/.]*(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:%|percent|days?|weeks?))"
    r"|\b(\d{1,2})[/\-](\d{1,2})(?:[/\-](\d{2,4}))?\b", re.IGNORECASE)
_MONTH_ONLY = re.compile(rf"\b(?:in|for|of|during|mein|me)\s+({_MONTHS})\b", re.IGNORECASE)
_NEXT_N = re.compile(r"\b(?:next|agle|coming|aane wale|upcoming)\s+(\d{1,3})\s*"
                     r"(days?|din|weeks?|hafte|hafton|months?|mahine)\b", re.IGNORECASE)
_LAST_N = re.compile(r"\b(?:last|past|pichle|pichhle|previous)\s+(\d{1,3})\s*"
                     r"(days?|din|weeks?|hafte|hafton|months?|mahine)\b", re.IGNORECASE)
_PAST_TENSE = re.compile(r"\b(bika|biki|bike|sold|was|were|did|tha|thi|the|happened|"
                         r"went|hua|hui)\b", re.IGNORECASE)


@dataclass(frozen=True)
class DateSpan:
    date_from: date
    date_to: date
    horizon_days: int | None = None     # only when the question says "next N days"


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def _unit_days(unit: str) -> int:
    unit = unit.lower()
    if unit.startswith(("week", "hafte", "hafton")):
        return 7
    if unit.startswith(("month", "mahine")):
        return 30
    return 1


def _phrase(text: str, today: date) -> DateSpan | None:
    """Relative words, checked longest first."""
    t = " " + re.sub(r"\s+", " ", re.sub(r"[^\w%\s]", " ", text.lower())) + " "
    monday = today - timedelta(days=today.weekday())
    m = _NEXT_N.search(t)
    if m:
        n = int(m.group(1)) * _unit_days(m.group(2))
        if n > 0:
            return DateSpan(today, today + timedelta(days=n - 1), n)
    m = _LAST_N.search(t)
    if m:
        n = int(m.group(1)) * _unit_days(m.group(2))
        if n > 0:
            return DateSpan(today - timedelta(days=n), today - timedelta(days=1))
    rules = [
        ((" day after tomorrow ", " parso ", " parson ", " parsoon "),
         lambda: (today + timedelta(days=2),) * 2),
        ((" next fortnight ", " next two weeks ", " next 2 weeks ", " agle do hafte "),
         lambda: (today, today + timedelta(days=13))),
        ((" next week", " agle hafte", " agle hafta", " agla hafta", " coming week",
          " following week", " aane wale hafte", " nxt week", " next wk"),
         lambda: (monday + timedelta(days=7), monday + timedelta(days=13))),
        ((" last week", " pichle hafte", " pichhle hafte", " previous week", " past week"),
         lambda: (monday - timedelta(days=7), monday - timedelta(days=1))),
        ((" this weekend", " weekend", " shanivar ravivar"),
         lambda: (monday + timedelta(days=5 if today.weekday() < 5 else 12),
                  monday + timedelta(days=6 if today.weekday() < 5 else 13))),
        ((" this week", " is hafte", " iss hafte", " is week", " current week"),
         lambda: (today, monday + timedelta(days=6))),
        ((" next month", " agle mahine", " agla mahina", " coming month", " following month"),
         lambda: (_add_months(today, 1), _month_end(_add_months(today, 1)))),
        ((" last month", " pichle mahine", " pichhle mahine", " previous month"),
         lambda: (_add_months(today, -1), _month_end(_add_months(today, -1)))),
        ((" this month", " is mahine", " iss mahine", " current month", " month end",
          " rest of the month"),
         lambda: (today, _month_end(today))),
        ((" tomorrow", " tmrw", " tommorow", " tomorow"),
         lambda: (today + timedelta(days=1),) * 2),
        ((" yesterday", " kal raat"), lambda: (today - timedelta(days=1),) * 2),
        ((" today", " aaj ", " abhi ", " right now", " tonight"), lambda: (today, today)),
    ]
    for keys, span in rules:
        if any(k in t for k in keys):
            lo, hi = span()
            return DateSpan(lo, hi)
    if " kal " in t:                    # kal = tomorrow, or yesterday in the past tense
        day = today - timedelta(days=1) if _PAST_TENSE.search(t) else today + timedelta(days=1)
        return DateSpan(day, day)
    return None


def _explicit(text: str, today: date) -> list[date]:
    base = datetime(today.year, today.month, today.day)
    found = []
    for m in _DAY_MONTH.finditer(text):
        chunk = m.group(0)
        if m.group(6) and int(m.group(7)) > 12 and int(m.group(6)) <= 12:
            continue                      # "12/25" is not a DD-MM date
        parsed = dateparser.parse(chunk, languages=["en"],
                                  settings={**_SETTINGS, "RELATIVE_BASE": base})
        if parsed is not None:
            found.append(parsed.date())
    return found


def find_dates(text: str, today: date) -> DateSpan | None:
    """The date or range a question names, or None."""
    explicit = _explicit(text, today)
    if len(explicit) >= 2:
        lo, hi = sorted(explicit[:2])
        return DateSpan(lo, hi)
    if len(explicit) == 1:
        return DateSpan(explicit[0], explicit[0])
    span = _phrase(text, today)
    if span is not None:
        return span
    m = _MONTH_ONLY.search(text)
    if m:
        parsed = dateparser.parse(f"1 {m.group(1)}", languages=["en"], settings={
            **_SETTINGS, "RELATIVE_BASE": datetime(today.year, today.month, 1)})
        if parsed is not None:
            first = parsed.date()
            return DateSpan(max(first, today) if first.month == today.month else first,
                            _month_end(first))
    return None
