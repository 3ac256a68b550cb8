"""Scenario comparisons as files a manager opens: an Excel workbook with one sheet per step
(`to_excel`) and a self-contained one-page HTML summary to forward (`to_html`).

Both take a list of `ScenarioResult`s (up to three scenarios side by side; each carries its
own baseline, the same selection with nothing changed).

Excel: a Summary sheet (one row per scenario x step: baseline, scenario, change, change in
₹, why; then the selection and assumptions of every scenario beside the baseline's) and
the sheets Demand (per forecast period: baseline, scenario and their 95% bands), Pricing
(by SKU), Reorder (per line: baseline vs scenario order quantity and value, urgency,
stock-out date) and Sourcing (per commodity: need, best mandi, landed cost). Headers are
in business language; rupees and units use lakh/crore digit grouping (an Excel number
format with conditions: 12,34,567 and ₹1,23,45,678; negative amounts below a lakh show
Western grouping, which is what one number format can do); dates are real dates shown
DD-MMM-YYYY. Every text cell goes through `engine.export` (neutralised against formula
injection and typed as text), so a product called '=HYPERLINK(...)' stays text.

HTML: no external CSS, JS or fonts; every piece of user text is HTML-escaped.
"""
from __future__ import annotations

import html
import io
import math
from datetime import date, datetime

import numpy as np
import pandas as pd

from engine.export import put_cell
from engine.scenarios.model import LIMITS, Assumptions
from engine.textfmt import dd_mmm, indian_grouping, inr, pct

DATE_FMT = "DD-MMM-YYYY"
# lakh / crore grouping: 1,23,45,678 (two conditions are all one Excel format may hold)
UNITS_FMT = r"[>=10000000]##\,##\,##\,##0;[>=100000]##\,##\,##0;#,##0"
INR_FMT = r'[>=10000000]"₹"##\,##\,##\,##0;[>=100000]"₹"##\,##\,##0;"₹"#,##0'
INR2_FMT = r'[>=10000000]"₹"##\,##\,##\,##0.00;[>=100000]"₹"##\,##\,##0.00;"₹"#,##0.00'
QTL_FMT = r"[>=100000]##\,##\,##0.00;#,##0.00"
PCT_FMT = "0.0%"
POINTS_FMT = '+0.0"%";-0.0"%";0"%"'       # percentage points stored as numbers (-10 = -10%)
DEC_FMT = "0.00"
STEP_NAMES = {"demand": "Demand", "pricing": "Margin", "reorder": "Orders",
              "sourcing": "Mandi buying"}
SHEETS = ("Summary", "Demand", "Pricing", "Reorder", "Sourcing")

SUMMARY_HEADERS = ["Scenario", "Step", "Unit", "Baseline", "Scenario value", "Change",
                   "Change %", "Change in ₹", "Why"]
PRICING_COLUMNS = [  # (column, header, format)
    ("sku_id", "SKU", None), ("name", "Product", None), ("category", "Category", None),
    ("baseline_units", "Baseline units", UNITS_FMT),
    ("scenario_units", "Scenario units", UNITS_FMT),
    ("baseline_price", "Baseline selling price (₹)", INR2_FMT),
    ("scenario_price", "Scenario selling price (₹)", INR2_FMT),
    ("baseline_revenue", "Baseline revenue (₹)", INR_FMT),
    ("scenario_revenue", "Scenario revenue (₹)", INR_FMT),
    ("baseline_margin", "Baseline margin (₹)", INR_FMT),
    ("scenario_margin", "Scenario margin (₹)", INR_FMT),
    ("delta_margin", "Change in margin (₹)", INR_FMT)]
