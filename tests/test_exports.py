"""Every file MicroPulse writes goes through engine/export.py and cannot smuggle a formula
into a spreadsheet (issue 25 item 3): the app's downloads and every CLI `--out`, read back
with the `csv` module and openpyxl, including the bare-CR ('Chai\\r=cmd|...') and embedded
LF ('x\\n@SUM(A1)') tricks. Also: rounding, plain headers and DD-MMM-YYYY dates for people,
the documented columns and ISO dates for scripts."""
from __future__ import annotations

import csv
import io
import json
import re
from types import SimpleNamespace

import numpy as np
import openpyxl
import pandas as pd
import pytest

from components.tables import table_view, to_csv_bytes, to_excel_bytes
from engine.__main__ import main
from engine.export import (ExportError, csv_bytes, export_frame, neutralise_text, write_table,
                           xlsx_bytes)
from engine.textfmt import plain_label
from engine.warehouse.db import copy_warehouse

HYPERLINK = '=HYPERLINK("http://evil.example","Click for discount")'
BARE_CR = "Chai\r=cmd|' /C calc'!A0"
EMBEDDED_LF = "Masala\n@SUM(A1:A9)"
HOSTILE_TEXT = [HYPERLINK, BARE_CR, EMBEDDED_LF, "+91 98450 12345", "-2+3", "\t=1+1",
                " =1+1", "Amul Butter 100 g"]
TRIGGERS = ("=", "+", "-", "@")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _runs_as_formula(text: str) -> bool:
    """What a spreadsheet (or a reader that splits lines on any CR / LF and cells on TAB)
    would run: a piece of text starting (after spaces) with = + - @, or with a TAB / CR /
    LF. Plain numbers such as '-5.0' are numbers, not formulas."""
    if not isinstance(text, str) or not text or _is_number(text):
        return False
    if text[0] in "\t\r\n":
        return True
    return any(p.lstrip(" \u00a0").startswith(TRIGGERS) and not _is_number(p.strip())
               for p in re.split(r"[\r\n\t]", text))


def _csv_problems(raw: bytes) -> list[str]:
    """Cells of a CSV that would run, read with the csv module and with a naive reader that
    splits rows on any CR or LF and cells on commas."""
    text = raw.decode("utf-8-sig")
    bad = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row
           if _runs_as_formula(c)]
    for line in re.split(r"\r\n|\r|\n", text):
        bad += [f for f in line.split(",") if _runs_as_formula(f)]
    if b"\r" in raw:
        bad.append("a bare carriage return")
    return bad


def _xlsx_problems(raw: bytes) -> list[str]:
    book = openpyxl.load_workbook(io.BytesIO(raw))
    bad = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    bad.append(f"{cell.coordinate} is a formula")
                elif isinstance(cell.value, str) and _runs_as_formula(cell.value):
                    bad.append(f"{cell.coordinate}: {cell.value!r}")
    return bad


def _sheet(raw: bytes) -> list[list]:
    return [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(raw)).active
            .iter_rows()]


