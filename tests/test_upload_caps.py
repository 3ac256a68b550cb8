"""Caps on what an upload may hold (engine.ingest.limits): each one rejects the file or
quarantines the line with a sentence naming the cap and its setting - never a silent
drop. Large inputs are generated here, never stored as fixtures."""
from __future__ import annotations

import gzip
import io
import json

import pytest

from engine.ingest.errors import IngestError, UnreadableFileError
from engine.ingest.limits import MB, Limits
from engine.ingest.load import ingest_bytes, preview_bytes

HEAD = b"sku_id,pin_code,date,quantity\n"
ROW = b"SKU1,560001,05-01-2024,2\n"


def test_limits_come_from_the_environment_and_bad_values_are_named():
    got = Limits.from_env({"MICROPULSE_MAX_LINE_MB": "0.5", "MICROPULSE_MAX_ROWS": "1,000",
                           "MICROPULSE_MAX_COLUMNS": "40",
                           "MICROPULSE_MAX_DECOMPRESSED_MB": "64"})
    assert got == Limits(max_decompressed_bytes=64 * MB, max_line_bytes=MB // 2,
                         max_rows=1000, max_columns=40)
    assert Limits.from_env({}) == Limits()
    with pytest.raises(IngestError, match="MICROPULSE_MAX_ROWS must be a whole number above 0 "
                                          r"\(it is 'lots'\)"):
        Limits.from_env({"MICROPULSE_MAX_ROWS": "lots"})
    with pytest.raises(IngestError, match="MICROPULSE_MAX_LINE_MB must be a number of "
                                          "megabytes above 0 and at most 256"):
        Limits.from_env({"MICROPULSE_MAX_LINE_MB": "1000"})


def test_gzip_that_inflates_past_the_cap_is_refused(empty_warehouse, monkeypatch):
    data = gzip.compress(HEAD + ROW * 200_000)              # ~5 MB inflated, ~30 KB packed
    with pytest.raises(UnreadableFileError) as info:
        ingest_bytes(empty_warehouse, "sales", data, "bomb.csv.gz",
                     limits=Limits(max_decompressed_bytes=1 * MB))
    assert str(info.value).startswith("'bomb.csv.gz' inflates to more than 1 MB (it is ")
    assert "up to 1 MB (MICROPULSE_MAX_DECOMPRESSED_MB) once inflated" in str(info.value)
    monkeypatch.setenv("MICROPULSE_MAX_DECOMPRESSED_MB", "2")      # the same from the setting
    with pytest.raises(UnreadableFileError, match=r"2 MB \(MICROPULSE_MAX_DECOMPRESSED_MB\)"):
        preview_bytes("sales", data, "bomb.csv.gz")
    assert empty_warehouse.count("ingest_batches") == 0
    monkeypatch.setenv("MICROPULSE_MAX_DECOMPRESSED_MB", "8")
    r = ingest_bytes(empty_warehouse, "sales", data, "ok.csv.gz")
    assert r.rows_read == 200_000


def test_a_line_over_32_mib_is_quarantined_whole_with_its_number(empty_warehouse):
    """DuckDB's reader used to drop such a line without a trace (its buffer is 32 MiB)."""
    long = b"SKU9,560001,05-01-2024," + b"9" * (33 * MB) + b"\n"
    data = HEAD + ROW + b"\n" + long + ROW.replace(b"2\n", b"ten\n")
    r = ingest_bytes(empty_warehouse, "sales", data, "long.csv")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.blank_lines) == (4, 1, 2, 1)
    q = empty_warehouse.query("SELECT line_no, reason_code, reason, raw FROM quarantine "
                              "ORDER BY line_no")
    assert q[["line_no", "reason_code"]].values.tolist() == [
        [3, "blank_line"], [4, "line_too_long"], [5, "not_numeric"]]
    assert q.loc[1, "reason"] == ("The line is 33 MB long, over the 2 MB "
                                  "(MICROPULSE_MAX_LINE_MB) line cap: quarantined whole, "
                                  "not loaded")
    assert json.loads(q.loc[1, "raw"])["line"].startswith("SKU9,560001,05-01-2024,999")
    issue = next(i for i in r.issues if i["code"] == "line_too_long")
    assert issue["sentence"] == ("1 line is longer than the 2 MB (MICROPULSE_MAX_LINE_MB) "
                                 "line cap (line 4, 33 MB): quarantined whole, not "
                                 "loaded")


def test_small_gzip_inflating_to_one_huge_line(empty_warehouse):
    """A few KB that inflate to a 40 MB line: reported, never 'read 0, loaded'."""
    huge = b"x" * (40 * MB)
    r = ingest_bytes(empty_warehouse, "sales", gzip.compress(HEAD + huge + b"\n" + ROW),
                     "tiny.csv.gz")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (2, 1, 1)
    assert r.issues[0]["code"] == "line_too_long" and r.issues[0]["first_line"] == 2
    with pytest.raises(UnreadableFileError) as info:          # the header itself is huge
        ingest_bytes(empty_warehouse, "sales", gzip.compress(huge), "one_line.csv.gz")
    assert str(info.value).startswith("The header line of 'one_line.csv.gz' is 40 MB long; "
                                      "MicroPulse reads lines of up to 2 MB "
                                      "(MICROPULSE_MAX_LINE_MB).")