REORDER_COLUMNS = [
    ("sku_id", "SKU", None), ("name", "Product", None), ("category", "Category", None),
    ("pin_code", "PIN code", None), ("city", "City", None), ("state", "State", None),
    ("supplier", "Supplier", None), ("on_hand", "On hand (units)", UNITS_FMT),
    ("on_order", "On order (units)", UNITS_FMT),
    ("lead_time_days", "Lead time (days)", "0"),
    ("baseline_urgency", "Baseline urgency", None), ("urgency", "Scenario urgency", None),
    ("baseline_order_qty", "Baseline order qty (units)", UNITS_FMT),
    ("order_qty", "Scenario order qty (units)", UNITS_FMT),
    ("delta_order_qty", "Change in order qty (units)", UNITS_FMT),
    ("baseline_order_value", "Baseline order value (₹)", INR_FMT),
    ("order_value", "Scenario order value (₹)", INR_FMT),
    ("baseline_stockout_date", "Baseline stock-out date", DATE_FMT),
    ("stockout_date", "Scenario stock-out date", DATE_FMT),
    ("sales_at_risk", "Scenario sales at risk (₹)", INR_FMT),
    ("reason", "Why", None)]
SOURCING_COLUMNS = [
    ("commodity", "Commodity", None),
    ("baseline_demand_qtl", "Baseline demand (qtl)", QTL_FMT),
    ("scenario_demand_qtl", "Scenario demand (qtl)", QTL_FMT),
    ("baseline_order_qtl", "Baseline order need (qtl)", QTL_FMT),
    ("scenario_order_qtl", "Scenario order need (qtl)", QTL_FMT),
    ("delta_order_qtl", "Change in order need (qtl)", QTL_FMT),
    ("destination", "Deliver to", None), ("mandi", "Best mandi", None),
    ("mandi_state", "Mandi state", None),
    ("modal_price", "Modal price today (₹/qtl)", INR_FMT),
    ("scenario_modal_price", "Scenario modal price (₹/qtl)", INR_FMT),
    ("transport_per_qtl", "Transport (₹/qtl)", INR_FMT),
    ("baseline_landed", "Baseline landed cost (₹/qtl)", INR_FMT),
    ("scenario_landed", "Scenario landed cost (₹/qtl)", INR_FMT),
    ("baseline_cost", "Baseline buying cost (₹)", INR_FMT),
    ("scenario_cost", "Scenario buying cost (₹)", INR_FMT),
    ("delta_cost", "Change in buying cost (₹)", INR_FMT),
    ("skus", "Products", "0"), ("note", "Note", None)]
UNLINKED_COLUMNS = [("sku_id", "SKU", None), ("name", "Product", None),
                    ("commodity", "Commodity", None), ("link_note", "Why not costed", None)]
# the settings rows of the Summary sheet: (label, getter, format)
SELECTION_ROWS = [
    ("Categories", lambda s: ", ".join(s.categories) or "All"),
    ("SKUs", lambda s: ", ".join(s.skus) or "All"),
    ("States", lambda s: ", ".join(s.states) or "All"),
    ("Cities", lambda s: ", ".join(s.cities) or "All"),
    ("PIN codes", lambda s: ", ".join(s.pins) or "All"),
    ("From", lambda s: s.start), ("To", lambda s: s.end)]


def _label(name: str) -> str:
    lo, hi, label, unit = LIMITS[name]
    label = label[:1].upper() + label[1:]
    return f"{label} ({unit})" if unit and unit != "x" else label


ASSUMPTION_ROWS = [  # (field, label, format)
    ("price_change_pct", _label("price_change_pct"), POINTS_FMT),
    ("promo", "Promotion at the usual discount", None),
    ("plan_version", "Price / promotion plan version", "0"),
    ("demand_shock_pct", _label("demand_shock_pct"), POINTS_FMT),
    ("temp_anomaly_c", _label("temp_anomaly_c"), "+0.0;-0.0;0"),
    ("rain_anomaly_mm", _label("rain_anomaly_mm"), "+0.0;-0.0;0"),
    ("festival_intensity", "Festival intensity (1 = as usual)", DEC_FMT),
    ("lead_time_change_days", _label("lead_time_change_days"), "+0;-0;0"),
    ("service_level", "Service level", PCT_FMT),
    ("budget_inr", "Purchase budget (₹)", INR_FMT),
    ("mandi_price_shock_pct", _label("mandi_price_shock_pct"), POINTS_FMT)]


