"""Every file in the bad-upload corpus gives a typed error or a load whose counts add up
and whose quarantine reasons are the expected ones."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.ingest import errors as E
from engine.ingest.load import ingest_file

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from make_bad_uploads import EXPECTED, write_all  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("bad_uploads"))


def test_corpus_has_at_least_25_files(corpus):
    assert len(corpus) >= 25 and set(EXPECTED) <= set(corpus)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_upload_gives_typed_error_or_accounted_load(name, corpus, empty_warehouse):
    wh = empty_warehouse
    expected = EXPECTED[name]
    if expected[0] == "error":
        before = wh.count("sales")
        with pytest.raises(getattr(E, expected[1])) as info:
            ingest_file(wh, "sales", corpus[name])
        assert str(info.value) and "\n" not in str(info.value)
        assert wh.count("sales") == before
        return
    _, kind, reasons, loaded = expected
    result = ingest_file(wh, kind, corpus[name])
    assert result.rows_read == (result.rows_loaded + result.rows_quarantined
                                + result.duplicates_skipped + result.blank_lines
                                + result.total_rows)
    got = wh.query("SELECT reason_code, count(*) AS n FROM quarantine GROUP BY 1")
    assert dict(zip(got["reason_code"], got["n"])) == reasons
    assert result.rows_loaded == loaded
    assert result.rows_quarantined == sum(n for code, n in reasons.items()
                                          if code not in E.SET_ASIDE)
    assert result.blank_lines == reasons.get("blank_line", 0)
    assert result.total_rows == reasons.get("total_row", 0)
    batch = wh.query("SELECT * FROM ingest_batches WHERE batch_id = ?", [result.batch_id])
    assert batch.loc[0, "rows_loaded"] == loaded and batch.loc[0, "status"] == "loaded"


def test_quarantine_keeps_line_number_raw_values_and_sentence(corpus, empty_warehouse):
    ingest_file(empty_warehouse, "sales", corpus["text_in_numbers.csv"])
    q = empty_warehouse.query("SELECT line_no, reason, raw FROM quarantine ORDER BY line_no")
    assert q["line_no"].tolist() == [2, 3, 4]
    assert q.loc[0, "reason"] == "Column 'quantity' is not a number: 'ten'"
    assert '"quantity":"ten"' in q.loc[0, "raw"] and '"sku_id":"SKU1"' in q.loc[0, "raw"]


def test_malformed_line_keeps_its_line_number_and_text(corpus, empty_warehouse):
    r = ingest_file(empty_warehouse, "sales", corpus["ten_k_column_row.csv"])
    q = empty_warehouse.query("SELECT line_no, raw FROM quarantine")
    assert q["line_no"].tolist() == [3]
    assert q.loc[0, "raw"].count("x") == 10_000
    assert r.rows_loaded == 2


def test_excel_second_sheet_loads_with_sheet_row_numbers(corpus, empty_warehouse):
    r = ingest_file(empty_warehouse, "sales", corpus["two_sheets.xlsx"], sheet="Sales")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.blank_lines) == (4, 2, 1, 1)
    q = empty_warehouse.query("SELECT line_no, reason_code FROM quarantine ORDER BY line_no")
    assert q.values.tolist() == [[3, "blank_line"], [4, "not_numeric"]]
    assert sorted(empty_warehouse.query("SELECT pin_code FROM sales")["pin_code"]) == \
        ["400001", "560001"]


def test_unknown_sheet_names_the_sheets(corpus, empty_warehouse):
    with pytest.raises(E.SheetNotFoundError) as info:
        ingest_file(empty_warehouse, "sales", corpus["two_sheets.xlsx"], sheet="Sheet9")
    assert info.value.sheets == ["Notes", "Sales"]
    assert "'Notes', 'Sales'" in str(info.value)


def test_missing_column_error_carries_missing_and_found(corpus, empty_warehouse):
    with pytest.raises(E.MissingColumnsError) as info:
        ingest_file(empty_warehouse, "sales", corpus["missing_quantity_column.csv"])
    assert info.value.missing == ["quantity"]
    assert info.value.found == ["transaction_id", "date", "sku_id", "pin_code", "price"]


def test_injection_strings_are_stored_verbatim(corpus, empty_warehouse):
    wh = empty_warehouse
    ingest_file(wh, "sales", corpus["sql_injection.csv"])
    ingest_file(wh, "sales", corpus["formula_injection.csv"])
    skus = set(wh.query("SELECT sku_id FROM skus")["sku_id"])
    assert {"x'); DROP TABLE sales;--", "<script>alert(1)</script>",
            '=HYPERLINK("http://x","y")', "@SUM(A1)", "-2+3"} <= skus
    assert wh.count("sales") == 7 and wh.count("skus") >= 6


def test_latin1_store_names_are_read(corpus, empty_warehouse):
    ingest_file(empty_warehouse, "sales", corpus["latin1_names.csv"])
    assert set(empty_warehouse.query("SELECT store_id FROM sales")["store_id"]) == {
        "Café Bandra", "Crème Store"}


def test_thousands_separators_and_rupee_signs_are_read(corpus, empty_warehouse):
    ingest_file(empty_warehouse, "sales", corpus["thousands_separators.csv"])
    got = empty_warehouse.query("SELECT quantity, price FROM sales ORDER BY transaction_id")
    assert got["quantity"].tolist() == [1200.0, 3.0, 2.0]
    assert got["price"].tolist() == [1250.5, 105000.0, 40.0]


def test_returns_flagged_rows_are_stored_negative(corpus, empty_warehouse):
    ingest_file(empty_warehouse, "sales", corpus["negative_quantities.csv"])
    got = empty_warehouse.query("SELECT transaction_id, quantity FROM sales ORDER BY 1")
    assert got["quantity"].tolist() == [-1.0, -3.0, 4.0]


def test_weekly_file_grain_is_recorded(corpus, empty_warehouse):
    r = ingest_file(empty_warehouse, "sales", corpus["weekly_grain.csv"])
    assert r.grain == "weekly"
    assert empty_warehouse.scalar("SELECT grain FROM ingest_batches") == "weekly"
    dates = empty_warehouse.query("SELECT DISTINCT date FROM sales_daily ORDER BY 1")["date"]
    assert [d.strftime("%d-%m") for d in dates] == ["01-01", "08-01", "15-01"]


def test_in_file_repeats_keep_their_own_raw_values_after_a_malformed_line(empty_warehouse,
                                                                         tmp_path):
    # Repeats are found after staging; their raw cells must still be the row's own, even
    # when a malformed line earlier in the file shifts row positions. An exact repeat is
    # skipped as a duplicate; the same bill and SKU with other values is loaded.
    path = tmp_path / "dups.csv"
    path.write_text("transaction_id,date,sku_id,pin_code,quantity,price\n"
                    "T1,05-01-2024,SKU1,560001,1,10\n"
                    "T2,05-01-2024,SKU1,560001,1,10,extra,cells\n"
                    "T3,05-01-2024,SKU1,560001,ten,10\n"
                    "T1,05-01-2024,SKU1,560001,7,99\n"
                    "T4,05-01-2024,SKU1,560001,1,10\n"
                    "T1,05-01-2024,SKU1,560001,7,99\n"
                    " T1 ,06-01-2024,SKU1,560001,8,77\n")
    r = ingest_file(empty_warehouse, "sales", path)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.duplicates_skipped) == \
        (7, 4, 2, 1)
    q = empty_warehouse.query("SELECT line_no, reason_code, reason, raw FROM quarantine "
                              "ORDER BY line_no")
    assert q["line_no"].tolist() == [3, 4, 7]
    assert q["reason_code"].tolist() == ["malformed_line", "not_numeric", "duplicate_line"]
    assert q.loc[2, "reason"] == "Repeats line 5 exactly: skipped as a duplicate"
    assert '"quantity":"7"' in q.loc[2, "raw"] and '"price":"99"' in q.loc[2, "raw"]
    repeat = next(w for w in r.warnings if w["code"] == "repeated_item")
    assert repeat["count"] == 2 and repeat["first_line"] == 5      # lines 5 and 8
    assert sorted(empty_warehouse.query("SELECT quantity FROM sales WHERE transaction_id = "
                                        "'T1'")["quantity"]) == [1.0, 7.0, 8.0]


def test_catalog_key_repeats_keep_their_own_raw_values(empty_warehouse, tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("sku_id,name,mrp\nSKU1,Chai,120\nSKU1,Chai again,125\nSKU2,Cola,40\n")
    r = ingest_file(empty_warehouse, "catalog", path)
    assert (r.rows_loaded, r.rows_quarantined) == (2, 1)
    q = empty_warehouse.query("SELECT line_no, reason_code, raw FROM quarantine")
    assert q.values.tolist()[0][:2] == [3, "duplicate_in_file"]
    assert '"name":"Chai again"' in q.loc[0, "raw"]


def test_excel_repeated_bill_item_is_loaded_and_blank_row_counted(empty_warehouse, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["transaction_id", "date", "sku_id", "pin_code", "quantity"],
                ["T1", "05-01-2024", "SKU1", "560001", 1], [None, None, None, None, None],
                ["T1", "05-01-2024", "SKU1", "560001", 5],
                ["T1", "05-01-2024", "SKU1", "560001", 5]):
        ws.append(row)
    wb.save(tmp_path / "dups.xlsx")
    r = ingest_file(empty_warehouse, "sales", tmp_path / "dups.xlsx")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.duplicates_skipped,
            r.blank_lines) == (4, 2, 0, 1, 1)
    q = empty_warehouse.query("SELECT line_no, reason_code, reason, raw FROM quarantine "
                              "ORDER BY line_no")
    assert q[["line_no", "reason_code"]].values.tolist() == [[3, "blank_line"],
                                                              [5, "duplicate_line"]]
    assert q.loc[1, "reason"] == "Repeats row 4 exactly: skipped as a duplicate"
    assert '"quantity":"5"' in q.loc[1, "raw"]
