"""Plan uploads (planned prices and the promotion calendar): every row loaded or
quarantined with its reason, promotion-type words, versions, re-uploads, rollback, a
failing batch, Excel, PIN scoping of the reads, and the command line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.ingest.errors import MissingColumnsError
from engine.ingest.load import ingest_bytes, ingest_file
from engine.ingest.mapping import CHOICES, choice_of, detect_mapping
from engine.warehouse.db import DOMAINS, Warehouse
from engine.warehouse.ingest_batches import get_batch, rollback_batch
from engine.warehouse.plans import PLAN_COLUMNS, latest_plan_version, plan_rows, plan_versions
from engine.warehouse.scoped import ScopedWarehouse
from tests.test_auth_support import copy_warehouse

REPO = Path(__file__).resolve().parents[1]
HEAD = "SKU,Category,Pincode,City,State,Date,From,To,Offer Price,Discount %,Promo Type,Remarks"


@pytest.fixture()
def wh(small_warehouse_path, tmp_path):
    """A writable copy of the small demo: a catalog with MRPs and store locations."""
    w = Warehouse(copy_warehouse(small_warehouse_path, tmp_path / "plan.duckdb"))
    yield w
    w.close()


def _sku(wh, n: int = 0) -> tuple[str, float]:
    row = wh.query("SELECT sku_id, mrp FROM skus WHERE mrp IS NOT NULL ORDER BY sku_id "
                   "LIMIT 1 OFFSET ?", [n]).iloc[0]
    return row["sku_id"], float(row["mrp"])


def _csv(*lines: str, head: str = HEAD) -> bytes:
    return (head + "\n" + "".join(line + "\n" for line in lines)).encode()


def _corpus(wh) -> tuple[bytes, dict[int, str], list[int]]:
    """The corpus file, the reason expected on each rejected line, the loaded lines."""
    a, mrp = _sku(wh)
    b, _ = _sku(wh, 1)
    pin = wh.scalar("SELECT min(pin_code) FROM locations")
    lines = {
        2: (f"{a},,{pin},,,,01-01-2027,10-01-2027,{mrp - 10:g},,,first", None),
        3: (f"{a},,,,,2027-01-05,,,,,Leaflet,single day", None),
        4: (f"{a},,,,,,2027-01-08,2027-01-20,,10,,overlaps line 2", None),
        5: ("", None),                                      # blank line: not a row
        6: (",dairy,,mumbai,,,2027-01-05,2027-01-20,,,End cap,", None),
        7: (f"{b},,,,NCT OF DELHI,,2027-01-05,2027-01-12,,,B2G1,", None),
        8: ("XX-9999,,,,,2027-01-05,,,10,,,", "unknown_sku"),
        9: (",Toys,,,,2027-01-05,,,,,feature,", "unknown_category"),
        10: (f"{a},,560001,,,2027-01-05,,,,,display,", "unknown_pin"),   # India Post, no store
        11: (f"{a},,999999,,,2027-01-05,,,,,display,", "pin_unknown"),
        12: (f"{a},,,,,31-02-2027,,,,,display,", "bad_date"),
        13: (f"{a},,,,,,2027-02-10,2027-02-01,,,display,", "dates_reversed"),
        14: (f"{a},,,,,,2027-01-01,2028-06-30,,,display,", "range_too_long"),
        15: (f"{a},,,,,2027-01-05,,,,120,,", "discount_out_of_range"),
        16: (f"{a},,,,,2027-01-05,,,,-5,,", "discount_out_of_range"),
        17: (f"{a},,,,,2027-01-05,,,{mrp + 50:g},,,", "price_above_mrp"),
        18: (f"{a},,,,,2027-01-05,,,,,mega sale,", "unknown_promo_type"),
        19: (f"{a},,,,,2027-01-05,,,,,,just a note", "empty_plan_row"),
        20: (",,,,,2027-01-05,,,10,,,", "missing_product"),
        21: ("", None),
        22: (f"{a},,,Atlantis,,2027-01-05,,,,,display,", "unknown_city"),
        23: (f"{a},,,,Narnia,2027-01-05,,,,,display,", "unknown_state"),
        24: (f"{a},,,,,2027-01-05,2027-01-06,2027-01-07,,,display,", "conflicting_dates"),
        25: (f"{a},,,,,,2027-01-05,,,,display,", "missing_value"),
        26: (f"{a},,,,,,,,,,display,", "missing_value"),
        27: (f"{a},,,,,2027-01-06,,,{mrp:g},0,none,regular price", None),
        28: (f'{b},,{pin},,,,2027-01-08,2027-01-14,,15,"Display + Leaflet",', None),
        29: (f'{b},,,,,2027-01-09,,,,,"none, display",', "unknown_promo_type"),
    }
    data = _csv(*(text for text, _ in lines.values()))
    bad = {n: code for n, (_, code) in lines.items() if code}
    good = [n for n, (text, code) in lines.items() if text and not code]
    return data, bad, good


def test_corpus_every_row_is_loaded_or_quarantined_with_its_reason(wh):
    data, bad, good = _corpus(wh)
    n_skus = wh.count("skus")
    r = ingest_bytes(wh, "plan", data, "plan.csv")
    assert r.rows_read == len(bad) + len(good) + 2 == 28      # and two blank lines
    assert (r.rows_loaded, r.rows_quarantined, r.duplicates_skipped, r.blank_lines) == \
        (len(good), len(bad), 0, 2)
    q = wh.query("SELECT line_no, reason_code, reason FROM quarantine WHERE batch_id = ?",
                 [r.batch_id])
    assert dict(zip(q["line_no"], q["reason_code"])) == {**bad, 5: "blank_line",
                                                         21: "blank_line"}
    rows = plan_rows(wh)
    assert rows["row_no"].tolist() == good and set(rows["batch_id"]) == {r.batch_id}
    assert set(rows["plan_version"]) == {1} and r.report["plan_version"] == 1
    reasons = dict(zip(q["line_no"], q["reason"]))
    assert reasons[8] == ("Column 'SKU' is not a SKU in the catalog (upload it in the SKU "
                          "catalog first): 'XX-9999'")
    assert reasons[18].endswith(": 'mega sale'") and "not a promotion type" in reasons[18]
    assert reasons[25].startswith("Column 'To' is blank")
    assert reasons[26].startswith("Column 'Date' is blank")
    assert {i["code"] for i in r.issues} == set(bad.values()) | {"blank_line"}
    assert wh.count("skus") == n_skus                  # unknown SKUs are not created


def test_accepted_rows_are_stored_in_their_canonical_form(wh):
    data, _, _ = _corpus(wh)
    ingest_bytes(wh, "plan", data, "plan.csv")
    a, mrp = _sku(wh)
    b, _ = _sku(wh, 1)
    got = plan_rows(wh).set_index("row_no")
    assert list(plan_rows(wh).columns) == list(PLAN_COLUMNS)
    assert got.loc[2, ["sku_id", "price", "promo_type", "note"]].tolist() == \
        [a, mrp - 10, "price_cut", "first"]               # below the MRP: a price cut
    assert (got.loc[2, "date_from"], got.loc[2, "date_to"]) == \
        (pd.Timestamp("2027-01-01"), pd.Timestamp("2027-01-10"))
    assert got.loc[3, "date_from"] == got.loc[3, "date_to"] == pd.Timestamp("2027-01-05")
    assert got.loc[3, "promo_type"] == "feature"
    assert (got.loc[4, "discount_pct"], got.loc[4, "promo_type"]) == (10, "price_cut")
    assert got.loc[6, ["sku_id", "category", "city", "promo_type"]].tolist() == \
        [None, "Dairy", "Mumbai", "display"]
    assert got.loc[7, ["sku_id", "state", "promo_type"]].tolist() == [b, "Delhi", "bundle"]
    assert got.loc[27, ["price", "discount_pct", "promo_type"]].tolist() == [mrp, 0, "none"]
    # several kinds on one row, with a discount: stored in the vocabulary's order
    assert got.loc[28, ["discount_pct", "promo_type"]].tolist() == [15, "feature+display"]
    assert pd.isna(got.loc[6, "pin_code"]) and pd.isna(got.loc[3, "price"])


def test_plan_rows_columns_and_dtypes_with_and_without_rows(wh):
    want = {"batch_id": "object", "plan_version": "int64", "row_no": "int64",
            "sku_id": "object", "category": "object", "pin_code": "object", "city": "object",
            "state": "object", "date_from": "datetime64[ns]", "date_to": "datetime64[ns]",
            "price": "float64", "discount_pct": "float64", "promo_type": "object",
            "note": "object"}
    assert plan_rows(wh).dtypes.astype(str).to_dict() == want and plan_rows(wh).empty
    assert latest_plan_version(wh) is None and plan_versions(wh).empty
    ingest_bytes(wh, "plan", _corpus(wh)[0], "plan.csv")
    assert plan_rows(wh).dtypes.astype(str).to_dict() == want


@pytest.mark.parametrize("text,expected", [
    ("BOGO", "bundle"), ("B2G1", "bundle"), ("buy one get one", "bundle"),
    ("Buy 2 Get 1 Free", "bundle"), ("3 for 2", "bundle"), ("1+1", "bundle"),
    ("Combo", "bundle"), ("leaflet", "feature"), ("Mailer", "feature"), ("AD", "feature"),
    ("Feature", "feature"), ("TPR", "price_cut"), ("discount", "price_cut"),
    ("Price Cut", "price_cut"), ("price-off", "price_cut"), ("10% off", "price_cut"),
    ("End Cap", "display"), ("display", "display"), ("no", "none"), ("NONE", "none"),
    ("0", "none"), ("other", "other"), ("mega sale", None), ("", None), ("  ", None),
    # several kinds on one row: stored in the vocabulary's order, joined by '+'
    ("Display + Feature", "feature+display"), ("TPR, leaflet", "price_cut+feature"),
    ("display and feature", "feature+display"), ("10% off + End Cap", "price_cut+display"),
    ("Feature/Display/TPR", "price_cut+feature+display"), ("display, display", "display"),
    ("buy 1 + get 1", "bundle"), ("n/a", "none"), ("none + display", None),
    ("display & mega sale", None),
])
def test_promo_type_words(text, expected):
    assert choice_of("promo_type", text) == expected


def test_the_warehouse_reads_promo_types_as_choice_of_does(wh):
    a, _ = _sku(wh)
    words = [w for w in CHOICES["promo_type"] if w] + [
        "B2G1", "b1g1f", "Buy Two Get One", "3 for 2", "1+1", "10% off", "Flat 20 off",
        "PRICE-CUT", " Leaflet ", "mega sale", "BOGO!!", "Display + Feature", "TPR, leaflet",
        "display and feature", "10% off + End Cap", "Feature/Display/TPR", "buy 1 + get 1",
        "n/a", "none + display", "display & mega sale", "B2G1 with leaflet"]
    data = _csv(*(f"{a},2027-03-01,\"{w}\"" for w in words),
                head="sku_id,date,promo_type")
    r = ingest_bytes(wh, "plan", data, "words.csv")
    stored = dict(zip(plan_rows(wh)["row_no"], plan_rows(wh)["promo_type"]))
    for line, w in enumerate(words, start=2):
        want = choice_of("promo_type", w)
        assert stored.get(line) == want, (w, stored.get(line), want)
    assert r.rows_quarantined == sum(choice_of("promo_type", w) is None for w in words) == 3


def test_yes_no_kind_columns_add_to_the_promotion_type(wh):
    """Separate feature / display / tpr columns (as a sales file has) plan several kinds on
    one row; bad values and a 'none' they contradict are quarantined with their reasons."""
    a, mrp = _sku(wh)
    data = _csv(f"{a},2027-03-01,,display,yes,0,",          # 2: feature+display
                f"{a},2027-03-02,,,1,1,1",                  # 3: every kind
                f"{a},2027-03-03,{mrp - 5:g},,N,N,N",       # 4: a price cut by the price
                f"{a},2027-03-04,,,0,0,0",                  # 5: an explicit 'nothing'
                f"{a},2027-03-05,,none,1,,",                # 6: contradiction
                f"{a},2027-03-06,,,0.5,,",                  # 7: a share is not yes/no
                f"{a},2027-03-07,,,maybe,,",                # 8: not a flag
                f"{a},2027-03-08,,bundle,,,Y",              # 9: bundle+price_cut
                head="sku_id,date,price,promo_type,Leaflet,On Display,TPR")
    r = ingest_bytes(wh, "plan", data, "kinds.csv")
    got = plan_rows(wh).set_index("row_no")["promo_type"].to_dict()
    assert got == {2: "feature+display", 3: "price_cut+feature+display", 4: "price_cut",
                   5: "none", 9: "price_cut+bundle"}
    q = wh.query("SELECT line_no, reason_code, reason FROM quarantine WHERE batch_id = ? "
                 "ORDER BY 1", [r.batch_id])
    assert dict(zip(q["line_no"], q["reason_code"])) == {
        6: "conflicting_promo_type", 7: "kind_not_yes_no", 8: "bad_flag"}
    assert r.rows_read == 8 == r.rows_loaded + 3
    assert "Column 'promo_type' is 'none', but the row's feature / display / tpr columns " \
        "plan a promotion" in q["reason"].iloc[0]


def test_promo_type_is_inferred_as_a_price_cut_and_reported(wh):
    a, mrp = _sku(wh)
    data = _csv(f"{a},2027-03-01,{mrp - 5:g},", f"{a},2027-03-02,,15%",
                f"{a},2027-03-03,{mrp:g},", head="sku_id,date,price,discount_pct")
    r = ingest_bytes(wh, "plan", data, "cuts.csv")
    assert plan_rows(wh)["promo_type"].tolist() == ["price_cut", "price_cut", "none"]
    assert plan_rows(wh)["discount_pct"].tolist()[1] == 15
    assert r.report["promo_type_from"] == ["discount_pct", "price"]
    assert r.report["promo_type_inferred"] == 2


def test_price_and_discount_that_disagree_keep_the_price_with_a_warning(wh):
    a, mrp = _sku(wh)
    data = _csv(f"{a},2027-03-01,{mrp * 0.9:.2f},10", f"{a},2027-03-02,{mrp / 2:.2f},10",
                head="sku_id,date,price,discount_pct")
    r = ingest_bytes(wh, "plan", data, "mixed.csv")
    assert r.rows_loaded == 2 and r.rows_quarantined == 0
    assert plan_rows(wh)["price"].tolist() == [round(mrp * 0.9, 2), round(mrp / 2, 2)]
    [warning] = r.report["warnings"]
    assert (warning["code"], warning["count"], warning["first_line"]) == \
        ("price_discount_mismatch", 1, 3)
    assert "The price was kept" in warning["sentence"]
    assert "off a list price of" in warning["sentence"]


def test_a_file_without_product_date_or_plan_columns_is_refused_naming_them(wh):
    with pytest.raises(MissingColumnsError) as info:
        ingest_bytes(wh, "plan", _csv("2027-01-01,10", head="date,price"), "p.csv")
    assert "no column for 'sku_id' or 'category'" in str(info.value)
    with pytest.raises(MissingColumnsError, match="'date' or 'date_from' and 'date_to'"):
        ingest_bytes(wh, "plan", _csv("A,10", head="sku,price"), "p.csv")
    with pytest.raises(MissingColumnsError, match="'price' or 'discount_pct' or 'promo_type'"):
        ingest_bytes(wh, "plan", _csv("A,2027-01-01", head="sku,date"), "p.csv")
    with pytest.raises(MissingColumnsError, match="'date_to'"):
        ingest_bytes(wh, "plan", _csv("A,2027-01-01,10", head="sku,start_date,price"), "p.csv")
    assert wh.count("ingest_batches") == 0 and wh.count("plan_rows") == 0


def test_plan_column_aliases():
    m = detect_mapping("plan", ["Item Code", "Store Pincode", "Valid From", "Valid Until",
                                "Promo Price", "Discount", "Mechanic", "Comments", "Colour"])
    assert m.columns == {"sku_id": "Item Code", "pin_code": "Store Pincode",
                         "date_from": "Valid From", "date_to": "Valid Until",
                         "price": "Promo Price", "discount_pct": "Discount",
                         "promo_type": "Mechanic", "note": "Comments"}
    assert m.ignored == ("Colour",)


def test_ignored_columns_are_named(wh):
    a, _ = _sku(wh)
    r = ingest_bytes(wh, "plan", _csv(f"{a},2027-01-01,display,x", head="sku,date,promo,Colour"),
                     "p.csv")
    assert r.rows_loaded == 1 and r.ignored_columns == ["Colour"]


def test_same_file_twice_loads_nothing_the_second_time(wh):
    data, bad, good = _corpus(wh)
    first = ingest_bytes(wh, "plan", data, "plan.csv")
    again = ingest_bytes(wh, "plan", data, "plan copy.csv")
    assert again.status == "duplicate_file" and again.report["duplicate_of"] == first.batch_id
    assert (again.rows_read, again.rows_loaded, again.duplicates_skipped) == (28, 0, 28)
    assert len(plan_rows(wh)) == len(good) and latest_plan_version(wh) == 1
    assert wh.scalar("SELECT count(*) FROM quarantine") == len(bad) + 2     # 2 blank lines


def test_a_second_upload_is_version_2_and_every_version_stays_readable(wh):
    a, mrp = _sku(wh)
    v1 = ingest_bytes(wh, "plan", _csv(f"{a},2027-01-01,2027-01-31,{mrp - 1:g}",
                                       f"{a},2027-02-01,2027-02-28,{mrp - 2:g}",
                                       head="sku,from,to,price"), "january.csv", user="asha")
    v2 = ingest_bytes(wh, "plan", _csv(f"{a},2027-01-15,2027-01-20,{mrp - 9:g}",
                                       head="sku,from,to,price"), "revision.csv", user="ravi")
    assert (v1.report["plan_version"], v2.report["plan_version"]) == (1, 2)
    assert latest_plan_version(wh) == 2
    every = plan_rows(wh)
    assert every["plan_version"].tolist() == [1, 1, 2]
    assert plan_rows(wh, version=1)["plan_version"].tolist() == [1, 1]
    assert plan_rows(wh, version=2).equals(every)
    versions = plan_versions(wh)
    assert versions["plan_version"].tolist() == [2, 1]
    assert versions.iloc[0][["batch_id", "file_name", "created_by", "rows", "skus"]].tolist() \
        == [v2.batch_id, "revision.csv", "ravi", 1, 1]
    assert (versions.iloc[1]["date_from"], versions.iloc[1]["date_to"]) == \
        (pd.Timestamp("2027-01-01"), pd.Timestamp("2027-02-28"))
    assert list(versions.columns) == ["plan_version", "batch_id", "file_name", "created_at",
                                      "created_by", "rows", "date_from", "date_to", "skus"]


def test_a_plan_upload_bumps_only_the_plans_and_uploads_versions(wh):
    """So it leaves what reads sales, forecasts or stock cached (elasticities, the scenario
    inputs' forecast rows and Reorder inputs)."""
    others = [d for d in DOMAINS if d not in ("plans", "uploads")]
    before = {d: wh.data_version(d) for d in DOMAINS}
    a, mrp = _sku(wh)
    ingest_bytes(wh, "plan", _csv(f"{a},2027-01-01,2027-01-31,{mrp - 1:g}",
                                  head="sku,from,to,price"), "january.csv")
    assert wh.data_version("plans") != before["plans"]
    assert wh.data_version("uploads") != before["uploads"]
    assert {d: wh.data_version(d) for d in others} == {d: before[d] for d in others}


def test_a_category_version_counts_the_skus_it_covers(wh):
    cat = wh.scalar("SELECT min(category) FROM skus")
    n = wh.scalar("SELECT count(*) FROM skus WHERE category = ?", [cat])
    ingest_bytes(wh, "plan", _csv(f"{cat},2027-01-01,feature", head="category,date,promo"),
                 "cat.csv")
    assert plan_versions(wh)["skus"].tolist() == [n]


def test_rollback_removes_the_versions_rows_and_its_number_is_not_reused(wh):
    a, _ = _sku(wh)
    ingest_bytes(wh, "plan", _csv(f"{a},2027-01-01,display", head="sku,date,promo"), "1.csv")
    v2 = ingest_bytes(wh, "plan", _csv(f"{a},2027-01-02,display", head="sku,date,promo"),
                      "2.csv")
    done = rollback_batch(wh, v2.batch_id, user="boss")
    assert done["rows_deleted"] == 1 and get_batch(wh, v2.batch_id)["status"] == "rolled_back"
    assert plan_rows(wh)["plan_version"].tolist() == [1] and latest_plan_version(wh) == 1
    v3 = ingest_bytes(wh, "plan", _csv(f"{a},2027-01-03,display", head="sku,date,promo"),
                      "3.csv")
    assert v3.report["plan_version"] == 3
    # the rolled-back file may be uploaded again (it is no longer loaded)
    again = ingest_bytes(wh, "plan", _csv(f"{a},2027-01-02,display", head="sku,date,promo"),
                         "2.csv")
    assert again.status == "loaded" and again.report["plan_version"] == 4


def test_a_batch_that_fails_writes_nothing(wh, monkeypatch):
    from engine.warehouse import ingest_plan

    data, _, _ = _corpus(wh)
    before = {t: wh.count(t) for t in ("plan_rows", "ingest_batches", "quarantine", "audit_log")}
    version = wh.data_version()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(ingest_plan, "_mismatch_warnings", boom)
    with pytest.raises(RuntimeError):
        ingest_bytes(wh, "plan", data, "plan.csv")
    assert {t: wh.count(t) for t in before} == before and wh.data_version() == version
    assert wh.scalar("SELECT value FROM meta WHERE key = 'plan_version'") is None
    monkeypatch.undo()
    assert ingest_bytes(wh, "plan", data, "plan.csv").report["plan_version"] == 1


def test_excel_plan_loads_with_sheet_row_numbers(wh, tmp_path):
    a, mrp = _sku(wh)
    path = tmp_path / "plan.xlsx"
    pd.DataFrame({"SKU": [a, "XX-1", a], "From": ["2027-01-01", "2027-01-01", "01/02/2027"],
                  "To": ["2027-01-07", "2027-01-07", "14/02/2027"],
                  "Promo": ["Display", "Display", "BOGO"]}).to_excel(path, index=False)
    r = ingest_file(wh, "plan", path)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (3, 2, 1)
    assert wh.scalar("SELECT line_no FROM quarantine") == 3
    rows = plan_rows(wh)
    assert rows["row_no"].tolist() == [2, 4]
    assert rows["promo_type"].tolist() == ["display", "bundle"]
    assert rows["date_to"].tolist()[1] == pd.Timestamp("2027-02-14")


def test_a_store_user_sees_plan_rows_for_their_places_or_everywhere(wh):
    a, _ = _sku(wh)
    loc = wh.query("SELECT pin_code, city, state FROM locations ORDER BY state, pin_code")
    mine, other = loc.iloc[0], loc[loc["state"] != loc.iloc[0]["state"]].iloc[0]
    data = _csv(f"{a},{mine.pin_code},,,2027-01-01,display",
                f"{a},{other.pin_code},,,2027-01-01,display",
                f"{a},,{mine.city},,2027-01-01,display",
                f"{a},,{other.city},,2027-01-01,display",
                f"{a},,,{mine.state},2027-01-01,display",
                f"{a},,,{other.state},2027-01-01,display",
                f"{a},,,,2027-01-01,display",
                head="sku,pin,city,state,date,promo")
    assert ingest_bytes(wh, "plan", data, "places.csv").rows_loaded == 7
    scoped = ScopedWarehouse(wh, [mine.pin_code])
    try:
        assert plan_rows(scoped)["row_no"].tolist() == [2, 4, 6, 8]
        assert latest_plan_version(scoped) == 1
        assert plan_versions(scoped)["rows"].tolist() == [4]
    finally:
        scoped.close()


# ---- command line --------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=180)


def test_cli_loads_a_plan_with_a_summary_and_json(wh, tmp_path):
    data, bad, good = _corpus(wh)
    path = wh.path
    wh.close()
    f = tmp_path / "plan.csv"
    f.write_bytes(data)
    out = _cli("ingest", "plan", str(f), "--no-alerts", "--user", "asha",
               "--warehouse", str(path))
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("batch b_") and first.endswith(
        f"(loaded): 28 read = {len(good)} loaded + {len(bad)} quarantined + 0 duplicates + "
        "2 blank + 0 total rows")
    assert "  - plan version 1 (2027-01-01 to 2027-01-20)" in out.stdout
    assert "Column 'SKU' has 1 SKU not in the catalog, on line 8: 'XX-9999'" in out.stdout
    again = _cli("ingest", "plan", str(f), "--json", "--no-alerts", "--warehouse", str(path))
    assert again.returncode == 0, again.stderr
    d = json.loads(again.stdout)
    assert d["status"] == "duplicate_file" and d["kind"] == "plan"
    assert d["rows_read"] == d["rows_loaded"] + d["rows_quarantined"] + \
        d["duplicates_skipped"] == 28
    g = tmp_path / "plan2.csv"
    g.write_bytes(data + b"\n")
    d2 = json.loads(_cli("ingest", "plan", str(g), "--json", "--no-alerts",
                         "--warehouse", str(path)).stdout)
    assert (d2["plan_version"], d2["rows_loaded"], d2["rows_quarantined"]) == \
        (2, len(good), len(bad))
    assert d2["promo_type_from"] == ["Discount %", "Offer Price"]


def test_cli_refuses_a_plan_file_without_its_columns_in_one_line(tmp_path):
    f = tmp_path / "p.csv"
    f.write_bytes(_csv("2027-01-01,10", head="date,price"))
    out = _cli("ingest", "plan", str(f), "--warehouse", str(tmp_path / "w.duckdb"))
    assert out.returncode == 2
    assert out.stderr.startswith("error: This plan file has no column for 'sku_id' or "
                                 "'category'") and out.stderr.strip().count("\n") == 0