# ---- helpers -----------------------------------------------------------------------------
def _num(value):
    """A finite float, or None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _round(value, fmt):
    v = _num(value)
    if v is None:
        return None
    if fmt in (PCT_FMT,):
        return round(v, 4) + 0.0
    if fmt in (UNITS_FMT, INR_FMT, INR2_FMT, QTL_FMT, DEC_FMT, POINTS_FMT):
        return round(v, 2) + 0.0
    return v


def _names(results) -> list[str]:
    """Scenario names as shown, made unique ('Diwali', 'Diwali (2)')."""
    seen: dict[str, int] = {}
    out = []
    for r in results:
        n = r.scenario.name
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def put_value(ws, row: int, col: int, value, fmt: str | None = None):
    """One cell: text neutralised and typed as text, numbers as numbers with `fmt`, dates
    as real dates shown DD-MMM-YYYY."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, (datetime, date)) and not isinstance(value, pd.Timestamp):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        value = value.tz_convert("Asia/Kolkata").tz_localize(None) if value.tzinfo else value
    if isinstance(value, (bool, np.bool_)):
        value = "Yes" if value else "No"
    if fmt and fmt != DATE_FMT and not isinstance(value, str):
        value = _round(value, fmt)
    put_cell(cell, value, DATE_FMT)
    if fmt and isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
        cell.number_format = fmt
    return cell


def write_header(ws, row: int, headers: list[str]) -> None:
    """Bold header cells on a light fill in `row` (Excel sheets of the scenario and digest
    workbooks)."""
    from openpyxl.styles import Font, PatternFill

    fill = PatternFill("solid", fgColor="DDE7F0")
    for j, h in enumerate(headers, start=1):
        c = put_value(ws, row, j, h)
        c.font = Font(bold=True)
        c.fill = fill


def set_widths(ws, widths: dict[int, float] | None = None, default: float = 16) -> None:
    """Column widths of a sheet: `widths` by 1-based column, `default` for the rest."""
    from openpyxl.utils import get_column_letter

    for j in range(1, ws.max_column + 1):
        ws.column_dimensions[get_column_letter(j)].width = (widths or {}).get(j, default)


def put_rows(ws, start_row: int, frame: pd.DataFrame | None, columns, lead=()) -> int:
    """Rows of `frame` under the headers already written, with `lead` values (the
    scenario's name) in the first columns; returns the next free row."""
    row = start_row
    if frame is None or not len(frame):
        return row
    for rec in frame.to_dict(orient="records"):
        for j, v in enumerate(lead, start=1):
            put_value(ws, row, j, v)
        for j, (col, _h, fmt) in enumerate(columns, start=len(lead) + 1):
            put_value(ws, row, j, rec.get(col), fmt)
        row += 1
    return row


def _step_fmt(step: dict) -> str:
    return UNITS_FMT if step.get("unit") == "units" else INR_FMT


