"""Every line number an upload reports is the file's own: the line a text editor shows
for a CSV (LF, CRLF or a lone CR; a record over several lines starts where its quote
opens), the Excel row number for a sheet (header row counted). Checked against planted
blank lines, total footers, repeated bill lines and bad cells, in the quarantine table,
the report's sentences, the command line and the preview."""
from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.ingest.errors import UnreadableFileError
from engine.ingest.load import ingest_bytes, ingest_file

REPO = Path(__file__).resolve().parents[1]
HEAD = "Bill No,Bill Date,Item Code,Pincode,Qty,Rate"


def _physical(data: bytes) -> list[str]:
    """The file's lines as an editor shows them (line n is item n - 1)."""
    return re.split(r"\r\n|\n|\r", data.decode("utf-8-sig", errors="replace"))


def _quarantine(wh, batch_id: str):
    return wh.query("SELECT line_no, reason_code, reason, raw FROM quarantine WHERE "
                    "batch_id = ? ORDER BY line_no", [batch_id])


def _assert_lines_match(wh, result, data: bytes) -> None:
    """Each quarantined row's raw cells are on the line it names; each blank line is blank."""
    lines = _physical(data)
    q = _quarantine(wh, result.batch_id)
    assert len(q) > 0
    for line_no, code, raw in zip(q["line_no"], q["reason_code"], q["raw"]):
        text = lines[int(line_no) - 1]
        if code == "blank_line":
            assert not text.strip(" ,\t"), (line_no, text)
            continue
        cells = json.loads(raw)
        first = cells.get("line") or cells.get("Bill No") or ""
        assert text.startswith(first.splitlines()[0].strip()), (line_no, code, first, text)


def _pos_export(n: int = 49_000, seed: int = 26) -> tuple[bytes, dict[str, list[int]]]:
    """A POS-style export with what the user-testing file had: 150 blank lines, repeated
    bill lines (exact), the same item twice on one bill with another quantity, N/A
    quantities, 5-digit PINs, a totals footer. Returns the bytes and the planted lines."""
    rng = random.Random(seed)
    lines = [HEAD]
    planted: dict[str, list[int]] = {"blank": [], "na": [], "pin5": [], "repeat": [],
                                     "second_scan": [], "total": []}
    blank_at = set(rng.sample(range(n), 150))
    for i in range(n):
        if i in blank_at:
            lines.append("")
            planted["blank"].append(len(lines))
        qty = str(rng.randint(1, 6))
        pin = "560001"
        if i % 331 == 7:
            qty = "N/A"
        if i % 977 == 11:
            pin = "56001"
        row = f"B{i // 3},{1 + i % 28:02d}-01-2024,SKU{i % 40},{pin},{qty},45"
        lines.append(row)
        if qty == "N/A":
            planted["na"].append(len(lines))
        if pin == "56001":
            planted["pin5"].append(len(lines))
        if i % 1500 == 3 and qty != "N/A" and pin != "56001":
            lines.append(row)                                   # the same line again
            planted["repeat"].append(len(lines))
        if i % 2500 == 5 and qty != "N/A" and pin != "56001":
            lines.append(f"B{i // 3},{1 + i % 28:02d}-01-2024,SKU{i % 40},{pin},9,45")
            planted["second_scan"].append(len(lines))           # same bill and item, qty 9
    lines.append("")
    planted["blank"].append(len(lines))
    lines.append("Grand Total,,,,123456,")
    planted["total"].append(len(lines))
    return ("\n".join(lines) + "\n").encode(), planted


