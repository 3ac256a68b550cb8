"""AppTest of the Data page: upload a file, confirm the mapping, see counts, quarantine,
history and rollback."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.warehouse.db import Warehouse

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "8_Data.py")
FILE = (b"Bill No,Bill Date,Item Code,Pincode,Qty,Rate\n"
        b"B1,05-01-2024,SKU1,560001,2,45\nB2,05-01-2024,SKU1,56001,1,45\n"
        b"B3,06-01-2024,SKU2,560001.0,ten,45\nB4,06-01-2024,=HYPERLINK(1),110001,1,45\n")


@pytest.fixture()
def page_env(tmp_path, monkeypatch):
    path = tmp_path / "page.duckdb"
    Warehouse(path).close()
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    return path


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _field_box(at, kind: str, field: str):
    """The mapping selectbox of `field` for the file on screen (keyed per chosen file:
    'map_<file token>_<kind>_<field>')."""
    pattern = re.compile(rf"map_[0-9A-Za-z]+_{kind}_{field}")
    boxes = [b for b in at.selectbox if b.key and pattern.fullmatch(b.key)]
    assert len(boxes) == 1, [b.key for b in at.selectbox]
    return boxes[0]


def test_data_page_upload_confirm_mapping_and_see_counts(page_env):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    at.file_uploader(key="ingest_file").set_value(("pos export.csv", FILE, "text/csv"))
    at.run()
    assert not at.exception
    assert _field_box(at, "sales", "quantity").value == "Qty"
    assert _field_box(at, "sales", "sku_id").value == "Item Code"
    at.button(key="ingest_load").click()
    at.run()
    assert not at.exception
    m = _metrics(at)
    assert (m["Rows read"], m["Loaded"], m["Quarantined"], m["Duplicates skipped"]) == \
        ("4", "2", "2", "0")
    texts = " ".join(t.value for t in at.text)
    assert "Column 'Pincode' has 1 value that is not a 6-digit PIN code" in texts
    assert "Column 'Qty' has 1 non-numeric value, on line 4: 'ten'" in texts
    frames = [df.value for df in at.dataframe]
    quarantine = next(f for f in frames if "reason_code" in f.columns)
    assert sorted(quarantine["reason_code"]) == ["not_numeric", "pin_not_6_digits"]
    history = next(f for f in frames if "rows_loaded" in f.columns)
    assert history["file_name"].tolist() == ["pos export.csv"]
    wh = Warehouse(page_env)
    try:
        assert "=HYPERLINK(1)" in set(wh.query("SELECT sku_id FROM sales")["sku_id"])
    finally:
        wh.close()


def test_data_page_mapping_override_and_rollback(page_env):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="ingest_file").set_value(("pos.csv", FILE, "text/csv"))
    at.run()
    _field_box(at, "sales", "price").set_value("(not used)")
    at.button(key="ingest_load").click()
    at.run()
    assert not at.exception
    at.checkbox(key="rollback_sure").check()
    at.run()
    at.button(key="rollback_go").click()
    at.run()
    assert not at.exception
    assert any("Rolled back" in s.value for s in at.success)
    wh = Warehouse(page_env)
    try:
        assert wh.count("sales") == 0
        assert "price" not in wh.scalar("SELECT mapping FROM ingest_batches")
    finally:
        wh.close()


def test_data_page_shows_sentence_for_unreadable_file(page_env):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="ingest_file").set_value(("junk.csv", b"\x00\x01junk" * 50, "text/csv"))
    at.run()
    assert not at.exception
    assert any("binary data" in e.value for e in at.error)


def test_data_page_shows_an_errors_evidence_table(page_env):
    """A file without the needed columns: the sentence, and behind it (an expander) the
    evidence the engine error carries: the fields missing and the file's columns."""
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="ingest_file").set_value(("till.csv", b"Bill No,Rate\nB1,45\n",
                                                   "text/csv"))
    at.run()
    at.button(key="ingest_load").click()
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "This sales file has no column for 'sku_id', 'pin_code', 'date', 'quantity'. The "
        "file's columns are: 'Bill No', 'Rate'. Rename the column in the file, or map it by "
        "hand (e.g. --map qty=quantity)."]
    assert "Show the 2 rows behind this" in [x.label for x in at.expander]
    evidence = next(df.value for df in at.dataframe if "Item" in df.value.columns)
    assert evidence.to_dict("records") == [
        {"Item": "missing", "Value": "sku_id, pin_code, date, quantity"},
        {"Item": "found", "Value": "Bill No, Rate"}]
    assert any("missing_columns" in c.value for c in at.caption)


PROMO_FILE = (b"Bill No,Bill Date,Item Code,Pincode,Qty,Rate,Leaflet,Display Flag,Remarks\n"
              b"B1,05-01-2024,SKU1,560001,2,45,1,yes,ok\n"
              b"B2,05-01-2024,SKU2,560001,1,45,0,no,\n")