# ---- Excel -------------------------------------------------------------------------------
def _summary_sheet(ws, results, names) -> None:
    from openpyxl.styles import Alignment, Font

    versions = sorted({str(r.version) for r in results})
    runs = sorted({str(r.run_id) for r in results if r.run_id})
    put_value(ws, 1, 1, "Scenario comparison").font = Font(bold=True, size=14)
    put_value(ws, 2, 1, "Data version")
    put_value(ws, 2, 2, ", ".join(versions))
    put_value(ws, 3, 1, "Forecast run")
    put_value(ws, 3, 2, ", ".join(runs) or "—")
    put_value(ws, 4, 1, "Exported on")
    put_value(ws, 4, 2, pd.Timestamp(date.today()), DATE_FMT)
    row = 6
    write_header(ws, row, SUMMARY_HEADERS)
    row += 1
    for r, name in zip(results, names):
        for s in r.steps:
            fmt = _step_fmt(s)
            values = [(name, None), (s.get("label") or STEP_NAMES.get(s["step"]), None),
                      ("units" if s.get("unit") == "units" else "₹", None),
                      (s.get("baseline"), fmt), (s.get("scenario"), fmt),
                      (s.get("delta"), fmt), (s.get("delta_pct"), PCT_FMT),
                      (s.get("delta_inr"), INR_FMT), (s.get("reason"), None)]
            for j, (v, f) in enumerate(values, start=1):
                c = put_value(ws, row, j, v, f)
            c.alignment = Alignment(wrap_text=True, vertical="top")
            row += 1
    row += 1
    put_value(ws, row, 1, "Selection and assumptions").font = Font(bold=True, size=12)
    row += 1
    write_header(ws, row, ["Setting", "Baseline"] + names)
    row += 1
    base = Assumptions()
    for label, get in SELECTION_ROWS:
        put_value(ws, row, 1, label)
        put_value(ws, row, 2, "Same as the scenario")
        for j, r in enumerate(results, start=3):
            v = get(r.scenario.selection)
            put_value(ws, row, j, v if v is not None else "—",
                       DATE_FMT if isinstance(v, date) else None)
        row += 1
    for name, label, fmt in ASSUMPTION_ROWS:
        put_value(ws, row, 1, label)
        for j, a in enumerate([base] + [r.scenario.assumptions for r in results], start=2):
            v = getattr(a, name)
            if v is None:
                v = "No limit" if name == "budget_inr" else "None"
            put_value(ws, row, j, v, fmt)
        row += 1
    set_widths(ws, {1: 30, 2: 18, 3: 14, 9: 90})
    ws.freeze_panes = "A7"


def _demand_sheet(ws, results, names) -> None:
    grains = {r.grain for r in results}
    period = "Week ending" if grains == {"W"} else "Period" if len(grains) > 1 else "Day"
    frames = [r.demand["periods"].assign(date=lambda d: pd.to_datetime(d["date"]))
              .set_index("date") for r in results]
    dates = sorted(set().union(*[set(f.index) for f in frames])) if frames else []
    first = frames[0].reindex(dates) if frames else None
    shared = all(f.reindex(dates)[["baseline", "lo", "hi"]].fillna(-1)
                 .sub(first[["baseline", "lo", "hi"]].fillna(-1)).abs().max().max() < 1e-6
                 for f in frames)
    # (frame index, column, header)
    cols: list[tuple[int, str, str]] = []
    if shared:
        cols += [(0, "baseline", "Baseline demand (units)"), (0, "lo", "Baseline low (95%)"),
                 (0, "hi", "Baseline high (95%)")]
    for i, n in enumerate(names):
        if not shared:
            cols += [(i, "baseline", f"{n}: baseline demand (units)"),
                     (i, "lo", f"{n}: baseline low (95%)"),
                     (i, "hi", f"{n}: baseline high (95%)")]
        cols += [(i, "scenario", f"{n}: scenario demand (units)"),
                 (i, "scenario_lo", f"{n}: scenario low (95%)"),
                 (i, "scenario_hi", f"{n}: scenario high (95%)"),
                 (i, "delta", f"{n}: change (units)")]
    write_header(ws, 1, [period] + [h for _i, _c, h in cols])
    aligned = [f.reindex(dates).assign(delta=lambda d: d["scenario"] - d["baseline"])
               for f in frames]
    for k, day in enumerate(dates, start=2):
        put_value(ws, k, 1, pd.Timestamp(day), DATE_FMT)
        for j, (i, col, _h) in enumerate(cols, start=2):
            put_value(ws, k, j, aligned[i].loc[day, col], UNITS_FMT)
    row = len(dates) + 2
    put_value(ws, row, 1, "Total")
    for j, (i, col, _h) in enumerate(cols, start=2):
        put_value(ws, row, j, aligned[i][col].sum(min_count=1), UNITS_FMT)
    set_widths(ws, {1: 14}, default=22)
    ws.freeze_panes = "B2"


def _pricing_sheet(ws, results, names) -> None:
    write_header(ws, 1, ["Scenario"] + [h for _c, h, _f in PRICING_COLUMNS])
    row = 2
    for r, n in zip(results, names):
        row = put_rows(ws, row, r.pricing.get("by_sku"), PRICING_COLUMNS, lead=(n,))
    set_widths(ws, {1: 22, 3: 36})
    ws.freeze_panes = "B2"