def test_pos_export_of_49k_lines_reports_every_planted_line_where_it_is(empty_warehouse):
    data, planted = _pos_export()
    r = ingest_bytes(empty_warehouse, "sales", data, "pos_export.csv")
    assert r.rows_read == (r.rows_loaded + r.rows_quarantined + r.duplicates_skipped
                           + r.blank_lines + r.total_rows) == len(_physical(data)) - 2
    assert (r.blank_lines, r.total_rows) == (151, 1)
    assert r.duplicates_skipped == len(planted["repeat"])
    q = _quarantine(empty_warehouse, r.batch_id)
    by_code = {c: sorted(int(x) for x in q.loc[q["reason_code"] == c, "line_no"])
               for c in set(q["reason_code"])}
    assert by_code["not_numeric"] == planted["na"]
    assert by_code["pin_not_6_digits"] == planted["pin5"]
    assert by_code["blank_line"] == planted["blank"]
    assert by_code["total_row"] == planted["total"]
    assert by_code["duplicate_line"] == planted["repeat"]
    assert "missing_value" not in by_code               # the footer is not 'a blank SKU'
    assert "duplicate_in_file" not in by_code           # a second scan is a sale
    assert r.rows_quarantined == len(planted["na"]) + len(planted["pin5"])
    _assert_lines_match(empty_warehouse, r, data)
    issues = {i["code"]: i for i in r.issues}
    assert issues["not_numeric"]["first_line"] == planted["na"][0]
    assert issues["not_numeric"]["sentence"] == (
        f"Column 'Qty' has {len(planted['na'])} non-numeric values, first on line "
        f"{planted['na'][0]}: 'N/A'")
    assert issues["blank_line"]["sentence"] == (
        f"151 blank lines (first: line {planted['blank'][0]}): nothing to load, counted as "
        "blank")
    assert issues["total_row"]["sentence"] == (
        f"1 total row (line {planted['total'][0]}, 'Grand Total' and sums): a "
        "footer, not data; not loaded")
    repeat = next(w for w in r.warnings if w["code"] == "repeated_item")
    assert repeat["count"] == len(planted["second_scan"])
    assert repeat["first_line"] == planted["second_scan"][0]
    nines = empty_warehouse.scalar("SELECT count(*) FROM sales WHERE quantity = 9")
    assert nines == len(planted["second_scan"])


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_numbers_with_any_line_ending(empty_warehouse, eol):
    rows = [HEAD, "B1,05-01-2024,SKU1,560001,2,45", "", "B2,05-01-2024,SKU1,560001,ten,45",
            "   ", "B3,05-01-2024,SKU1,56001,1,45", ",,,,,", "B4,05-01-2024,SKU1,560001,1,45",
            "B4,05-01-2024,SKU1,560001,1,45", "Sub total,4", "B5,05-01-2024,SKU1,560001,1,45"]
    data = (eol.join(rows) + eol).encode()
    r = ingest_bytes(empty_warehouse, "sales", data, "pos.csv")
    got = _quarantine(empty_warehouse, r.batch_id)[["line_no", "reason_code"]].values.tolist()
    assert got == [[3, "blank_line"], [4, "not_numeric"], [5, "blank_line"],
                   [6, "pin_not_6_digits"], [7, "blank_line"], [9, "duplicate_line"],
                   [10, "total_row"]]
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.duplicates_skipped,
            r.blank_lines, r.total_rows) == (10, 3, 2, 1, 3, 1)


def test_a_record_over_several_lines_is_numbered_where_it_starts(empty_warehouse):
    rows = [HEAD + ",Note", 'B1,05-01-2024,SKU1,560001,2,45,"ground floor\nnear gate"',
            "B2,05-01-2024,SKU1,560001,ten,45,x", "",
            'B3,05-01-2024,SKU1,560001,1,45,"a\n\nb"', "B4,05-01-2024,SKU1,56001,1,45,y",
            "B5,05-01-2024,SKU1,560001,1,45,z,extra"]
    data = ("\n".join(rows) + "\n").encode()
    r = ingest_bytes(empty_warehouse, "sales", data, "notes.csv")
    got = _quarantine(empty_warehouse, r.batch_id)[["line_no", "reason_code"]].values.tolist()
    assert got == [[4, "not_numeric"], [5, "blank_line"], [9, "pin_not_6_digits"],
                   [10, "malformed_line"]]
    assert r.blank_lines == 1           # the blank line inside the quoted note is not one
    _assert_lines_match(empty_warehouse, r, data)


