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


def counted(value: int, one: str, many: str | None = None) -> str:
    """'1 competitor item', '1,20,000 competitor items': the count in Indian grouping and
    the word that agrees with it (`many` defaults to `one` + 's')."""
    return f"{indian_grouping(value)} {one if value == 1 else (many or one + 's')}"


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


# Words that read better in capitals or as a symbol in a column header.
_HEADER_WORDS = {"sku": "SKU", "pin": "PIN", "id": "ID", "mrp": "MRP", "pct": "%",
                 "inr": "₹", "rs": "₹", "po": "PO", "moq": "MOQ", "gst": "GST",
                 "wape": "WAPE", "mape": "MAPE", "smape": "sMAPE", "mase": "MASE",
                 "rmsse": "RMSSE", "fva": "FVA", "api": "API", "url": "URL", "sla": "SLA",
                 "qtl": "qtl", "km": "km", "kg": "kg", "lo": "low", "hi": "high"}
_HEADER_NAMES = {"sku_id": "SKU", "pin_code": "PIN code", "store_id": "Store",
                 "batch_id": "Batch", "run_id": "Run", "qty": "Quantity",
                 "lo": "Low (95%)", "hi": "High (95%)", "lo80": "Low (80%)",
                 "hi80": "High (80%)"}
_HEADER_UNITS = {"days": "days", "km": "km", "qtl": "qtl", "kg": "kg", "tonnes": "tonnes",
                 "litres": "litres", "hours": "hours", "seconds": "seconds", "inr": "₹"}


def title_case(name: str | None) -> str | None:
    """'ANDHRA PRADESH' -> 'Andhra Pradesh' (keeps 'and' lower case)."""
    if name is None:
        return None
    words = str(name).strip().lower().split()
    return " ".join(w if w in {"and", "of"} else w.capitalize() for w in words)


def plain_label(name) -> str:
    """A snake_case column name as a header a person reads: 'order_qty' -> 'Order qty',
    'sku_id' -> 'SKU', 'lead_time_days' -> 'Lead time (days)', 'change_pct' -> 'Change %'.
    Names that already read as words (a space or a capital letter) are left alone."""
    text = str(name)
    if text in _HEADER_NAMES:
        return _HEADER_NAMES[text]
    if not text or " " in text or text != text.lower() or "_" not in text and text.isdigit():
        return text
    words = [w for w in text.split("_") if w]
    if not words:
        return text
    unit = ""
    if len(words) > 1 and words[-1] in _HEADER_UNITS:
        unit = f" ({_HEADER_UNITS[words.pop()]})"
    out = [_HEADER_WORDS.get(w, w) for w in words]
    first = out[0]
    if first == words[0]:
        out[0] = first[:1].upper() + first[1:]
    return " ".join(out) + unit
