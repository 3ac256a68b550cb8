"""Every input column is accounted for (mapped to a field, or ignored and named), the
promotion / regular price / cost aliases, and the extra sales columns they feed: kept in
`sales`, aggregated into `sales_daily`, validated, rolled back, and added to warehouses
made before them."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from engine.ingest.load import ingest_bytes, ingest_file
from engine.ingest.mapping import FIELDS, detect_mapping, suggest_field
from engine.warehouse.db import Warehouse
from engine.warehouse.ingest_batches import get_batch, rollback_batch
from engine.warehouse.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]
REALDEV = Path("/work/shared/data/realdev")
BASE = ["date", "sku_id", "pin_code", "quantity", "price"]


def _csv(head: str, *rows: str) -> bytes:
    return (head + "\n" + "".join(r + "\n" for r in rows)).encode()


def _daily(wh, sku: str = "SKU1") -> pd.Series:
    return wh.query("SELECT * FROM sales_daily WHERE sku_id = ? ORDER BY date", [sku]).iloc[0]


# ---- aliases -----------------------------------------------------------------------------
ALIASES = {
    "promo": ("deal", "scheme", "offer", "on_promo", "promotion"),
    "feature": ("feat", "feature", "featured", "leaflet", "circular", "flyer"),
    "display": ("display", "disp", "display_share", "end_cap"),
    "tpr": ("tpr", "tpr_only", "temporary_price_reduction", "price_cut"),
    "regular_price": ("regular_price", "base_price", "mrp", "list_price",
                      "shelf_price_regular"),
    "unit_cost": ("cost", "unit_cost", "wholesale", "wholesale_price", "cogs"),
}


@pytest.mark.parametrize("field,alias", [(f, a) for f, names in ALIASES.items() for a in names])
def test_alias_maps_to_its_field_and_price_stays_price(field, alias):
    m = detect_mapping("sales", [*BASE, alias.replace("_", " ").title()])
    assert m.columns[field] == alias.replace("_", " ").title()
    assert m.columns["price"] == "price" and m.how[field] == "exact"


def test_no_alias_is_claimed_by_two_fields_of_a_kind():
    for kind, specs in FIELDS.items():
        keys = [k for s in specs for k in (s.name, *s.aliases)]
        assert len(keys) == len(set(keys)), kind


def test_dunnhumby_and_tuna_headers_map_every_promotion_price_and_cost_column():
    dunn = detect_mapping("sales", ["date", "sku_id", "store_id", "pin_code", "quantity",
                                    "price", "promo", "feature", "display", "tpr_only",
                                    "base_price"])
    assert {f: dunn.columns[f] for f in ("price", "promo", "feature", "display", "tpr",
                                         "regular_price")} == {
        "price": "price", "promo": "promo", "feature": "feature", "display": "display",
        "tpr": "tpr_only", "regular_price": "base_price"}
    assert dunn.ignored == ()
    tuna = detect_mapping("sales", ["date", "sku_id", "store_id", "pin_code", "quantity",
                                    "price", "unit_cost", "display_share"])
    assert (tuna.columns["unit_cost"], tuna.columns["display"]) == ("unit_cost", "display_share")
    assert tuna.ignored == ()


def test_selling_price_mrp_and_cost_go_to_three_different_fields():
    m = detect_mapping("sales", ["Bill Date", "Item Code", "Pincode", "Qty", "Selling Price",
                                 "MRP", "Cost", "Deal"])
    assert (m.columns["price"], m.columns["regular_price"], m.columns["unit_cost"],
            m.columns["promo"]) == ("Selling Price", "MRP", "Cost", "Deal")


# ---- column accounting -------------------------------------------------------------------
def test_accounting_names_mapped_and_ignored_columns_and_suggests_free_look_alikes():
    m = detect_mapping("sales", ["Bill Date", "Item Code", "Pincode", "Qty", "Remarks",
                                 "Display Flag"])
    acc = {c["column"]: c for c in m.accounting()}
    assert [c["column"] for c in m.accounting()] == ["Bill Date", "Item Code", "Pincode", "Qty",
                                                     "Remarks", "Display Flag"]
    assert acc["Qty"] == {"column": "Qty", "status": "mapped", "field": "quantity",
                          "match": "exact", "confidence": 1.0, "suggested_field": None}
    assert (acc["Display Flag"]["status"], acc["Display Flag"]["suggested_field"]) == \
        ("ignored", "display")
    assert acc["Remarks"]["suggested_field"] is None and m.ignored == ("Remarks", "Display Flag")
    # A look-alike of a field another column already feeds is only listed as not used.
    assert suggest_field("sales", "Display Flag", free={"feature"}) is None


def test_a_full_mapping_spelled_out_keeps_detected_matches_and_marks_hand_changes():
    cols = ["Bill Date", "Item Code", "Pincode", "Qty", "Rate", "Notes"]
    overrides = {"Bill Date": "date", "Item Code": "sku_id", "Pincode": "pin_code",
                 "Qty": "quantity", "Rate": "", "Notes": ""}
    acc = {c["column"]: c for c in detect_mapping("sales", cols, overrides).accounting()}
    assert acc["Qty"]["match"] == "exact"
    assert (acc["Rate"]["status"], acc["Rate"]["match"], acc["Rate"]["suggested_field"]) == \
        ("ignored", "user", "price")
    assert acc["Notes"]["match"] is None


def _write(fmt: str, path: Path, frame: pd.DataFrame) -> Path:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_every_column_is_accounted_for_in_csv_excel_and_parquet(fmt, empty_warehouse, tmp_path):
    frame = pd.DataFrame({"Bill Date": ["05-01-2024", "06-01-2024"], "Item Code": ["A", "B"],
                          "Pincode": ["560001", "110001"], "Qty": ["2", "3"],
                          "Remarks": ["ok", ""], "Display Flag": ["1", "0"],
                          "Leaflet": ["yes", "no"]})
    r = ingest_file(empty_warehouse, "sales", _write(fmt, tmp_path / f"pos.{fmt}", frame))
    assert r.rows_loaded == 2
    assert [c["column"] for c in r.columns] == list(frame.columns)
    mapped = {c["column"]: c["field"] for c in r.columns if c["status"] == "mapped"}
    assert mapped == {"Bill Date": "date", "Item Code": "sku_id", "Pincode": "pin_code",
                      "Qty": "quantity", "Leaflet": "feature"}
    assert r.ignored_columns == ["Remarks", "Display Flag"]
    assert {c["column"]: c["suggested_field"] for c in r.columns
            if c["status"] == "ignored"} == {"Remarks": None, "Display Flag": "display"}
    assert get_batch(empty_warehouse, r.batch_id)["report"]["columns"] == r.columns


@pytest.mark.parametrize("kind,head,row,ignored", [
    ("catalog", "sku_id,name,category,colour", "SKU1,Milk,Dairy,white", ["colour"]),
    ("inventory", "sku_id,pin_code,on_hand,shelf", "SKU1,560001,4,A3", ["shelf"]),
    ("mandi", "Arrival_Date,Market,Commodity,Modal Price,Source",
     "05/01/2024,Azadpur,Onion,1500,agmarknet", ["Source"]),
])
def test_every_kind_names_its_ignored_columns(kind, head, row, ignored, empty_warehouse):
    r = ingest_bytes(empty_warehouse, kind, _csv(head, row), f"{kind}.csv")
    assert r.rows_loaded == 1 and r.ignored_columns == ignored
    assert len(r.columns) == len(head.split(","))


def test_duplicate_file_still_reports_its_columns(empty_warehouse):
    data = _csv("date,sku_id,pin_code,quantity,notes", "2024-01-05,A,560001,1,x")
    ingest_bytes(empty_warehouse, "sales", data, "a.csv")
    again = ingest_bytes(empty_warehouse, "sales", data, "a.csv")
    assert again.status == "duplicate_file" and again.ignored_columns == ["notes"]


# ---- the new columns in sales and sales_daily --------------------------------------------
HEAD = "transaction_id,date,sku_id,pin_code,quantity,price,base_price,unit_cost,feat,disp,tpr"


def test_extra_columns_land_in_sales_and_aggregate_into_sales_daily(empty_warehouse):
    wh = empty_warehouse
    r = ingest_bytes(wh, "sales", _csv(
        HEAD,
        "T1,2024-01-05,SKU1,560001,1,90,100,60,0,0,1",
        "T2,2024-01-05,SKU1,560001,3,80,110,70,1,0,0",
        "T3,2024-01-05,SKU1,560001,2,100,,,0,0,0",
        "T4,2024-01-06,SKU1,560001,1,90,,50,0,0,0"), "pos.csv")
    assert r.rows_loaded == 4 and r.report["promo_from"] == ["feat", "disp", "tpr"]
    sales = wh.query("SELECT transaction_id, regular_price, unit_cost, feature, display, tpr, "
                     "promo FROM sales ORDER BY transaction_id")
    assert sales.loc[0, ["regular_price", "unit_cost", "feature", "display", "tpr"]].tolist() \
        == [100, 60, 0, 0, 1]
    assert sales["promo"].tolist() == [True, True, False, False]
    days = wh.query("SELECT * FROM sales_daily ORDER BY date")
    first, second = days.iloc[0], days.iloc[1]
    assert first["regular_price"] == 110                         # max of the uploaded ones
    assert first["unit_cost"] == pytest.approx((1 * 60 + 3 * 70) / 4)  # quantity-weighted
    assert (first["feature"], first["display"], first["tpr"], first["promo"]) == (1, 0, 1, True)
    # No uploaded regular price that day: the highest non-promotion price, as before.
    assert second["regular_price"] == 90 and second["unit_cost"] == 50


def test_share_columns_are_kept_but_never_set_promo(empty_warehouse):
    wh = empty_warehouse
    r = ingest_bytes(wh, "sales", _csv("date,sku_id,pin_code,quantity,price,display_share",
                                       "2024-01-05,SKU1,560001,10,2.5,0.162",
                                       "2024-01-06,SKU1,560001,12,2.5,0",
                                       "2024-01-07,SKU1,560001,9,2.5,1"), "cheese.csv")
    assert r.rows_loaded == 3 and r.report["promo_from"] == []
    days = wh.query("SELECT display, promo FROM sales_daily ORDER BY date")
    assert days["display"].tolist() == [0.162, 0, 1] and not days["promo"].any()


def test_a_mapped_promo_column_is_not_overridden_by_flags(empty_warehouse):
    wh = empty_warehouse
    r = ingest_bytes(wh, "sales", _csv("date,sku_id,pin_code,quantity,promo,feature",
                                       "2024-01-05,SKU1,560001,10,0,1"), "p.csv")
    assert "promo_from" not in r.report
    assert wh.scalar("SELECT promo FROM sales") is False
    assert wh.scalar("SELECT feature FROM sales_daily") == 1


def test_flag_words_are_read_and_bad_flags_are_quarantined_with_reason_and_line(
        empty_warehouse):
    wh = empty_warehouse
    r = ingest_bytes(wh, "sales", _csv("date,sku_id,pin_code,quantity,feature,display",
                                       "2024-01-05,SKU1,560001,1,Yes,N",
                                       "2024-01-05,SKU2,560001,1,maybe,0",
                                       "2024-01-05,SKU3,560001,1,true, y ",
                                       "2024-01-05,SKU4,560001,1,0,1.5",
                                       "2024-01-05,SKU5,560001,1,FALSE,0.25"), "flags.csv")
    assert (r.rows_loaded, r.rows_quarantined) == (3, 2)
    q = wh.query("SELECT line_no, reason_code, reason FROM quarantine ORDER BY line_no")
    assert q["line_no"].tolist() == [3, 5]
    assert q["reason_code"].tolist() == ["bad_flag", "flag_out_of_range"]
    assert q.loc[0, "reason"] == ("Column 'feature' is not a flag (1/0, yes/no, true/false, "
                                  "Y/N) or a share between 0 and 1: 'maybe'")
    sentences = [i["sentence"] for i in r.issues]
    assert "Column 'display' has 1 value outside 0 to 1, on line 5: '1.5'" in sentences
    got = wh.query("SELECT sku_id, feature, display FROM sales ORDER BY sku_id")
    assert got.values.tolist() == [["SKU1", 1, 0], ["SKU3", 1, 1], ["SKU5", 0, 0.25]]


def test_zero_unit_cost_is_quarantined_like_a_zero_price(empty_warehouse):
    r = ingest_bytes(empty_warehouse, "sales", _csv("date,sku_id,pin_code,quantity,cogs",
                                                    "2024-01-05,SKU1,560001,1,0",
                                                    "2024-01-05,SKU2,560001,1,12"), "c.csv")
    assert (r.rows_loaded, r.issues[0]["code"], r.issues[0]["column"]) == \
        (1, "price_not_positive", "cogs")


def test_rollback_restores_sales_daily_with_the_earlier_batch_columns(empty_warehouse):
    wh = empty_warehouse
    ingest_bytes(wh, "sales", _csv(HEAD, "T1,2024-01-05,SKU1,560001,2,90,100,60,1,0,0"), "a.csv")
    before = _daily(wh).to_dict()
    second = ingest_bytes(wh, "sales", _csv(HEAD, "T2,2024-01-05,SKU1,560001,2,70,120,40,0,1,1"),
                          "b.csv")
    shared = _daily(wh)
    assert (shared["regular_price"], shared["unit_cost"], shared["display"], shared["tpr"]) == \
        (120, 50, 1, 1)
    rollback_batch(wh, second.batch_id)
    assert _daily(wh).to_dict() == before
    assert wh.count("sales") == 1


# ---- schema evolution and the command line ------------------------------------------------
@pytest.mark.duckdb_only("builds a warehouse file of an older schema with raw DuckDB; "
                         "PostgreSQL schemas are made by apply_schema")
def test_warehouse_made_before_the_new_columns_gets_them_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (transaction_id VARCHAR, batch_id VARCHAR NOT NULL, "
                "sku_id VARCHAR NOT NULL, pin_code VARCHAR NOT NULL, store_id VARCHAR, "
                "date DATE NOT NULL, quantity DOUBLE NOT NULL, price DOUBLE, "
                "promo BOOLEAN DEFAULT FALSE)")
    con.execute("CREATE TABLE sales_daily (sku_id VARCHAR NOT NULL, pin_code VARCHAR NOT NULL, "
                "date DATE NOT NULL, quantity DOUBLE NOT NULL, revenue DOUBLE NOT NULL, "
                "price DOUBLE, regular_price DOUBLE, promo BOOLEAN DEFAULT FALSE, "
                "PRIMARY KEY (sku_id, pin_code, date))")
    con.execute("INSERT INTO sales VALUES (NULL, 'demo', 'SKU1', '560001', NULL, "
                "DATE '2024-01-05', 10, 20, FALSE)")
    con.execute("INSERT INTO sales_daily VALUES ('SKU1', '560001', DATE '2024-01-05', 10, 200, "
                "20, 20, FALSE)")
    con.close()
    wh = Warehouse(path)
    try:
        assert wh.schema_version() == SCHEMA_VERSION >= 2
        cols = set(wh.query("SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = 'sales_daily'")["column_name"])
        assert {"unit_cost", "feature", "display", "tpr", "regular_price"} <= cols
        ingest_bytes(wh, "sales", _csv(HEAD, "T1,2024-01-05,SKU1,560001,2,90,100,60,1,0,0"),
                     "a.csv")
        day = _daily(wh)
        assert (day["quantity"], day["regular_price"], day["feature"]) == (12, 100, 1)
    finally:
        wh.close()
    Warehouse(path).close()          # opening again changes nothing


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=120)


def test_cli_json_and_text_summary_account_for_every_column(tmp_path):
    f = tmp_path / "s.csv"
    f.write_bytes(_csv("date,sku_id,pin_code,qty,Remarks,Display Flag",
                       "2024-01-05,A,560001,1,x,1"))
    out = _cli("ingest", "sales", str(f), "--json", "--no-alerts",
               "--warehouse", str(tmp_path / "w.duckdb"))
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["ignored_columns"] == ["Remarks", "Display Flag"]
    assert [(c["column"], c["field"]) for c in d["columns"]][:4] == [
        ("date", "date"), ("sku_id", "sku_id"), ("pin_code", "pin_code"), ("qty", "quantity")]
    text = _cli("ingest", "sales", str(f), "--no-alerts", "--map", "Remarks=",
                "--warehouse", str(tmp_path / "w2.duckdb"))
    assert "columns used (4): date -> date, sku_id -> sku_id, pin_code -> pin_code, " \
           "qty -> quantity" in text.stdout
    assert ("columns not used (2): Remarks; Display Flag (looks like display: add --map "
            "'Display Flag=display')") in text.stdout


# ---- real files (skipped when the shared data is absent) ----------------------------------
@pytest.mark.skipif(not REALDEV.exists(), reason="shared real data not present")
def test_real_files_keep_their_promotion_price_and_cost_columns(empty_warehouse):
    with gzip.open(REALDEV / "dunnhumby_dev_sales.csv.gz", "rt") as fh:
        head = fh.readline().strip().split(",")
    assert detect_mapping("sales", head).ignored == ()
    wh = empty_warehouse
    tuna = ingest_file(wh, "sales", REALDEV / "tuna_sales.csv")
    assert tuna.ignored_columns == [] and tuna.rows_loaded > 2000
    assert tuna.report["promo_from"] == []          # display_share is a share, not a flag
    got = wh.query("SELECT count(unit_cost) AS cost, max(display) AS disp, "
                   "bool_or(promo) AS promo, count(*) AS n FROM sales_daily").iloc[0]
    assert got["cost"] == got["n"] and 0 < got["disp"] <= 1 and not got["promo"]
    cheese = ingest_file(wh, "sales", REALDEV / "cheese_sales.csv")
    assert cheese.ignored_columns == [] and cheese.columns[-1]["field"] == "display"