def test_a_quote_left_open_is_one_malformed_row_spanning_its_lines(empty_warehouse):
    rows = [HEAD, "B1,05-01-2024,SKU1,560001,2,45", 'X1,"05-01-2024,SKU1,560001,2,45',
            "B2,05-01-2024,SKU1,560001,2,45", 'X2,"05-01-2024,SKU1,560001,2,45',
            "B3,05-01-2024,SKU1,560001,ten,45"]
    data = ("\n".join(rows) + "\n").encode()
    r = ingest_bytes(empty_warehouse, "sales", data, "open_quote.csv")
    q = _quarantine(empty_warehouse, r.batch_id)
    assert q[["line_no", "reason_code"]].values.tolist() == [[3, "malformed_line"],
                                                             [6, "not_numeric"]]
    assert q.loc[0, "reason"].startswith("Lines 3-5 were read as one row (a quote opened on "
                                         "line 3 is not closed before line 5)")
    assert json.loads(q.loc[0, "raw"])["line"].count("\n") == 2      # all three lines kept
    assert r.rows_read == r.rows_loaded + r.rows_quarantined == 3


def test_a_quote_open_to_the_end_of_a_large_file_rejects_it_instead_of_guessing(
        empty_warehouse):
    rows = [HEAD] + [f"B{i},05-01-2024,SKU1,560001,1,45" for i in range(200_000)]
    rows[101] = 'X,"05-01-2024,SKU1,560001,1,45'
    with pytest.raises(UnreadableFileError) as info:
        ingest_bytes(empty_warehouse, "sales", ("\n".join(rows) + "\n").encode(), "big.csv")
    assert "a quote (\") opened on line 102 is not closed before the end of the file" in \
        str(info.value)
    assert empty_warehouse.count("sales") == 0 and empty_warehouse.count("ingest_batches") == 0


def test_transcoded_and_compressed_files_keep_their_line_numbers(empty_warehouse, tmp_path):
    rows = [HEAD, "B1,05-01-2024,Café,560001,2,45", "", "B2,05-01-2024,Crème,560001,ten,45",
            "Total,,,,2,"]
    text = "\r\n".join(rows) + "\r\n"
    for name, data in (("latin1.csv", text.encode("latin-1")),
                       ("bom.csv", b"\xef\xbb\xbf" + text.encode()),
                       ("utf16.csv", text.encode("utf-16")),
                       ("zipped.csv.gz", gzip.compress(text.encode()))):
        r = ingest_bytes(empty_warehouse, "sales", data, name)
        got = _quarantine(empty_warehouse, r.batch_id)[["line_no", "reason_code"]]
        assert got.values.tolist() == [[3, "blank_line"], [4, "not_numeric"],
                                       [5, "total_row"]], name


def _workbook(rows: list[list], start_row: int = 1) -> bytes:
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is not None:
                ws.cell(row=start_row + i, column=2 + j, value=value)   # from column B
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_reports_sheet_row_numbers_with_the_header_row_counted(empty_warehouse):
    rows = [HEAD.split(","),
            ["B1", "05-01-2024", "SKU1", 560001, 2, 45],
            [None] * 6,
            ["B2", "05-01-2024", "SKU1", 560001, "N/A", 45],
            ["B3", "05-01-2024", "SKU2", 56001, 1, 45],
            ["B4", "05-01-2024", "SKU1", 560001, 1, 45],
            ["B4", "05-01-2024", "SKU1", 560001, 1, 45],
            ["B4", "05-01-2024", "SKU1", 560001, 3, 45],
            [None] * 6,
            ["Grand Total", None, None, None, 8, 360],
            [None] * 6, [None] * 6]                     # formatting below the table
    data = _workbook(rows, start_row=3)                 # two empty rows above the header
    r = ingest_bytes(empty_warehouse, "sales", data, "pos.xlsx")
    got = _quarantine(empty_warehouse, r.batch_id)[["line_no", "reason_code", "reason"]]
    assert got[["line_no", "reason_code"]].values.tolist() == [
        [5, "blank_line"], [6, "not_numeric"], [7, "pin_not_6_digits"],
        [9, "duplicate_line"], [11, "blank_line"], [12, "total_row"]]
    assert got.loc[3, "reason"] == "Repeats row 8 exactly: skipped as a duplicate"
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.duplicates_skipped,
            r.blank_lines, r.total_rows) == (9, 3, 2, 1, 2, 1)
    sentences = [i["sentence"] for i in r.issues]
    assert "Column 'Qty' has 1 non-numeric value, in row 6: 'N/A'" in sentences
    assert "2 blank rows (first: row 5): nothing to load, counted as blank" in sentences
    assert r.columns[0]["column"] == "Bill No"          # the empty column A is not a column


