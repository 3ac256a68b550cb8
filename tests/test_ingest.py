"""Ingest behaviour: mapping, idempotent re-upload, rollback, sales_daily refresh, kinds,
CLI contract, and real Agmarknet-derived mandi files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.ingest.errors import MappingError, MissingColumnsError, RollbackError
from engine.ingest.load import ingest_bytes, ingest_file, preview_bytes
from engine.ingest.mapping import detect_mapping, parse_map_args
from engine.warehouse.ingest_batches import quality_figures, rollback_batch

REPO = Path(__file__).resolve().parents[1]
MANDI_DIR = Path("/work/shared/data/mandi")
HEAD = "transaction_id,date,sku_id,pin_code,quantity,price\n"


def _csv(*rows: str, head: str = HEAD) -> bytes:
    return (head + "".join(r + "\n" for r in rows)).encode()


def _invariant(r) -> bool:
    return r.rows_read == r.rows_loaded + r.rows_quarantined + r.duplicates_skipped


def test_mapping_matches_aliases_exactly_and_similar_names_with_confidence():
    m = detect_mapping("sales", ["Bill No", "Bill Date", "Item Code", "PinCode", "Units Sold",
                                 "Selling Price", "Qty Sold Remarks"])
    assert m.columns["sku_id"] == "Item Code" and m.confidence["sku_id"] == 1.0
    assert m.columns["quantity"] == "Units Sold" and m.columns["date"] == "Bill Date"
    fuzzy = detect_mapping("sales", ["sku", "pin", "date", "quantitty"])
    assert fuzzy.columns["quantity"] == "quantitty" and 0.8 <= fuzzy.confidence["quantity"] < 1


def test_mapping_reads_agmarknet_export_spellings():
    m = detect_mapping("mandi", ["State", "District", "Market", "Commodity", "Variety", "Grade",
                                 "Arrival_Date", "Min Price (Rs./Quintal)",
                                 "Max Price (Rs./Quintal)", "Modal Price (Rs./Quintal)",
                                 "Arrivals (Tonnes)"])
    assert m.columns["modal_price"] == "Modal Price (Rs./Quintal)"
    assert m.columns["arrivals_tonnes"] == "Arrivals (Tonnes)"
    assert m.columns["date"] == "Arrival_Date"


def test_mapping_override_and_bad_override():
    m = detect_mapping("sales", ["a", "b", "c", "d"],
                       parse_map_args(["a=sku_id", "b=pin_code", "c=date", "d=quantity"]))
    assert m.columns == {"sku_id": "a", "pin_code": "b", "date": "c", "quantity": "d"}
    with pytest.raises(MappingError, match="no such column"):
        detect_mapping("sales", ["a"], {"zz": "sku_id"})
    with pytest.raises(MissingColumnsError) as info:
        detect_mapping("sales", ["qty", "sku", "pin", "date"], {"qty": ""})
    assert info.value.missing == ["quantity"]


def test_ingest_quarantines_five_digit_pin_with_evidence(empty_warehouse):
    r = ingest_bytes(empty_warehouse, "sales",
                     _csv("T1,05-01-2024,SKU1,56001,1,10", "T2,05-01-2024,SKU1,560001,1,10"),
                     "pos.csv")
    issue = r.issues[0]
    assert issue["code"] == "pin_not_6_digits" and issue["first_line"] == 2
    assert issue["sentence"] == ("Column 'pin_code' has 1 value that is not a 6-digit PIN "
                                 "code, on line 2: '56001'")


def test_ingest_repairs_float_and_padded_pins_and_reports_them(empty_warehouse):
    r = ingest_bytes(empty_warehouse, "sales",
                     _csv("T1,05-01-2024,SKU1,560001.0,1,10", "T2,05-01-2024,SKU1, 110001 ,1,10"),
                     "pos.csv")
    assert r.rows_loaded == 2 and r.report["pins_repaired"] == 2
    assert sorted(empty_warehouse.query("SELECT pin_code FROM sales")["pin_code"]) == \
        ["110001", "560001"]


def test_pin_cell_that_repairs_to_nothing_is_quarantined_not_a_failed_upload(empty_warehouse):
    r = ingest_bytes(empty_warehouse, "sales",
                     _csv("T1,05-01-2024,SKU1,.0,1,10", "T2,05-01-2024,SKU1,560001,1,10"),
                     "pos.csv")
    assert (r.rows_loaded, r.rows_quarantined) == (1, 1)
    assert r.issues[0]["code"] == "pin_not_6_digits" and r.issues[0]["first_value"] == ".0"


def test_unpadded_ascii_file_is_loaded_without_trimming_and_padded_one_is_trimmed(
        empty_warehouse, tmp_path):
    from engine.ingest.readers import open_source

    plain, padded = tmp_path / "plain.csv", tmp_path / "padded.csv"
    plain.write_bytes(_csv("T1,05-01-2024,SKU1,560001,1,10", head="transaction id," + HEAD[15:]))
    padded.write_text("transaction_id,date,sku_id,pin_code,quantity,price\n"
                      "T2,05-01-2024,\u00a0SKU2 ,560001,1,10\n", encoding="utf-8")
    with open_source(plain) as src:
        assert not src.padded          # the space in the header line does not count
    with open_source(padded) as src:
        assert src.padded
    for path in (plain, padded):
        ingest_file(empty_warehouse, "sales", path)
    assert sorted(empty_warehouse.query("SELECT sku_id FROM sales")["sku_id"]) == ["SKU1", "SKU2"]


def test_reupload_same_file_loads_nothing(empty_warehouse):
    data = _csv("T1,05-01-2024,SKU1,560001,1,10", "T2,05-01-2024,SKU1,bad,1,10")
    first = ingest_bytes(empty_warehouse, "sales", data, "a.csv")
    counts = (empty_warehouse.count("sales"), empty_warehouse.count("quarantine"))
    again = ingest_bytes(empty_warehouse, "sales", data, "a_copy.csv")
    assert again.status == "duplicate_file" and again.rows_loaded == 0
    assert again.duplicates_skipped == again.rows_read == first.rows_read == 2
    assert (empty_warehouse.count("sales"), empty_warehouse.count("quarantine")) == counts


def test_same_transaction_ids_in_another_file_are_skipped(empty_warehouse):
    ingest_bytes(empty_warehouse, "sales", _csv("T1,05-01-2024,SKU1,560001,1,10"), "a.csv")
    r = ingest_bytes(empty_warehouse, "sales",
                     _csv("T1,05-01-2024,SKU1,560001,1,10", "T9,06-01-2024,SKU1,560001,2,10"),
                     "b.csv")
    assert (r.rows_loaded, r.duplicates_skipped) == (1, 1) and _invariant(r)
    assert empty_warehouse.count("sales") == 2


def test_daily_rows_already_uploaded_are_skipped(empty_warehouse):
    head = "date,sku_id,pin_code,quantity\n"
    ingest_bytes(empty_warehouse, "sales", _csv("05-01-2024,SKU1,560001,4", head=head), "d1.csv")
    r = ingest_bytes(empty_warehouse, "sales",
                     _csv("05-01-2024,SKU1,560001,4", "06-01-2024,SKU1,560001,5", head=head),
                     "d2.csv")
    assert (r.rows_loaded, r.duplicates_skipped, r.grain) == (1, 1, "daily")


def _seed_demo_row(wh):
    with wh.transaction() as cur:
        cur.execute("INSERT INTO sales (transaction_id, batch_id, sku_id, pin_code, store_id, "
                    "date, quantity, price, promo) VALUES (NULL, 'demo', 'SKU1', '560001', "
                    "NULL, DATE '2024-01-05', 10, 20, FALSE)")
        cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue, price, "
                    "regular_price, promo) VALUES ('SKU1', '560001', DATE '2024-01-05', 10, "
                    "200, 20, 20, FALSE)")
        cur.execute("INSERT INTO skus (sku_id, category) VALUES ('SKU1', 'Dairy')")


def test_sales_daily_combines_demo_and_uploaded_rows_and_rollback_restores(empty_warehouse):
    wh = empty_warehouse
    _seed_demo_row(wh)
    r = ingest_bytes(wh, "sales", _csv("T1,05-01-2024,SKU1,560001,2,30",
                                       "T2,05-01-2024,SKU1,560001,3,30",
                                       "T3,05-01-2024,SKUNEW,560001,1,5"), "pos.csv")
    day = wh.query("SELECT quantity, revenue FROM sales_daily WHERE sku_id = 'SKU1'")
    assert day.loc[0, "quantity"] == 15 and day.loc[0, "revenue"] == 200 + 150
    assert r.report["unknown_skus"] == ["SKUNEW"]
    assert wh.scalar("SELECT category FROM skus WHERE sku_id = 'SKUNEW'") == "Uncategorised"
    done = rollback_batch(wh, r.batch_id, user="test")
    assert done["rows_deleted"] == 3
    day = wh.query("SELECT * FROM sales_daily ORDER BY sku_id")
    assert day["sku_id"].tolist() == ["SKU1"] and day.loc[0, "quantity"] == 10
    assert wh.scalar("SELECT count(*) FROM skus WHERE sku_id = 'SKUNEW'") == 0
    assert wh.scalar("SELECT status FROM ingest_batches WHERE batch_id = ?",
                     [r.batch_id]) == "rolled_back"
    with pytest.raises(RollbackError):
        rollback_batch(wh, r.batch_id)
    again = ingest_bytes(wh, "sales", _csv("T1,05-01-2024,SKU1,560001,2,30",
                                           "T2,05-01-2024,SKU1,560001,3,30",
                                           "T3,05-01-2024,SKUNEW,560001,1,5"), "pos.csv")
    assert again.rows_loaded == 3          # a rolled-back file can be loaded again


def test_catalog_upsert_keeps_values_for_blank_cells_and_rollback_restores(empty_warehouse):
    wh = empty_warehouse
    _seed_demo_row(wh)
    head = "sku_id,name,category,mrp\n"
    r = ingest_bytes(wh, "catalog", _csv("SKU1,Toned Milk 1L,,60", "SKU7,Atta 5kg,Staples,250",
                                         head=head), "cat.csv")
    assert (r.rows_loaded, r.rows_quarantined) == (2, 0)
    sku1 = wh.query("SELECT * FROM skus WHERE sku_id = 'SKU1'").iloc[0]
    assert (sku1["name"], sku1["category"], sku1["mrp"]) == ("Toned Milk 1L", "Dairy", 60)
    same = ingest_bytes(wh, "catalog", _csv("SKU1,Toned Milk 1L,,60", head=head), "cat2.csv")
    assert (same.rows_loaded, same.duplicates_skipped) == (0, 1)
    rollback_batch(wh, r.batch_id)
    sku1 = wh.query("SELECT * FROM skus WHERE sku_id = 'SKU1'").iloc[0]
    assert sku1["name"] is None and sku1["category"] == "Dairy"
    assert wh.scalar("SELECT count(*) FROM skus WHERE sku_id = 'SKU7'") == 0


def test_inventory_rollback_restores_previous_snapshot(empty_warehouse):
    wh = empty_warehouse
    head = "sku_id,pin_code,on_hand,on_order\n"
    first = ingest_bytes(wh, "inventory", _csv("SKU1,560001,40,5", head=head), "inv1.csv")
    second = ingest_bytes(wh, "inventory", _csv("SKU1,560001,12,0", head=head), "inv2.csv")
    assert wh.scalar("SELECT on_hand FROM inventory") == 12
    rollback_batch(wh, second.batch_id)
    row = wh.query("SELECT on_hand, batch_id FROM inventory").iloc[0]
    assert (row["on_hand"], row["batch_id"]) == (40, first.batch_id)


def test_mandi_rows_already_in_warehouse_are_skipped(empty_warehouse):
    head = "Arrival_Date,State,Market,Commodity,Modal Price (Rs./Quintal)\n"
    a = ingest_bytes(empty_warehouse, "mandi", _csv("05/01/2024,NCT OF DELHI,Azadpur,Onion,1500",
                                                    head=head), "m1.csv")
    b = ingest_bytes(empty_warehouse, "mandi", _csv("05/01/2024,NCT OF DELHI,Azadpur,Onion,1500",
                                                    "06/01/2024,NCT OF DELHI,Azadpur,Onion,1550",
                                                    head=head), "m2.csv")
    assert (a.rows_loaded, b.rows_loaded, b.duplicates_skipped) == (1, 1, 1)
    assert set(empty_warehouse.query("SELECT state FROM mandi_prices")["state"]) == {"Delhi"}


def test_quality_report_flags_planted_outlier_and_gap(empty_warehouse):
    head = "date,sku_id,pin_code,quantity\n"
    rows = [f"{d:02d}-01-2024,SKU1,560001,{10 + d % 3}" for d in range(1, 21) if d != 9]
    rows.append("21-01-2024,SKU1,560001,400")
    r = ingest_bytes(empty_warehouse, "sales", _csv(*rows, head=head), "daily.csv")
    fig = quality_figures(empty_warehouse, r.batch_id)
    assert fig["series"].loc[0, "periods_missing"] == 1
    assert fig["outliers"]["quantity"].tolist() == [400]
    assert fig["by_pin"]["pin_code"].tolist() == ["560001"]


def test_preview_shows_mapping_and_first_rows():
    p = preview_bytes("sales", _csv("T1,05-01-2024,SKU1,560001,1,10"), "x.csv")
    assert p.mapping.columns["quantity"] == "quantity" and len(p.rows) == 1
    assert p.source["delimiter"] == ","


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=120)


def test_cli_json_counts_add_up(tmp_path):
    f = tmp_path / "s.csv"
    f.write_bytes(_csv("T1,05-01-2024,SKU1,560001,1,10", "T2,05-01-2024,SKU1,560001,ten,10"))
    out = _cli("ingest", "sales", str(f), "--json", "--warehouse", str(tmp_path / "w.duckdb"))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["rows_read"] == d["rows_loaded"] + d["rows_quarantined"] + d["duplicates_skipped"]
    assert (d["rows_loaded"], d["rows_quarantined"]) == (1, 1) and d["batch_id"]


def test_cli_unreadable_file_exits_nonzero_with_one_line(tmp_path):
    f = tmp_path / "junk.csv"
    f.write_bytes(b"\x00\x01\x02junk" * 100)
    out = _cli("ingest", "sales", str(f), "--warehouse", str(tmp_path / "w.duckdb"))
    assert out.returncode != 0
    assert out.stderr.startswith("error: ") and out.stderr.strip().count("\n") == 0


@pytest.mark.skipif(not (MANDI_DIR / "masur_dal.csv.gz").exists(),
                    reason="shared Agmarknet-derived data not present")
def test_real_agmarknet_file_loads_and_quarantines_blank_prices(empty_warehouse):
    r = ingest_file(empty_warehouse, "mandi", MANDI_DIR / "masur_dal.csv.gz")
    assert _invariant(r) and r.rows_read > 7000 and r.rows_loaded > 0.9 * r.rows_read
    codes = set(empty_warehouse.query("SELECT DISTINCT reason_code FROM quarantine")["reason_code"])
    assert codes <= {"price_not_reported", "not_numeric", "duplicate_in_file"}
    assert "Uttar Pradesh" in set(empty_warehouse.query("SELECT state FROM mandi_prices")["state"])


def test_a_row_the_database_refuses_is_a_clear_upload_error_and_keeps_nothing(
        empty_warehouse, monkeypatch):
    """A key the database refuses after validation (here: the batch id an earlier upload
    holds) is the upload's typed error naming the refusal, on either backend, and the
    warehouse keeps nothing of the file (PostgreSQL raises SQLSTATE 23505, DuckDB its
    ConstraintException)."""
    from engine.ingest import load
    from engine.ingest.errors import UnreadableFileError

    wh = empty_warehouse
    ingest_bytes(wh, "sales", _csv("T1,05-01-2024,SKU1,560001,1,10"), "a.csv")
    taken = wh.scalar("SELECT batch_id FROM ingest_batches")
    before = (wh.count("sales"), wh.count("sales_daily"), wh.count("quarantine"),
              wh.count("ingest_batches"))
    monkeypatch.setattr(load, "new_id", lambda prefix: taken)
    with pytest.raises(UnreadableFileError, match="the warehouse refused it") as err:
        ingest_bytes(wh, "sales", _csv("T2,06-01-2024,SKU2,560001,3,12", "T3,x,SKU2,560001,1,1"),
                     "b.csv")
    assert "Nothing was written" in str(err.value)
    assert (wh.count("sales"), wh.count("sales_daily"), wh.count("quarantine"),
            wh.count("ingest_batches")) == before
