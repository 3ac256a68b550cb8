"""The weekly trends digest: what is emerging and declining (per category, brand, SKU and
PIN code), what changed in the last 4 weeks against the 4 before, and the store clusters,
as a self-contained HTML page to forward (`to_html`) and an Excel workbook (`to_excel`).

Both reuse the scenario export's cells and styles (engine/scenarios/export.py): ₹ and units
in lakh/crore grouping, real dates shown DD-MMM-YYYY, every text cell neutralised against
formula injection, every piece of user text HTML-escaped, nothing external in the HTML.
The digest is built from what the caller may see: on a PIN-scoped handle only its PINs'
sales and clusters.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from engine.intel import IntelError
from engine.intel import clusters as C
from engine.intel import trends as T
from engine.scenarios.export import (REPORT_CSS, INR_FMT, PCT_FMT, escape_html, write_header, put_value, put_rows,
                                     set_widths)
from engine.textfmt import dd_mmm, inr, pct

LEVELS = ("category", "brand", "sku", "pin_code")
TOP = 10
TREND_SHEET_COLUMNS = [  # (column, header, format)
    ("level", "Level", None), ("status", "Status", None), ("label", "Item", None),
    ("revenue", "Revenue in the window (₹)", INR_FMT),
    ("growth_yoy", "Growth vs same weeks last year", PCT_FMT),
    ("slope_pct_week", "Trend per week", PCT_FMT),
    ("q_value", "Adjusted p-value", "0.000"), ("reason", "Why", None)]
BRIDGE_COLUMNS = [("label", "Step", None), ("amount", "Amount (₹)", INR_FMT),
                  ("help", "What it means", None)]
PART_HEADERS = [("revenue_a", "First period (₹)", INR_FMT),
                ("revenue_b", "Second period (₹)", INR_FMT),
                ("change", "Change (₹)", INR_FMT),
                ("units_effect", "From units (₹)", INR_FMT),
                ("price_promo_effect", "From price & promotion (₹)", INR_FMT),
                ("new", "Newly sold (₹)", INR_FMT), ("lost", "No longer sold (₹)", INR_FMT)]
CLUSTER_COLUMNS = [("cluster_name", "Cluster", None), ("n_pins", "PIN codes", "0"),
                   ("pins_here", "Your PIN codes in it", "0"),
                   ("description", "What makes it different", None)]


@dataclass(frozen=True)
class Digest:
    end: date
    weeks: int
    trends: dict = field(repr=False)           # level -> TrendResult
    changed: T.WhatChanged = field(repr=False)
    clusters: pd.DataFrame = field(repr=False)  # cluster_summary rows (may be empty)
    cluster_note: str = ""

    def movers(self) -> pd.DataFrame:
        """Emerging and declining items of every level (top TOP each), level first."""
        parts = []
        for level, res in self.trends.items():
            for status in ("emerging", "declining"):
                parts.append(res.by_status(status, TOP).assign(
                    level=T.LEVEL_NAMES[level].capitalize() if level != "sku" else "SKU"))
        cols = [c for c, _, _ in TREND_SHEET_COLUMNS]
        return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def build_digest(wh, f, weeks: int = 26, levels=LEVELS) -> Digest:
    """The digest for the window of `weeks` weeks ending at the filter's end date."""
    res = {lv: T.trends(wh, f, T.TrendConfig(level=lv, weeks=weeks)) for lv in levels}
    changed = T.what_changed(wh, f, None)
    try:
        summary, note = C.cluster_summary(C.store_clusters(wh)), ""
    except IntelError as exc:
        summary, note = C.cluster_summary(pd.DataFrame()), exc.message
    return Digest(next(iter(res.values())).end, weeks, res, changed, summary, note)


# ---- Excel --------------------------------------------------------------------------------
def _sheet(ws, title_row: str, headers, frame, columns, start: int = 1) -> int:
    put_value(ws, start, 1, title_row)
    write_header(ws, start + 1, headers)
    return put_rows(ws, start + 2, frame, columns) + 1