def _reorder_sheet(ws, results, names) -> None:
    write_header(ws, 1, ["Scenario"] + [h for _c, h, _f in REORDER_COLUMNS])
    row = 2
    for r, n in zip(results, names):
        if not r.reorder.get("available") or r.reorder.get("lines") is None:
            put_value(ws, row, 1, n)
            put_value(ws, row, len(REORDER_COLUMNS) + 1,
                       r.reorder.get("note") or "No inventory to plan from.")
            row += 1
            continue
        row = put_rows(ws, row, r.reorder["lines"], REORDER_COLUMNS, lead=(n,))
    set_widths(ws, {1: 22, 3: 36, len(REORDER_COLUMNS) + 1: 90})
    ws.freeze_panes = "B2"


def _sourcing_sheet(ws, results, names) -> None:
    from openpyxl.styles import Font

    write_header(ws, 1, ["Scenario"] + [h for _c, h, _f in SOURCING_COLUMNS])
    row = 2
    for r, n in zip(results, names):
        tab = r.sourcing.get("table")
        if tab is None or not len(tab):
            put_value(ws, row, 1, n)
            put_value(ws, row, len(SOURCING_COLUMNS) + 1,
                       r.sourcing.get("note") or "Nothing to buy at mandis.")
            row += 1
            continue
        row = put_rows(ws, row, tab, SOURCING_COLUMNS, lead=(n,))
    unlinked = [(n, r.sourcing.get("unlinked")) for r, n in zip(results, names)
                if r.sourcing.get("unlinked") is not None and len(r.sourcing["unlinked"])]
    if unlinked:
        row += 1
        put_value(ws, row, 1, "Products named as a mandi commodity but not costed") \
            .font = Font(bold=True)
        row += 1
        write_header(ws, row, ["Scenario"] + [h for _c, h, _f in UNLINKED_COLUMNS])
        row += 1
        for n, frame in unlinked:
            row = put_rows(ws, row, frame, UNLINKED_COLUMNS, lead=(n,))
    set_widths(ws, {1: 22, 2: 18, 8: 22, 9: 22})
    ws.freeze_panes = "B2"


def to_excel(results: list) -> bytes:
    """The comparison workbook (see the module doc) as .xlsx bytes."""
    from openpyxl import Workbook

    if not results:
        raise ValueError("to_excel needs at least one scenario result")
    names = _names(results)
    wb = Workbook()
    sheets = {"Summary": wb.active}
    sheets["Summary"].title = "Summary"
    for title in SHEETS[1:]:
        sheets[title] = wb.create_sheet(title)
    _summary_sheet(sheets["Summary"], results, names)
    _demand_sheet(sheets["Demand"], results, names)
    _pricing_sheet(sheets["Pricing"], results, names)
    _reorder_sheet(sheets["Reorder"], results, names)
    _sourcing_sheet(sheets["Sourcing"], results, names)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---- HTML --------------------------------------------------------------------------------
def escape_html(value) -> str:
    """Text for HTML (None as ''), quotes escaped: every value the HTML reports print."""
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value, unit: str | None, signed: bool = False) -> str:
    v = _num(value)
    if v is None:
        return "—"
    if unit == "units":
        text = f"{indian_grouping(v)} units"
    elif unit == "qtl":
        text = f"{indian_grouping(v, 1)} qtl"
    else:
        text = inr(v)
    return ("+" + text) if signed and v > 0 else text


def _assumption_text(a: Assumptions) -> list[str]:
    out = []
    for name, value in a.changed().items():
        label = dict((f, lbl) for f, lbl, _ in ASSUMPTION_ROWS).get(name, name)
        if name.endswith("_pct") or name == "budget_inr":
            label = label.rsplit(" (", 1)[0]
        if name == "service_level":
            shown = f"{value:.1%}"
        elif name == "budget_inr":
            shown = inr(value)
        elif name == "promo":
            shown = "Yes" if value else "No"
        elif name.endswith("_pct"):
            shown = f"{value:+g}%"
        elif name in ("festival_intensity", "plan_version"):
            shown = f"{value:g}"
        else:
            shown = f"{value:+g}"
        out.append(f"{label}: {shown}")
    return out or ["Nothing changed (this is the baseline)."]