def test_data_page_accounts_for_every_column_and_maps_a_look_alike_in_one_click(page_env):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="ingest_file").set_value(("promo.csv", PROMO_FILE, "text/csv"))
    at.run()
    assert not at.exception
    used = at.dataframe[0].value.set_index("column")
    assert used.loc["Leaflet", "used as"] == "feature"
    assert used.loc["Qty", "note"] == "matched by name"
    assert used.loc["Display Flag", "used as"] == "not used"
    assert used.loc["Display Flag", "note"] == "looks like display"
    assert any(t.value == "Not used: Remarks" for t in at.text)
    suggest = [b for b in at.button if b.label.startswith("Map ")]
    assert [b.label for b in suggest] == ["Map 'Display Flag' to display"]
    suggest[0].click()
    at.run()
    assert not at.exception
    assert _field_box(at, "sales", "display").value == "Display Flag"
    used = at.dataframe[0].value.set_index("column")
    assert (used.loc["Display Flag", "used as"], used.loc["Display Flag", "note"]) == \
        ("display", "chosen by hand")
    assert not [b for b in at.button if b.label.startswith("Map ")]
    at.button(key="ingest_load").click()
    at.run()
    assert not at.exception
    assert _metrics(at)["Loaded"] == "2"
    assert any(c.value == "Columns: 8 used, 1 not used" for c in at.caption)
    tables = [df.value for df in at.dataframe if "used as" in df.value.columns]
    assert len(tables) == 2 and tables[1]["used as"].tolist()[-3:] == \
        ["feature", "display", "not used"]
    wh = Warehouse(page_env)
    try:
        got = wh.query("SELECT sku_id, feature, display, promo FROM sales ORDER BY sku_id")
        assert got.values.tolist() == [["SKU1", 1.0, 1.0, True], ["SKU2", 0.0, 0.0, False]]
    finally:
        wh.close()


@pytest.fixture()
def demo_page_env(small_warehouse_path, tmp_path, monkeypatch):
    """The Data page on a copy of the small demo (a catalog and store locations)."""
    from tests.test_auth_support import copy_warehouse

    path = copy_warehouse(small_warehouse_path, tmp_path / "demo_page.duckdb")
    monkeypatch.setenv("MICROPULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("MICROPULSE_AUTH", "off")
    return path


def test_data_page_loads_a_plan_and_lists_its_version(demo_page_env):
    wh = Warehouse(demo_page_env)
    try:
        sku, mrp = wh.query("SELECT sku_id, mrp FROM skus WHERE mrp IS NOT NULL "
                            "ORDER BY sku_id LIMIT 1").iloc[0]
    finally:
        wh.close()
    plan = (f"Item Code,Valid From,Valid Until,Promo Price,Mechanic,Colour\n"
            f"{sku},2027-01-01,2027-01-10,{mrp - 1:g},Leaflet,red\n"
            f"{sku},2027-01-10,2027-01-01,{mrp - 1:g},Leaflet,red\n"
            f"NO-SUCH,2027-01-01,2027-01-10,5,BOGO,red\n").encode()
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert any("No price or promotion plan uploaded yet" in c.value for c in at.caption)
    at.selectbox(key="ingest_kind").set_value("plan")
    at.run()
    at.file_uploader(key="ingest_file").set_value(("promo plan.csv", plan, "text/csv"))
    at.run()
    assert not at.exception
    assert _field_box(at, "plan", "sku_id").value == "Item Code"
    assert _field_box(at, "plan", "date_to").value == "Valid Until"
    assert _field_box(at, "plan", "promo_type").value == "Mechanic"
    assert any("Needs a column for sku_id or category" in c.value for c in at.caption)
    at.button(key="ingest_load").click()
    at.run()
    assert not at.exception
    m = _metrics(at)
    assert (m["Rows read"], m["Loaded"], m["Quarantined"], m["Duplicates skipped"]) == \
        ("3", "1", "2", "0")
    texts = " ".join(t.value for t in at.text)
    assert "Stored as plan version 1." in texts
    assert "Column 'Item Code' has 1 SKU not in the catalog, on line 4: 'NO-SUCH'" in texts
    versions = next(df.value for df in at.dataframe if "Version" in df.value.columns)
    assert versions[["Version", "File", "Rows", "SKUs"]].values.tolist() == \
        [[1, "promo plan.csv", "1", "1"]]
    assert all(re.fullmatch(r"\d{2}-[A-Z][a-z]{2}-\d{4}", d) for d in versions["From"])
    quarantine = next(df.value for df in at.dataframe if "reason_code" in df.value.columns)
    assert sorted(quarantine["reason_code"]) == ["dates_reversed", "unknown_sku"]


SECOND = (b"txn_id,sale_date,sku,pin,units,selling_price,Remarks\n"
          b"T1,07-01-2024,SKU9,560001,3,20,ok\n")


def test_data_page_second_file_gets_its_own_mapping(page_env):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="ingest_file").set_value(("first.csv", FILE, "text/csv"))
    at.run()
    assert not at.exception
    assert _field_box(at, "sales", "quantity").value == "Qty"
    _field_box(at, "sales", "price").set_value("(not used)")      # a choice for file one
    at.run()
    at.button(key="ingest_load").click()
    at.run()
    assert _metrics(at)["Loaded"] == "2"
    # A different file: its own detected columns, not 'Qty' or '(not used)' left over.
    at.file_uploader(key="ingest_file").set_value(("second.csv", SECOND, "text/csv"))
    at.run()
    assert not at.exception
    got = {f: _field_box(at, "sales", f).value for f in
           ("transaction_id", "date", "sku_id", "pin_code", "quantity", "price")}
    assert got == {"transaction_id": "txn_id", "date": "sale_date", "sku_id": "sku",
                   "pin_code": "pin", "quantity": "units", "price": "selling_price"}
    assert not at.metric                          # the first file's result is gone
    # The same file chosen again starts from its detected mapping too.
    at.file_uploader(key="ingest_file").set_value(("first again.csv", FILE, "text/csv"))
    at.run()
    assert _field_box(at, "sales", "price").value == "Rate"


