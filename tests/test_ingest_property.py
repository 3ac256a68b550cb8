"""Property: whatever a messy sales file holds, every line is accounted for (loaded,
quarantined, skipped as a duplicate, blank or a total row: each quarantine row under its
code) and the only exceptions are typed ingest errors."""
from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ingest.errors import IngestError
from engine.ingest.load import ingest_bytes
from engine.warehouse.db import Warehouse

CELLS = {
    "transaction_id": st.one_of(st.sampled_from(["T1", "T2", "T3", "", " T4 "]),
                                st.text(max_size=6)),
    "date": st.one_of(st.sampled_from(["05-01-2024", "05/01/2024", "06-Jan-24", "2024-01-07",
                                       "2099-01-01", "31-02-2024", "", "yesterday",
                                       "2024-01-08 10:00:00"]), st.text(max_size=10)),
    "sku_id": st.one_of(st.sampled_from(["SKU1", "SKU2", "=cmd", "", "x'; DROP TABLE s;--"]),
                        st.text(max_size=8)),
    "pin_code": st.one_of(st.sampled_from(["560001", "560001.0", " 110001 ", "56001", "056001",
                                           "999999", ""]), st.text(max_size=7)),
    "quantity": st.one_of(st.sampled_from(["1", "-2", "1,200", "ten", "NaN", "inf", "", "0"]),
                          st.text(max_size=5)),
    "price": st.one_of(st.sampled_from(["10", "0", "-5", "₹1,250.50", "abc", ""]),
                       st.text(max_size=5)),
}
ROW = st.fixed_dictionaries(CELLS)


@st.composite
def messy_files(draw):
    rows = draw(st.lists(ROW, min_size=0, max_size=25))
    delim = draw(st.sampled_from([",", ";", "\t", "|"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n")
    w.writerow(list(CELLS))
    for r in rows:
        w.writerow([r[c] for c in CELLS])
    text = buf.getvalue()
    if draw(st.booleans()) and rows:
        text = text[: draw(st.integers(min_value=len(text) // 2, max_value=len(text)))]
    return text.encode(encoding, errors="replace")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=messy_files())
def test_every_row_is_loaded_quarantined_or_skipped(data, tmp_path_factory):
    wh = Warehouse(tmp_path_factory.mktemp("prop") / "w.duckdb")
    try:
        before = wh.count("sales")
        try:
            r = ingest_bytes(wh, "sales", data, "messy.csv")
        except IngestError:
            assert wh.count("sales") == before
            return
        assert r.rows_read == (r.rows_loaded + r.rows_quarantined + r.duplicates_skipped
                               + r.blank_lines + r.total_rows)
        assert wh.count("sales") - before == r.rows_loaded
        got = wh.query("SELECT reason_code, count(*) AS n FROM quarantine WHERE batch_id = ? "
                       "GROUP BY 1", [r.batch_id])
        codes = dict(zip(got["reason_code"], got["n"]))
        set_aside = {"blank_line", "total_row", "duplicate_line"}
        assert sum(n for c, n in codes.items() if c not in set_aside) == r.rows_quarantined
        assert codes.get("blank_line", 0) == r.blank_lines
        assert codes.get("total_row", 0) == r.total_rows
        assert codes.get("duplicate_line", 0) <= r.duplicates_skipped
        bad_pins = wh.scalar("SELECT count(*) FROM sales WHERE NOT regexp_full_match("
                             "pin_code, '[1-9][0-9]{5}')")
        assert bad_pins == 0
    finally:
        wh.close()