def to_excel(d: Digest) -> bytes:
    """Sheets: Movers (emerging / declining per level), What changed (bridge, by SKU, by
    place), Clusters."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Movers"
    first = next(iter(d.trends.values()))
    _sheet(ws, f"Emerging and declining, {d.weeks} weeks {dd_mmm(first.start, True)} to "
               f"{dd_mmm(first.end, True)} (false-discovery rate {first.config.alpha:.0%})",
           [h for _, h, _ in TREND_SHEET_COLUMNS], d.movers(), TREND_SHEET_COLUMNS)
    set_widths(ws, {3: 34, 8: 90})
    ws = wb.create_sheet("What changed")
    row = _sheet(ws, d.changed.headline(), [h for _, h, _ in BRIDGE_COLUMNS],
                 d.changed.bridge, BRIDGE_COLUMNS)
    sku_cols = [("name", "Product", None), *PART_HEADERS]
    row = _sheet(ws, "By SKU (largest changes first)", [h for _, h, _ in sku_cols],
                 d.changed.by_sku, sku_cols, row)
    place = d.changed.place_level
    place_cols = [(place, "City" if place == "city" else "PIN code", None), *PART_HEADERS]
    _sheet(ws, "By place", [h for _, h, _ in place_cols], d.changed.by_place, place_cols, row)
    set_widths(ws, {1: 36, 3: 60})
    ws = wb.create_sheet("Clusters")
    _sheet(ws, d.cluster_note or "Store clusters (PIN codes grouped by demand mix)",
           [h for _, h, _ in CLUSTER_COLUMNS], d.clusters, CLUSTER_COLUMNS)
    set_widths(ws, {1: 36, 4: 110})
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---- HTML ---------------------------------------------------------------------------------
def _rows_html(frame: pd.DataFrame, columns) -> str:
    if frame is None or not len(frame):
        return '<div class="meta">None.</div>'
    head = "".join(f"<th>{escape_html(h)}</th>" for _, h, _ in columns)
    body = []
    for rec in frame.to_dict("records"):
        cells = []
        for col, _, fmt in columns:
            v = rec.get(col)
            missing = v is None or (isinstance(v, float) and pd.isna(v))
            if fmt == INR_FMT:
                cells.append(f'<td class="n">{escape_html("—" if missing else inr(v))}</td>')
            elif fmt == PCT_FMT:
                cells.append(f'<td class="n">{escape_html("—" if missing else pct(v))}</td>')
            elif fmt == "0.000":
                cells.append(f'<td class="n">{escape_html("—" if missing else f"{v:.3f}")}</td>')
            elif fmt == "0":
                cells.append(f'<td class="n">{escape_html("—" if missing else int(v))}</td>')
            else:
                cells.append(f"<td>{escape_html('—' if missing else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def to_html(d: Digest) -> str:
    first = next(iter(d.trends.values()))
    title = f"Weekly trends digest, week to {dd_mmm(d.end, True)}"
    parts = [f"<h1>{escape_html(title)}</h1>",
             f'<div class="meta">{d.weeks} weeks {escape_html(dd_mmm(first.start, True))} to '
             f"{escape_html(dd_mmm(first.end, True))}. A trend is called real when the Mann-Kendall "
             f"test, adjusted for the number of items tested, keeps the false-discovery rate "
             f"at {first.config.alpha:.0%}. Prepared {escape_html(dd_mmm(date.today(), True))} by "
             "MicroPulse.</div>"]
    cols = [c for c in TREND_SHEET_COLUMNS if c[0] not in ("level", "status", "q_value")]
    for level, res in d.trends.items():
        noun = T.LEVEL_NAMES[level]
        parts.append(f"<h2>By {escape_html(noun)}</h2><div class=\"meta\">{escape_html(res.summary())}</div>")
        for status in ("emerging", "declining"):
            parts.append(f"<h3>{status.capitalize()}</h3>"
                         + _rows_html(res.by_status(status, TOP), cols))
    parts.append(f"<h2>What changed</h2><div class=\"meta\">{escape_html(d.changed.headline())}</div>")
    parts.append(_rows_html(d.changed.bridge, BRIDGE_COLUMNS))
    parts.append("<h3>Products that moved most</h3>" + _rows_html(
        d.changed.by_sku.head(TOP), [("name", "Product", None), *PART_HEADERS[2:5]]))
    place = d.changed.place_level
    parts.append("<h3>Places that moved most</h3>" + _rows_html(
        d.changed.by_place.head(TOP), [(place, "Place", None), *PART_HEADERS[2:5]]))
    parts.append("<h2>Store clusters</h2>" + (
        f'<div class="meta">{escape_html(d.cluster_note)}</div>' if d.cluster_note
        else _rows_html(d.clusters, CLUSTER_COLUMNS)))
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape_html(title)}</title><style>{REPORT_CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")