POS = ("Bill No,Bill Date,Item Code,Pincode,Qty,Rate\n"
       "B1,05-01-2024,SKU1,560001,2,45\n"
       "\n"
       "B2,05-01-2024,SKU1,560001,n/a,45\n"
       "B3,05-01-2024,SKU2,560001,1,45\n"
       "B3,05-01-2024,SKU2,560001,1,45\n"
       "B4,05-01-2024,SKU1,560001,1,45\n"
       "B4,05-01-2024,SKU1,560001,3,45\n"
       "\n"
       "Grand Total,,,,7,\n").encode()


def test_data_page_counts_blank_lines_and_totals_and_adds_up(page_env):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.file_uploader(key="ingest_file").set_value(("pos.csv", POS, "text/csv"))
    at.run()
    at.button(key="ingest_load").click()
    at.run()
    assert not at.exception
    m = _metrics(at)
    assert [m[k] for k in ("Rows read", "Loaded", "Quarantined", "Duplicates skipped",
                           "Blank lines", "Total rows")] == ["9", "4", "1", "1", "2", "1"]
    assert any(c.value == "9 read = 4 loaded + 1 quarantined + 1 duplicate + 2 blank + "
                          "1 total row" for c in at.caption)
    texts = [t.value for t in at.text]
    assert "• Column 'Qty' has 1 non-numeric value, on line 4: 'n/a'" in texts
    assert "• 2 blank lines (first: line 3): nothing to load, counted as blank" in texts
    assert ("• 1 total row (line 10, 'Grand Total' and sums): a footer, not data; "
            "not loaded") in texts
    assert ("• 1 line repeats an earlier line exactly (line 6 repeats line 5): "
            "skipped as a duplicate") in texts
    assert any(t.startswith("• Warning: 1 row repeats the bill number and SKU") for t in texts)
    assert any("The newest sales in this file are from 05-Jan-2024" in w.value
               for w in at.warning)
    quarantine = next(df.value for df in at.dataframe if "reason_code" in df.value.columns)
    assert sorted(zip(quarantine["line_no"], quarantine["reason_code"])) == [
        (3, "blank_line"), (4, "not_numeric"), (6, "duplicate_line"), (9, "blank_line"),
        (10, "total_row")]
    history = next(df.value for df in at.dataframe if "rows_loaded" in df.value.columns)
    assert history[["rows_read", "blank_lines", "total_rows"]].values.tolist() == [[9, 2, 1]]


def test_data_page_loads_competitor_prices_and_reports_matching(demo_page_env):
    feed = (b"Retailer,Product Name,Pincode,City,Date,Selling Price,In Stock,Shelf\n"
            b"BigBasket,Amul Butter 100gm Pack,,Delhi,2026-11-20,52,Y,A3\n"
            b"DMart,Nutella Hazelnut Spread 350 g,,Delhi,2026-11-20,349,Y,B1\n"
            b"Kirana,Amul Butter 100gm Pack,,Atlantis,2026-11-20,52,Y,C2\n")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.selectbox(key="ingest_kind").set_value("competitor")
    at.run()
    at.file_uploader(key="ingest_file").set_value(("rivals.csv", feed, "text/csv"))
    at.run()
    assert not at.exception
    assert _field_box(at, "competitor", "competitor").value == "Retailer"
    assert _field_box(at, "competitor", "item_name").value == "Product Name"
    assert any("Needs a column for item_name or item_code; pin_code or city" in c.value
               for c in at.caption)
    at.button(key="ingest_load").click()
    at.run()
    assert not at.exception
    m = _metrics(at)
    assert (m["Rows read"], m["Loaded"], m["Quarantined"]) == ("3", "2", "1")
    texts = " ".join(t.value for t in at.text)
    assert "2 competitor items:" in texts and "1 is not ours" in texts
    assert "Column 'City' has 1 city without a store location, on line 4: 'Atlantis'" in texts