def test_a_million_columns_are_counted_not_guessed(empty_warehouse):
    header = ",".join(f"c{i}" for i in range(1_000_000)).encode() + b"\n"
    with pytest.raises(UnreadableFileError) as info:
        ingest_bytes(empty_warehouse, "sales", header + b"1,2\n", "wide.csv")
    assert str(info.value).startswith("'wide.csv' has 1,000,000 columns in its header (a ")
    assert "up to 1,000 (MICROPULSE_MAX_COLUMNS) columns" in str(info.value)
    header = ",".join(f"column_{i:06d}" for i in range(20_000)).encode() + b"\n"
    with pytest.raises(UnreadableFileError, match="has 20,000 columns in its header;"):
        ingest_bytes(empty_warehouse, "sales", header + b"1,2\n", "wider_than_64kb.csv")


def test_column_and_row_caps_reject_with_the_real_count(empty_warehouse):
    six = b"sku_id,pin_code,date,quantity,price,note\n" + b"SKU1,560001,05-01-2024,2,10,x\n"
    with pytest.raises(UnreadableFileError, match=r"has 6 columns in its header; MicroPulse "
                                                  r"reads files with up to 5 \(MICROPULSE_MAX"):
        ingest_bytes(empty_warehouse, "sales", six, "six.csv", limits=Limits(max_columns=5))
    with pytest.raises(UnreadableFileError) as info:
        ingest_bytes(empty_warehouse, "sales", HEAD + ROW * 11, "rows.csv",
                     limits=Limits(max_rows=10))
    assert str(info.value) == ("'rows.csv' has 11 lines after its header; MicroPulse loads "
                               "up to 10 (MICROPULSE_MAX_ROWS) rows from one file. Split the "
                               "file and upload the parts.")
    assert ingest_bytes(empty_warehouse, "sales", HEAD + ROW * 10, "ten.csv",
                        limits=Limits(max_rows=10)).rows_read == 10


def _xlsx(rows: int, cols: int) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["sku_id", "pin_code", "date", "quantity"] + [f"x{i}" for i in range(cols - 4)])
    for i in range(rows):
        ws.append(["SKU1", 560001, "05-01-2024", i + 1] + [1] * (cols - 4))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_caps(empty_warehouse):
    with pytest.raises(UnreadableFileError, match=r"has more than 5 rows; MicroPulse loads up "
                                                  r"to 5 \(MICROPULSE_MAX_ROWS\) rows"):
        ingest_bytes(empty_warehouse, "sales", _xlsx(6, 4), "rows.xlsx", limits=Limits(max_rows=5))
    with pytest.raises(UnreadableFileError, match=r"has 7 columns in use; MicroPulse reads up "
                                                  r"to 6 \(MICROPULSE_MAX_COLUMNS\)"):
        ingest_bytes(empty_warehouse, "sales", _xlsx(2, 7), "wide.xlsx",
                     limits=Limits(max_columns=6))
    with pytest.raises(UnreadableFileError, match=r"unpacks to .* MicroPulse reads workbooks "
                                                  r"of up to 1 KB"):
        ingest_bytes(empty_warehouse, "sales", _xlsx(2, 4), "zip.xlsx",
                     limits=Limits(max_decompressed_bytes=1024))
    assert ingest_bytes(empty_warehouse, "sales", _xlsx(5, 4), "ok.xlsx",
                        limits=Limits(max_rows=5)).rows_loaded == 5


def test_parquet_row_cap(empty_warehouse):
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"sku_id": ["A"] * 12, "pin_code": ["560001"] * 12,
                  "date": ["2024-01-05"] * 12, "quantity": [1] * 12}).to_parquet(buf)
    with pytest.raises(UnreadableFileError, match=r"'p.parquet' has 12 rows; MicroPulse loads "
                                                  r"up to 10 \(MICROPULSE_MAX_ROWS\)"):
        ingest_bytes(empty_warehouse, "sales", buf.getvalue(), "p.parquet",
                     limits=Limits(max_rows=10))


def test_a_zip_that_is_not_a_workbook_is_named(empty_warehouse):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("sales_march.csv", (HEAD + ROW).decode())
    with pytest.raises(UnreadableFileError) as info:
        ingest_bytes(empty_warehouse, "sales", buf.getvalue(), "sales.zip")
    assert str(info.value) == ("'sales.zip' is a zip archive, not an Excel workbook (it holds "
                               "'sales_march.csv'). Unzip it and upload the CSV, .xlsx or "
                               "Parquet file inside.")