# The HTML reports' style sheet (scenario comparison, weekly digest).
REPORT_CSS = """
body{font-family:Arial,Helvetica,sans-serif;color:#1f2933;margin:24px;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 6px;border-bottom:2px solid
#c8d6e5;padding-bottom:3px}h3{font-size:14px;margin:14px 0 4px}
.meta{color:#52606d;font-size:12px}.flow{display:flex;align-items:stretch;gap:6px;
flex-wrap:wrap}.step{flex:1 1 200px;border:1px solid #c8d6e5;border-radius:6px;padding:8px;
background:#f7fafc}.arrow{align-self:center;font-size:20px;color:#829ab1}
.step .name{font-weight:bold;font-size:13px}.step .val{font-size:13px;margin:4px 0}
.up{color:#1e7b34}.down{color:#b42318}.why{font-size:11px;color:#52606d}
table{border-collapse:collapse;font-size:12px;margin:4px 0 8px}th,td{border:1px solid
#d9e2ec;padding:3px 6px;text-align:left;vertical-align:top}th{background:#eef3f8}
td.n{text-align:right;white-space:nowrap}ul{margin:4px 0;padding-left:18px;font-size:13px}
@media print{body{margin:8mm}.step{break-inside:avoid}}
"""


def _cls(value) -> str:
    v = _num(value)
    return "" if v is None or abs(v) < 1e-9 else ("up" if v > 0 else "down")


def _flow(r) -> str:
    boxes = []
    for s in r.steps:
        unit = "units" if s.get("unit") == "units" else "₹"
        d = s.get("delta")
        change = "—" if _num(d) is None else _fmt(d, unit, signed=True) + (
            f" ({pct(s['delta_pct'])})" if _num(s.get("delta_pct")) is not None else "")
        inr_line = ""
        if unit == "units" and _num(s.get("delta_inr")) is not None:
            inr_line = (f'<div class="val">Revenue <span class="{_cls(s["delta_inr"])}">'
                        f'{escape_html(_fmt(s["delta_inr"], "₹", signed=True))}</span></div>')
        boxes.append(
            f'<div class="step"><div class="name">{escape_html(s.get("label"))}</div>'
            f'<div class="val">{escape_html(_fmt(s.get("baseline"), unit))} &rarr; '
            f'{escape_html(_fmt(s.get("scenario"), unit))}</div>'
            f'<div class="val">Change <span class="{_cls(d)}">{escape_html(change)}</span></div>'
            f'{inr_line}<div class="why">{escape_html(s.get("reason"))}</div></div>')
    return '<div class="flow">' + '<div class="arrow">&rarr;</div>'.join(boxes) + "</div>"


