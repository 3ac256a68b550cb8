"""What an upload's report says beyond counts: a mix of UTF-8 and Windows-1252 named and
decoded part by part, repeated header names named, Agmarknet rows without a min or max
price loaded with the gap counted, the same bill item twice loaded as two sales,
stale-data warnings that say what old data means, and .xlsx uploads through the app's
byte path (kept extension)."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import pytest

from engine.ingest.load import (ingest_bytes, ingest_file, preview_bytes, stale_warnings,
                                upload_suffix)

HEAD = "transaction_id,date,sku_id,pin_code,quantity,price,store_id\n"


def test_mixed_utf8_and_latin1_is_named_and_each_part_decoded(empty_warehouse):
    data = (HEAD.encode() + "T1,05-01-2024,SKU1,560001,1,10,Café Bandra\n".encode("utf-8")
            + "T2,05-01-2024,SKU1,560001,1,10,Crème Store\n".encode("latin-1")
            + "T3,05-01-2024,SKU1,560001,1,10,Dosa Café\n".encode("utf-8")
            + "T4,05-01-2024,SKU1,560001,1,10,Pâtisserie\n".encode("cp1252"))
    p = preview_bytes("sales", data, "mixed.csv")
    assert p.source["encoding"] == "utf-8 + windows-1252"
    note = p.source["warnings"][0]
    assert note["code"] == "mixed_encoding"
    assert note["sentence"] == (
        "'mixed.csv' mixes two text encodings: it is UTF-8, but 2 lines hold Windows-1252 "
        "(Latin-1) characters (first: line 3, read as 'T2,05-01-2024,SKU1,560001,1,10,Crème "
        "Store'). Each part was read in its own encoding, so names such as 'Café' do not "
        "turn into 'CafÃ©'; check those lines if a name still looks wrong.")
    r = ingest_bytes(empty_warehouse, "sales", data, "mixed.csv")
    stores = set(empty_warehouse.query("SELECT store_id FROM sales")["store_id"])
    assert stores == {"Café Bandra", "Crème Store", "Dosa Café", "Pâtisserie"}
    assert any(w["code"] == "mixed_encoding" for w in r.warnings)


def test_plain_latin1_file_is_not_called_mixed(empty_warehouse):
    data = (HEAD + "T1,05-01-2024,SKU1,560001,1,10,Café Bandra\n").encode("latin-1")
    r = ingest_bytes(empty_warehouse, "sales", data, "latin1.csv")
    assert r.report["source"]["encoding"] == "cp1252"
    assert not [w for w in r.warnings if w["code"] == "mixed_encoding"]
    assert empty_warehouse.scalar("SELECT store_id FROM sales") == "Café Bandra"


def test_repeated_header_names_are_named(empty_warehouse):
    data = (b"sku_id,pin_code,date,Qty,price,qty,Qty\n"
            b"SKU1,560001,05-01-2024,2,10,3,4\n")
    r = ingest_bytes(empty_warehouse, "sales", data, "dup_headers.csv")
    warning = next(w for w in r.warnings if w["code"] == "repeated_header")
    assert warning["sentence"] == ("Columns 4, 6 and 7 are all named 'Qty': they are read as "
                                   "'Qty', 'qty_2' and 'Qty_3'. The first one feeds a field "
                                   "unless you map another by hand; check the column mapping.")
    assert r.mapping["quantity"] == "Qty" and r.ignored_columns == ["qty_2", "Qty_3"]
    assert empty_warehouse.scalar("SELECT quantity FROM sales") == 2
    p = preview_bytes("sales", data, "dup_headers.csv")
    assert p.source["warnings"] == [warning]


def test_agmarknet_row_with_modal_price_and_blank_min_or_max_is_loaded(empty_warehouse):
    data = ("State,District,Market,Commodity,Variety,Grade,Arrival_Date,Min_x0020_Price,"
            "Max_x0020_Price,Modal_x0020_Price\n"
            "Karnataka,Bangalore,Bangalore,Onion,Local,FAQ,05/01/2024,1200,1800,1500\n"
            "Karnataka,Bangalore,Bangalore,Potato,Local,FAQ,05/01/2024,800,,1000\n"
            "Karnataka,Bangalore,Bangalore,Tomato,Local,FAQ,05/01/2024,NR,NR,900\n"
            "Karnataka,Bangalore,Bangalore,Garlic,Local,FAQ,05/01/2024,,,\n"
            "Karnataka,Bangalore,Bangalore,Ginger,Local,FAQ,05/01/2024,abc,2000,1900\n").encode()
    r = ingest_bytes(empty_warehouse, "mandi", data, "agmark.csv")
    assert (r.rows_loaded, r.rows_quarantined) == (3, 2)
    got = empty_warehouse.query("SELECT commodity, min_price, max_price, modal_price FROM "
                                "mandi_prices ORDER BY commodity")
    by = got.set_index("commodity")
    assert list(by.index) == ["Onion", "Potato", "Tomato"]
    assert by.loc["Potato", "min_price"] == 800 and pd.isna(by.loc["Potato", "max_price"])
    assert pd.isna(by.loc["Tomato", "min_price"]) and by.loc["Tomato", "modal_price"] == 900
    gap = next(w for w in r.warnings if w["code"] == "price_range_missing")
    assert gap["sentence"] == ("2 rows have a modal price but a blank or 'NR' min or max "
                               "price (first: line 3): loaded with the modal price, the "
                               "missing price left blank")
    codes = set(empty_warehouse.query("SELECT reason_code FROM quarantine")["reason_code"])
    assert codes == {"price_not_reported", "not_numeric"}        # Garlic, Ginger


def test_same_item_twice_on_a_bill_is_two_sales_an_exact_repeat_is_a_duplicate(
        empty_warehouse):
    data = (HEAD + "B7,05-01-2024,SKU1,560001,1,10,S1\n"
                   "B7,05-01-2024,SKU1,560001,2,10,S1\n"
                   "B7,05-01-2024,SKU1,560001,2,10,S1\n"
                   "B8,05-01-2024,SKU1,560001,1,10,S1\n").encode()
    r = ingest_bytes(empty_warehouse, "sales", data, "bills.csv")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.duplicates_skipped) == \
        (4, 3, 0, 1)
    assert empty_warehouse.scalar("SELECT sum(quantity) FROM sales WHERE transaction_id = "
                                  "'B7'") == 3
    note = next(w for w in r.warnings if w["code"] == "repeated_item")
    assert note["sentence"] == ("1 row repeats the bill number and SKU of an earlier row "
                                "with other values (line 3, like line 2): each was "
                                "loaded as a sale of its own (one item scanned twice on a "
                                "bill is two sales)")
    again = ingest_bytes(empty_warehouse, "sales", data + b"B9,06-01-2024,SKU1,560001,1,10,S1\n",
                         "bills_again.csv")
    assert (again.rows_loaded, again.duplicates_skipped) == (1, 4)
    assert next(i for i in again.issues if i["code"] == "already_loaded")["sentence"] == (
        "3 rows are already in the warehouse from an earlier upload (the same bill number "
        "and SKU): skipped as duplicates")


def test_stale_sales_and_mandi_prices_are_named_at_upload(empty_warehouse):
    old = (HEAD + "T1,04-01-2012,SKU1,560001,1,10,S1\n").encode()
    r = ingest_bytes(empty_warehouse, "sales", old, "old.csv")
    stale = next(w for w in r.warnings if w["code"] == "stale_data")
    assert stale["sentence"].startswith("The newest sales in this file are from 04-Jan-2012, ")
    assert "Forecasts start after 04-Jan-2012, not from today" in stale["sentence"]
    fresh_day = (date.today() - timedelta(days=3)).strftime("%d-%m-%Y")
    fresh = ingest_bytes(empty_warehouse, "sales",
                         (HEAD + f"T2,{fresh_day},SKU1,560001,1,10,S1\n").encode(), "new.csv")
    assert not [w for w in fresh.warnings if w["code"] == "stale_data"]
    # Old sales after recent ones only add history.
    r2 = ingest_bytes(empty_warehouse, "sales", (HEAD + "T3,05-01-2012,SKU1,560001,1,10,S1\n")
                      .encode(), "older.csv")
    assert "They add history" in next(w for w in r2.warnings
                                      if w["code"] == "stale_data")["sentence"]
    mandi = ("Arrival_Date,State,Market,Commodity,Modal Price (Rs./Quintal)\n"
             "09/05/2021,Uttar Pradesh,Agra,Potato,1690\n").encode()
    m = ingest_bytes(empty_warehouse, "mandi", mandi, "potato.csv")
    s = next(w for w in m.warnings if w["code"] == "stale_data")["sentence"]
    assert "the newest is from 09-May-2021" in s
    assert "Sourcing ranks mandis on their prices in the last 45 days" in s
    assert "so it will rank on 2021 prices, not today's" in s


def test_stale_check_uses_the_sourcing_window():
    from engine.sourcing.ranking import RankConfig

    window = RankConfig().max_stale_days
    day = date(2026, 12, 2)
    report = {"date_max": str(day - timedelta(days=window))}
    assert stale_warnings(None, "mandi", report, "b", today=day) == []
    report = {"date_max": str(day - timedelta(days=20)), "grain": "daily"}
    assert stale_warnings(None, "sales", report, "b", today=day) == []
    assert stale_warnings(None, "plan", {"date_max": "2012-01-01"}, "b", today=day) == []


def _xlsx_bytes() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "POS"
    ws.append(["Bill No", "Bill Date", "Item Code", "Pincode", "Qty"])
    ws.append(["B1", "05-01-2024", "SKU1", 560001, 2])
    ws.append(["B2", "05-01-2024", "SKU1", 560001, "two"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["March POS.xlsx", "March POS.XLSX", "export", "pos.bin"])
def test_xlsx_through_the_app_byte_path(empty_warehouse, name):
    data = _xlsx_bytes()
    p = preview_bytes("sales", data, name)
    assert (p.source["format"], p.source["sheet"]) == ("excel", "POS")
    assert p.mapping.columns["quantity"] == "Qty" and len(p.rows) == 2
    r = ingest_bytes(empty_warehouse, "sales", data, name)
    assert (r.file_name, r.rows_loaded, r.rows_quarantined) == (name, 1, 1)
    assert r.issues[0]["sentence"] == "Column 'Qty' has 1 non-numeric value, in row 3: 'two'"


def test_upload_suffix_keeps_a_safe_extension_only():
    assert upload_suffix("March POS.XLSX") == ".xlsx"
    assert upload_suffix("prices.csv.gz") == ".csv.gz"
    assert upload_suffix("report.2024.csv") == ".2024.csv"
    assert upload_suffix("no_extension") == ""
    assert upload_suffix("../../etc/passwd") == ""
    assert upload_suffix("weird.c$v") == ""
    assert upload_suffix(None) == ""


def test_ingest_file_takes_the_users_file_name_for_a_temporary_path(empty_warehouse,
                                                                    tmp_path):
    path = tmp_path / "mp_tmp_9f2c"
    path.write_bytes(_xlsx_bytes())
    r = ingest_file(empty_warehouse, "sales", path, file_name="POS export.xlsx")
    assert r.file_name == "POS export.xlsx" and r.rows_loaded == 1


def test_plain_wording_matches_the_pandas_helpers():
    """engine/plaintext.py (the upload path imports no pandas) spells dates as textfmt."""
    from engine.plaintext import age_text, day_with_year
    from engine.textfmt import dd_mmm

    assert [age_text(d) for d in (1, 5, 14, 62, 63, 200, 731, 5445)] == [
        "1 day", "5 days", "2 weeks", "8 weeks", "2 months", "7 months", "2 years",
        "14 years 11 months"]
    for day in (date(2012, 1, 4), date(2021, 5, 9), date(2026, 12, 2)):
        assert day_with_year(day) == dd_mmm(day, with_year=True)


def test_the_upload_command_still_imports_no_pandas(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    f = tmp_path / "old.csv"
    f.write_bytes((HEAD + "T1,04-01-2012,SKU1,560001,1,10,S1\n").encode())
    code = ("import sys, runpy; sys.argv = ['engine', 'ingest', 'sales', %r, '--no-alerts', "
            "'--warehouse', %r]\ntry:\n    runpy.run_module('engine', run_name='__main__')\n"
            "except SystemExit:\n    pass\nprint('pandas' in sys.modules)"
            % (str(f), str(tmp_path / "w.duckdb")))
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert "warning: The newest sales in this file are from 04-Jan-2012" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