def test_cli_prints_the_reconciliation_and_physical_lines(tmp_path):
    f = tmp_path / "pos.csv"
    f.write_bytes(("\n".join([HEAD, "B1,05-01-2024,SKU1,560001,2,45", "",
                              "B2,05-01-2024,SKU1,560001,ten,45", "Total,,,,2,"]) + "\n")
                  .encode())
    run = [sys.executable, "-m", "engine", "ingest", "sales", str(f), "--no-alerts",
           "--warehouse", str(tmp_path / "w.duckdb")]
    out = subprocess.run(run, cwd=REPO, text=True, capture_output=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].endswith(
        "(loaded): 4 read = 1 loaded + 1 quarantined + 0 duplicates + 1 blank + 1 total row")
    assert "  - Column 'Qty' has 1 non-numeric value, on line 4: 'ten'" in out.stdout
    again = subprocess.run(run[:-2] + ["--json", "--warehouse", str(tmp_path / "w2.duckdb")],
                           cwd=REPO, text=True, capture_output=True, timeout=180)
    d = json.loads(again.stdout)
    assert (d["rows_read"], d["blank_lines"], d["total_rows"]) == (4, 1, 1)
    assert d["reconciliation"] == ("4 read = 1 loaded + 1 quarantined + 0 duplicates + "
                                   "1 blank + 1 total row")
    assert any(", on line 4" in s for s in d["issues"])


def test_upload_file_name_on_disk_never_matters(empty_warehouse, tmp_path):
    """The API saves its upload under a name of its own; the format comes from the bytes."""
    data = _workbook([["sku_id", "pin_code", "date", "qty"], ["SKU1", 560001, "2024-01-05", 3],
                      ["SKU1", 560001, "2024-01-06", "x"]])
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    r = ingest_file(empty_warehouse, "sales", path, file_name="March POS.xlsx")
    assert (r.file_name, r.rows_loaded, r.rows_quarantined) == ("March POS.xlsx", 1, 1)
    assert _quarantine(empty_warehouse, r.batch_id)["line_no"].tolist() == [3]


def test_line_scan_agrees_with_an_editor_on_random_text_in_any_chunking(tmp_path):
    """LineScan (fed in chunks of any size), empty_lines, lines_at and drop_long_lines
    against a plain split on LF, CRLF and CR."""
    from engine.ingest.lines import LineScan, drop_long_lines, empty_lines, lines_at

    rng = random.Random(5)
    path, copy = tmp_path / "t.bin", tmp_path / "t2.bin"
    for trial in range(150):
        pieces = []
        for _ in range(rng.randint(0, 40)):
            kind = rng.random()
            line = b"" if kind < 0.15 else b"x" * rng.randint(45, 120) if kind < 0.2 \
                else b"a,b" * rng.randint(0, 5)
            pieces.append(line + rng.choice([b"\n", b"\r\n", b"\r", b"\n"]))
        data = b"".join(pieces)
        if data and rng.random() < 0.3:
            data = data[:-1]
        path.write_bytes(data)
        parts = re.split(rb"\r\n|\n|\r", data)
        n_lines = 0 if not data else len(parts) - (parts[-1] == b"")
        body = parts[:n_lines]
        want_long = [i + 1 for i, x in enumerate(body) if len(x) > 40]
        want_empty = [i + 1 for i, x in enumerate(body) if x == b"" and i > 0]
        for size in (1, 3, 7, 1 << 20):
            scan = LineScan(cap=40)
            for i in range(0, len(data), size):
                scan.feed(data[i:i + size])
            scan.finish()
            assert scan.lines == n_lines, (trial, size)
            assert sorted(lines_at(path, [x.start for x in scan.long]).values()) == want_long
            assert empty_lines(path, chunk=max(size, 4)) == want_empty, (trial, size)
        if scan.long:
            drop_long_lines(path, copy, scan.long)
            assert len(re.split(rb"\r\n|\n|\r", copy.read_bytes())) == len(parts)
            assert sorted(x.line for x in scan.long) == want_long