def _mini_table(frame, columns, n: int = 5) -> str:
    """The first `n` rows of `frame` as an HTML table: columns = (col, header, unit)."""
    if frame is None or not len(frame):
        return ""
    head = "".join(f"<th>{escape_html(h)}</th>" for _c, h, _u in columns)
    body = []
    for rec in frame.head(n).to_dict(orient="records"):
        cells = []
        for col, _h, unit in columns:
            v = rec.get(col)
            missing = v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))
            if unit is None:
                cells.append(f"<td>{escape_html('—' if missing else v)}</td>")
            elif unit == "date":
                cells.append(f"<td>{escape_html('—' if missing else dd_mmm(v, True))}</td>")
            else:
                shown = _fmt(v, unit, signed=col.startswith("delta"))
                cells.append(f'<td class="n">{escape_html(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def to_html(results: list) -> str:
    """A one-page summary (see the module doc): for each scenario the chain Demand ->
    Margin -> Orders -> Mandi buying against the baseline, its assumptions and the SKUs,
    order lines and commodities that move most, with the data version and date."""
    if not results:
        raise ValueError("to_html needs at least one scenario result")
    names = _names(results)
    versions = ", ".join(sorted({str(r.version) for r in results}))
    runs = ", ".join(sorted({str(r.run_id) for r in results if r.run_id})) or "—"
    today = dd_mmm(date.today(), True)
    title = "Scenario comparison: " + ", ".join(names) if len(names) > 1 \
        else f"Scenario: {names[0]}"
    parts = [f"<h1>{escape_html(title)}</h1>",
             f'<div class="meta">Each scenario against its baseline (the same products, '
             f"places and dates with nothing changed). Data version {escape_html(versions)}, forecast "
             f"run {escape_html(runs)}; prepared {escape_html(today)} by MicroPulse.</div>"]
    if len(results) > 1:
        steps = [s["step"] for s in results[0].steps]
        head = "".join(f"<th>{escape_html(STEP_NAMES.get(s, s))}: change</th>" for s in steps)
        rows = []
        for r, n in zip(results, names):
            by = {s["step"]: s for s in r.steps}
            cells = ""
            for s in steps:
                d = by.get(s, {}).get("delta")
                unit = "units" if by.get(s, {}).get("unit") == "units" else "₹"
                cells += (f'<td class="n"><span class="{_cls(d)}">'
                          f"{escape_html(_fmt(d, unit, signed=True))}</span></td>")
            rows.append(f"<tr><td>{escape_html(n)}</td>{cells}</tr>")
        parts.append(f"<h2>At a glance</h2><table><tr><th>Scenario</th>{head}</tr>"
                     f"{''.join(rows)}</table>")
    for r, n in zip(results, names):
        sc = r.scenario
        parts.append(f"<h2>{escape_html(n)}</h2>")
        parts.append(f'<div class="meta">{escape_html(sc.selection.label())}'
                     + (f" · by {escape_html(sc.created_by)}" if sc.created_by else "") + "</div>")
        parts.append("<h3>Assumptions</h3><ul>"
                     + "".join(f"<li>{escape_html(t)}</li>" for t in _assumption_text(sc.assumptions))
                     + "</ul>")
        parts.append("<h3>Demand &rarr; Margin &rarr; Orders &rarr; Mandi buying</h3>")
        parts.append(_flow(r))
        skus = _mini_table(r.pricing.get("by_sku"), [
            ("name", "Product", None), ("baseline_units", "Baseline units", "units"),
            ("scenario_units", "Scenario units", "units"),
            ("delta_margin", "Change in margin", "₹")])
        if skus:
            parts.append("<h3>Products whose margin moves most</h3>" + skus)
        lines = r.reorder.get("lines") if r.reorder.get("available") else None
        tab = _mini_table(lines, [
            ("name", "Product", None), ("city", "City", None), ("urgency", "Urgency", None),
            ("baseline_order_qty", "Baseline order", "units"),
            ("order_qty", "Scenario order", "units"),
            ("order_value", "Scenario value", "₹"),
            ("stockout_date", "Stock-out", "date")])
        note = r.reorder.get("note") or "No inventory to plan from."
        parts.append("<h3>Order lines that change most</h3>" + tab if tab else
                     f'<h3>Orders</h3><div class="meta">{escape_html(note)}</div>')
        src = _mini_table(r.sourcing.get("table"), [
            ("commodity", "Commodity", None),
            ("scenario_order_qtl", "Order need", "qtl"), ("mandi", "Best mandi", None),
            ("scenario_landed", "Landed ₹/qtl", "₹"), ("scenario_cost", "Cost", "₹"),
            ("delta_cost", "Change in cost", "₹")])
        parts.append("<h3>Mandi buying</h3>" + (src or f'<div class="meta">'
                     f'{escape_html(r.sourcing.get("note") or "Nothing to buy at mandis.")}</div>'))
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape_html(title)}</title><style>{REPORT_CSS}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")


__all__ = ["to_excel", "to_html", "SHEETS", "SUMMARY_HEADERS"]
