"""`python -m engine rank-mandis` on the small demo warehouse."""
from __future__ import annotations

import json

import pytest

from engine.__main__ import main

FIELDS = {"market", "state", "score", "price_score", "quality_score", "logistics_score",
          "reliability_score", "modal_price", "landed_price", "distance_km", "reason"}


def _rank(capsys, wh_path, *extra) -> tuple[int, str, str]:
    code = main(["rank-mandis", "--warehouse", str(wh_path), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rank_mandis_json_lists_scored_mandis_best_first(capsys, small_warehouse_path):
    code, out, _ = _rank(capsys, small_warehouse_path, "--commodity", "onion", "--pin",
                         "560001", "--quantity", "50", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) >= 5
    assert FIELDS <= set(rows[0])
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    for r in rows:
        assert r["landed_price"] >= r["modal_price"]
        assert all(0 <= r[k] <= 100 for k in FIELDS if k.endswith("_score"))
    # The demo's Bengaluru terminal market is on the doorstep: it must beat far-away Delhi.
    markets = [r["market"] for r in rows]
    assert markets.index("Bangalore (Yeshwanthpur)") < markets.index("Azadpur")


def test_rank_mandis_demo_mandi_that_stopped_reporting_is_least_reliable(capsys,
                                                                          small_warehouse_path):
    code, out, _ = _rank(capsys, small_warehouse_path, "--commodity", "Potato", "--pin",
                         "800001", "--quantity", "20", "--json")
    assert code == 0
    rows = {r["market"]: r for r in json.loads(out)}
    patna = rows.pop("Patna (Musallahpur)")            # planted: stops reporting 12 days early
    assert patna["reliability_score"] < min(r["reliability_score"] for r in rows.values())


@pytest.mark.parametrize("args, message", [
    (["--commodity", "banana", "--pin", "560001"], "error: Unknown commodity 'banana'. "
                                                   "Available: Cauliflower, Green Chilli"),
    (["--commodity", "onion", "--pin", "56001"], "error: '56001' is not a PIN code"),
    (["--commodity", "onion", "--pin", "999999"],
     "error: PIN code 999999 is not in India Post's directory."),
])
def test_rank_mandis_bad_request_is_one_line_error(capsys, small_warehouse_path, args, message):
    code, out, err = _rank(capsys, small_warehouse_path, *args, "--quantity", "50")
    assert code == 2 and out == ""
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1