def _hostile_frame() -> pd.DataFrame:
    n = len(HOSTILE_TEXT)
    return pd.DataFrame({
        "sku_id": [f"=SKU{i}" if i % 2 else f"SKU-{i}" for i in range(n)],
        "name": HOSTILE_TEXT,
        HYPERLINK: ["x"] * n,                                      # a hostile header too
        "unit_price": [0.1 + 0.2] * (n - 1) + [-5.0],
        "order_qty": [180.0] * n,
        "daily_demand": [11.066176470588236] * n,
        "change_pct": [0.0974] * n,
        "elasticity": [-1.1745030166185677] * n,
        "stockout_date": pd.to_datetime(["2026-11-05"] * n),
        "created_at": pd.to_datetime(["2026-11-05 14:30"] * n),
        "urgent": [True, False] * (n // 2),
    })


# ---- the rule itself ------------------------------------------------------------------------
@pytest.mark.parametrize("text, safe", [
    (HYPERLINK, "'" + HYPERLINK),
    (BARE_CR, "Chai\n'=cmd|' /C calc'!A0"),                 # bare CR -> LF, next line quoted
    (EMBEDDED_LF, "Masala\n'@SUM(A1:A9)"),
    ("a\r\n+1", "a\n'+1"),
    ("\t=1+1", "'\t'=1+1"),
    (" =1+1", "' =1+1"),
    ("Buy 2 - get 1", "Buy 2 - get 1"),                     # only line starts matter
    ("Amul Butter 100 g", "Amul Butter 100 g"),
    ("Kaju\x07 Katli", "Kaju Katli"),                       # control characters dropped
])
def test_neutralise_text_quotes_every_line_that_would_run(text, safe):
    assert neutralise_text(text) == safe
    assert neutralise_text(safe) == safe                    # applying it twice changes nothing
    assert not _runs_as_formula(safe)


# ---- the app's download helpers -------------------------------------------------------------
@pytest.mark.parametrize("plain", [True, False])
def test_app_csv_download_reads_back_without_formulas(plain):
    raw = to_csv_bytes(_hostile_frame(), plain=plain)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert _csv_problems(raw) == []
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(rows) == len(HOSTILE_TEXT) + 1               # the CR did not start a new row
    header, first = rows[0], dict(zip(rows[0], rows[1]))
    if plain:
        assert header[:2] == ["SKU", "Name"] and "Order qty" in header
        assert first["Unit price"] == "0.3" and first["Order qty"] == "180"
        assert first["Daily demand"] == "11.07" and first["Change %"] == "9.7"
        assert first["Stockout date"] == "05-Nov-2026"
        assert first["Created at"] == "05-Nov-2026 14:30" and first["Urgent"] == "Yes"
    else:
        assert header[:2] == ["sku_id", "name"]
        assert first["stockout_date"] == "2026-11-05" and first["change_pct"] == "0.0974"
    assert rows[-1][header.index("Unit price" if plain else "unit_price")] == "-5.0"


@pytest.mark.parametrize("plain", [True, False])
def test_app_excel_download_holds_text_cells_not_formulas(plain):
    raw = to_excel_bytes(_hostile_frame(), plain=plain)
    assert _xlsx_problems(raw) == []
    book = openpyxl.load_workbook(io.BytesIO(raw))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    name = sheet.cell(row=2, column=header.index("Name" if plain else "name") + 1)
    assert name.value == "'" + HYPERLINK and name.data_type == "s"
    price = sheet.cell(row=2, column=header.index("Unit price" if plain else "unit_price") + 1)
    assert price.value == 0.3 and price.data_type == "n"    # numbers stay numbers
    when = sheet.cell(row=2, column=header.index("Stockout date" if plain else
                                                 "stockout_date") + 1)
    assert when.is_date and when.number_format == ("DD-MMM-YYYY" if plain else "YYYY-MM-DD")


def test_screen_table_reads_like_a_product():
    frame = pd.DataFrame({"batch_id": [20260001], "rows_read": [1234567],
                          "order_value": [1234567.891], "created_at": [pd.Timestamp("2026-11-05")],
                          "share": [0.123], "note": [None]})
    view = table_view(frame)
    assert list(view.columns) == ["Batch", "Rows read", "Order value", "Created at",
                                  "Share (%)", "Note"]
    assert view.iloc[0].tolist() == ["20260001", "12,34,567", "₹12,34,568", "05-Nov-2026",
                                     "12.3%", "—"]


def test_plain_headers():
    assert [plain_label(c) for c in ("sku_id", "pin_code", "lead_time_days", "order_qty",
                                     "mrp", "Bill Qty")] == \
        ["SKU", "PIN code", "Lead time (days)", "Order qty", "MRP", "Bill Qty"]


def test_export_frame_rounds_by_kind_and_keeps_missing_values_empty():
    out = export_frame(pd.DataFrame({"revenue": [0.1 + 0.2, np.nan], "units": [3.0, np.nan],
                                     "wape": [12.345678, 1.0]}), "machine")
    assert out["revenue"].tolist()[0] == 0.3 and pd.isna(out["revenue"].tolist()[1])
    assert str(out["units"].dtype) == "Int64" and out["units"].tolist()[0] == 3
    assert out["wape"].tolist() == [12.3457, 1.0]


def test_write_table_explains_a_bad_file_name(tmp_path):
    with pytest.raises(ExportError, match=r"use a file name ending in .csv, .xlsx or .json"):
        write_table(_hostile_frame(), tmp_path / "plan.txt")
    with pytest.raises(ExportError, match="does not exist"):
        write_table(_hostile_frame(), tmp_path / "missing" / "plan.csv")
    data = json.loads((write_table(_hostile_frame(), tmp_path / "x.json")).read_text())
    assert data[0]["name"] == HYPERLINK and data[0]["stockout_date"] == "2026-11-05"


# ---- every CLI --out ------------------------------------------------------------------------
def _read_back(path) -> list[str]:
    raw = path.read_bytes()
    return _xlsx_problems(raw) if path.suffix == ".xlsx" else _csv_problems(raw)


@pytest.fixture()
def hostile_warehouse(small_warehouse_path, tmp_path):
    """A copy of the small demo whose product names, categories, suppliers and cities carry
    the tricks."""
    from engine.warehouse.db import Warehouse

    path = tmp_path / "hostile.duckdb"
    copy_warehouse(small_warehouse_path, path)
    wh = Warehouse(path)
    cur = wh.cursor()
    skus = [r[0] for r in cur.execute("SELECT sku_id FROM skus ORDER BY sku_id").fetchall()]
    for sku, name in zip(skus, [HYPERLINK, BARE_CR, EMBEDDED_LF, "+91 98450 12345"]):
        cur.execute("UPDATE skus SET name = ?, supplier = ? WHERE sku_id = ?",
                    [name, "@Supplier\r=2+2", sku])
    cur.execute("UPDATE locations SET city = ? WHERE city = 'Mumbai'", ["-Mumbai\n=1+1"])
    wh.close()
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_price_optimize_out_cannot_carry_formulas(hostile_warehouse, tmp_path, suffix, capsys):
    out = tmp_path / f"recs{suffix}"
    assert main(["price-optimize", "--warehouse", str(hostile_warehouse), "--out", str(out),
                 "--json"]) == 0
    assert _read_back(out) == []
    if suffix == ".csv":
        recs = pd.read_csv(out)
        assert "'" + HYPERLINK in set(recs["name"])        # the text is still there, quoted
        assert recs["current_price"].map(lambda v: round(v, 2) == v).all()
    else:
        rows = _sheet(out.read_bytes())
        assert rows[0][:3] == ["SKU", "Name", "Category"]   # an Excel file is for people
        assert "'" + HYPERLINK in {r[1] for r in rows[1:]}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_reorder_out_cannot_carry_formulas(hostile_warehouse, tmp_path, suffix, capsys):
    out = tmp_path / f"plan{suffix}"
    assert main(["reorder", "--warehouse", str(hostile_warehouse), "--out", str(out),
                 "--json"]) == 0
    assert _read_back(out) == []
    if suffix == ".csv":
        plan = pd.read_csv(out, dtype={"pin_code": str})
        assert {"'@Supplier\n'=2+2"} == set(plan["supplier"].dropna()) & {"'@Supplier\n'=2+2"}
        assert plan["stockout_date"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        assert plan["order_value"].map(lambda v: round(v, 2) == v).all()
    else:
        rows = _sheet(out.read_bytes())
        assert rows[0][:2] == ["SKU", "PIN code"]


def test_elasticity_out_cannot_carry_formulas(small_warehouse_path, tmp_path, monkeypatch,
                                              capsys):
    import engine.pricing.cli as pricing_cli

    table = pd.DataFrame({c: [np.nan] * 3 for c in pricing_cli.ELASTICITY_COLUMNS})
    table["sku_id"] = ["=1+1", BARE_CR, "SKU-3"]
    table["category"] = [EMBEDDED_LF, "Dairy", "Snacks"]
    table["elasticity"] = [-1.1745030166185677, -0.5, -2.0]
    table["method"], table["sufficient"], table["note"] = "pml", True, HYPERLINK
    table["n_obs"] = 100
    monkeypatch.setattr(pricing_cli, "load_panel_inputs", lambda wh: None)
    monkeypatch.setattr(pricing_cli, "estimate_elasticities", lambda inputs, *_a, **_k: table)
    out = tmp_path / "el.csv"
    assert main(["elasticity", "--warehouse", str(small_warehouse_path), "--out", str(out),
                 "--json"]) == 0
    assert _read_back(out) == []
    back = pd.read_csv(out)
    assert list(back.columns[:3]) == ["sku_id", "elasticity", "lo"]
    assert back["elasticity"].iloc[0] == -1.1745


def _fake_forecast(hostile: bool = True):
    dates = pd.date_range("2026-12-02", periods=3, freq="D")
    fc = pd.DataFrame({"sku_id": "=1+1" if hostile else "SKU-1", "pin_code": "560001",
                       "date": dates, "forecast": [0.1 + 0.2, 2.123456, 3.0],
                       "lo": [0.0, 1.0, 2.0], "hi": [1.0, 3.0, 4.0], "model": BARE_CR})
    return SimpleNamespace(forecasts=fc, run_id="fc_test", grain="D", horizon=3,
                           cutoff=pd.Timestamp("2026-12-01"), interval_method="conformal",
                           timings={"total": 0.1}, plan_version=None, planned_rows=0,
                           backtest=None, data_gaps=[])


def test_forecast_out_cannot_carry_formulas(small_warehouse_path, tmp_path, monkeypatch, capsys):
    import engine.forecast.pipeline as pipeline

    monkeypatch.setattr(pipeline, "run_forecast",
                        lambda wh, cfg, progress, plan, backend=None: _fake_forecast())
    out = tmp_path / "fc.csv"
    assert main(["forecast", "--warehouse", str(small_warehouse_path), "--out", str(out),
                 "--json", "--quiet", "--no-alerts"]) == 0
    assert _read_back(out) == []
    back = pd.read_csv(out, dtype={"pin_code": str})
    assert list(back.columns) == ["sku_id", "pin_code", "date", "forecast", "lo", "hi", "model"]
    assert back["forecast"].tolist() == [0.3, 2.12, 3.0]
    assert back["date"].tolist() == ["2026-12-02", "2026-12-03", "2026-12-04"]
    assert back["sku_id"].iloc[0] == "'=1+1"


def test_backtest_out_cannot_carry_formulas(small_warehouse_path, tmp_path, monkeypatch, capsys):
    import engine.forecast.pipeline as pipeline

    bt = _fake_forecast().forecasts.assign(cutoff=pd.Timestamp("2026-12-01"), actual=2.0,
                                           fold=0, lo80=0.5, hi80=2.5, segment="x")
    scores = pd.DataFrame({c: [1.0] for c in ("n", "wape", "mape", "smape", "mase", "rmsse",
                                              "bias_pct", "coverage80", "coverage95",
                                              "fva_pct")}).assign(model="naive")
    by_step = pd.DataFrame({"model": ["naive"], "step": [1], "n": [3], "wape": [1.0],
                            "bias_pct": [0.0], "coverage80": [80.0], "coverage95": [95.0]})
    res = SimpleNamespace(backtest=bt, scores=scores, by_step=by_step, run_id="bt_test",
                          timings={}, config=SimpleNamespace(grain="D", folds=1, horizon=3))
    monkeypatch.setattr(pipeline, "run_backtest", lambda wh, cfg, progress, with_plan, backend: res)
    out = tmp_path / "bt.xlsx"
    assert main(["backtest", "--warehouse", str(small_warehouse_path), "--out", str(out),
                 "--json", "--quiet"]) == 0
    assert _read_back(out) == []
    rows = _sheet(out.read_bytes())
    assert "segment" not in rows[0] and "SKU" in rows[0]


@pytest.mark.parametrize("command", [["forecast"], ["backtest"], ["elasticity"],
                                     ["price-optimize"], ["reorder"]])
def test_every_out_rejects_a_bad_file_name_before_the_work(small_warehouse_path, tmp_path,
                                                           command, capsys):
    code = main([*command, "--warehouse", str(small_warehouse_path), "--out",
                 str(tmp_path / "plan.txt")])
    captured = capsys.readouterr()
    assert code in (1, 2)
    assert "use a file name ending in .csv, .xlsx or .json" in captured.out + captured.err


def test_csv_and_xlsx_bytes_agree_on_values():
    df = _hostile_frame()
    rows = list(csv.reader(io.StringIO(csv_bytes(df).decode("utf-8-sig"), newline="")))
    sheet = _sheet(xlsx_bytes(df))
    assert rows[0] == sheet[0]
    assert [r[1] for r in rows[1:]] == [r[1] for r in sheet[1:]]     # same neutralised names
