"""engine/warehouse/results.py: derived results stored once per version of what they read,
thrown away only by writes to those domains; scoped handles never share them."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.warehouse import results
from engine.warehouse.db import Warehouse, copy_warehouse
from engine.warehouse.scoped import ScopedWarehouse


@pytest.fixture()
def wh(empty_warehouse):
    with empty_warehouse.transaction() as cur:
        cur.execute("INSERT INTO locations (pin_code, city, state) VALUES "
                    "('400001', 'Mumbai', 'Maharashtra'), ('110001', 'Delhi', 'Delhi')")
    return empty_warehouse


def _counting(frame: pd.DataFrame):
    calls = []

    def compute():
        calls.append(1)
        return frame
    return compute, calls


def test_computed_once_then_read_back_equal(wh):
    frame = pd.DataFrame({"sku_id": ["A", "B"], "elasticity": [-1.2, -0.8]})
    compute, calls = _counting(frame)
    first = results.stored(wh, "el", {"k": 1}, ("sales",), compute)
    second = results.stored(wh, "el", {"k": 1}, ("sales",), compute)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, second)
    results.stored(wh, "el", {"k": 2}, ("sales",), compute)      # other params: computed
    assert len(calls) == 2


def test_survives_a_new_process_handle(tmp_warehouse_path):
    frame = pd.DataFrame({"x": [1.5]})
    wh = Warehouse(tmp_warehouse_path)
    results.stored(wh, "el", "p", ("sales",), lambda: frame)
    wh.close()
    again = Warehouse(tmp_warehouse_path)
    compute, calls = _counting(frame)
    pd.testing.assert_frame_equal(results.stored(again, "el", "p", ("sales",), compute), frame)
    assert calls == []
    again.close()


def test_only_writes_to_its_domains_invalidate(wh):
    compute, calls = _counting(pd.DataFrame({"x": [1]}))
    results.stored(wh, "el", "p", ("sales", "festivals"), compute)
    with wh.transaction(touches=("alerts",)) as cur:        # acknowledging an alert
        cur.execute("INSERT INTO audit_log VALUES (now(), 'me', 'ack', NULL)")
    with wh.transaction(touches=("scenarios",)) as cur:     # saving a scenario
        cur.execute("INSERT INTO audit_log VALUES (now(), 'me', 'scenario', NULL)")
    results.stored(wh, "el", "p", ("sales", "festivals"), compute)
    assert len(calls) == 1
    with wh.transaction(touches=("sales",)) as cur:         # new sales
        cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S9', 'Dairy')")
    results.stored(wh, "el", "p", ("sales", "festivals"), compute)
    assert len(calls) == 2
    assert wh.count("derived_results") == 1                 # the old row was replaced


def test_scoped_handles_get_their_own_results_and_cannot_read_the_table(wh):
    mumbai = ScopedWarehouse(wh, ["400001"])
    delhi = ScopedWarehouse(wh, ["110001"])
    results.stored(mumbai, "el", "p", ("sales",), lambda: pd.DataFrame({"who": ["mumbai"]}))
    got = results.stored(delhi, "el", "p", ("sales",), lambda: pd.DataFrame({"who": ["delhi"]}))
    assert got["who"].tolist() == ["delhi"]
    full = results.stored(wh, "el", "p", ("sales",), lambda: pd.DataFrame({"who": ["all"]}))
    assert full["who"].tolist() == ["all"]
    assert mumbai.query("SELECT count(*) AS n FROM derived_results")["n"].iat[0] == 0


def test_read_only_warehouse_computes_without_storing(tmp_warehouse_path):
    Warehouse(tmp_warehouse_path).close()
    ro = Warehouse(tmp_warehouse_path, read_only=True)
    compute, calls = _counting(pd.DataFrame({"x": [1]}))
    results.stored(ro, "el", "p", ("sales",), compute)
    results.stored(ro, "el", "p", ("sales",), compute)
    assert len(calls) == 2
    ro.close()


def test_elasticities_are_stored_and_kept_across_an_alert_write(small_warehouse_path,
                                                                tmp_path):

    from engine.pricing import service

    path = tmp_path / "copy.duckdb"
    copy_warehouse(small_warehouse_path, path)
    wh = Warehouse(path)
    # the copy holds whatever other tests stored in the shared demo (a copy includes the
    # write-ahead log): count this test's own row
    with wh.transaction(touches=()) as cur:
        cur.execute("DELETE FROM derived_results")
    table = service.elasticity_table(wh)
    assert wh.count("derived_results") == 1
    with wh.transaction(touches=("alerts",)) as cur:
        cur.execute("INSERT INTO audit_log VALUES (now(), 'me', 'ack', NULL)")
    calls = []
    original = service.estimate_elasticities
    service.estimate_elasticities = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        again = service.elasticity_table(wh)
    finally:
        service.estimate_elasticities = original
    assert calls == []
    pd.testing.assert_frame_equal(table, again)
    wh.close()


def test_older_results_of_a_kind_are_pruned_when_the_data_moves(wh):
    results.stored(wh, "el", "a", ("sales",), lambda: pd.DataFrame({"x": [1]}))
    results.stored(wh, "el", "b", ("sales",), lambda: pd.DataFrame({"x": [2]}))
    results.stored(wh, "other", "a", ("alerts",), lambda: pd.DataFrame({"x": [3]}))
    assert wh.count("derived_results") == 3
    with wh.transaction(touches=("sales",)) as cur:
        cur.execute("INSERT INTO skus (sku_id, category) VALUES ('S9', 'Dairy')")
    results.stored(wh, "el", "a", ("sales",), lambda: pd.DataFrame({"x": [4]}))
    kinds = wh.query("SELECT kind, params FROM derived_results ORDER BY 1, 2")
    assert kinds.values.tolist() == [["el", "a"], ["other", "a"]]


def test_results_still_match_after_the_file_is_copied(tmp_warehouse_path, tmp_path):

    wh = Warehouse(tmp_warehouse_path)
    results.stored(wh, "el", "p", ("sales",), lambda: pd.DataFrame({"x": [1]}))
    wh.close()
    copy = tmp_path / "elsewhere.duckdb"
    copy_warehouse(tmp_warehouse_path, copy)
    moved = Warehouse(copy)
    compute, calls = _counting(pd.DataFrame({"x": [2]}))
    assert results.stored(moved, "el", "p", ("sales",), compute)["x"].tolist() == [1]
    assert calls == []
    moved.close()
