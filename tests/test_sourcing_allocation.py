"""Purchase-split MILP: every constraint holds, results repeat, infeasibility is explained."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.sourcing.allocation import AllocationConfig, allocate, available_qtl, purchase_order


def ranked_frame() -> pd.DataFrame:
    """Five mandis; arrivals in quintals/day, landed = modal + transport."""
    rows = [  # market, modal, transport, quality, arrivals_qtl_per_day
        ("Alpha", 1000, 50, 80, 100),
        ("Bravo", 1020, 40, 60, 300),
        ("Charlie", 1100, 20, 90, 50),
        ("Delta", 900, 300, 40, 1000),
        ("Echo", 1300, 10, 95, 80),
    ]
    df = pd.DataFrame(rows, columns=["market", "modal_price", "transport_per_qtl",
                                     "quality_score", "arrivals_qtl_per_day"])
    df["landed_price"] = df["modal_price"] + df["transport_per_qtl"]
    df["state"] = "Karnataka"
    df["mandi_id"] = df["market"].str.upper() + "|Karnataka"
    df["score"] = 50.0
    df["distance_km"] = df["transport_per_qtl"] / 1.3
    df["road_km"] = df["transport_per_qtl"]
    df["lat"], df["lon"] = 13.0, 77.5
    return df


def test_allocation_respects_every_constraint():
    ranked = ranked_frame()
    cfg = AllocationConfig(quantity_qtl=200, budget=260_000, min_quality=55, max_mandis=2,
                           truck_capacity_qtl=60, truck_cost=2000, availability_share=0.2,
                           buying_window_days=5)
    res = allocate(ranked, cfg)
    assert res.feasible and res.status == "Optimal"
    lines = res.lines.set_index("market")
    avail = available_qtl(ranked.set_index("market"), cfg)
    assert lines["quantity_qtl"].sum() == pytest.approx(200)
    assert len(lines) <= 2
    assert (lines["quantity_qtl"] <= avail[lines.index] + 1e-6).all()
    assert (lines["quantity_qtl"] <= lines["trucks"] * 60 + 1e-6).all()
    assert (lines["quality_score"] >= 55).all()
    assert "Delta" not in lines.index            # cheapest modal but quality 40
    assert res.totals["total_cost"] <= 260_000
    assert res.totals["total_cost"] == pytest.approx(
        (lines["quantity_qtl"] * lines["landed_price"]).sum() + 2000 * lines["trucks"].sum())


def test_allocation_prefers_cheapest_landed_when_unconstrained():
    res = allocate(ranked_frame(), AllocationConfig(quantity_qtl=100, max_mandis=1,
                                                    availability_share=1.0, truck_cost=0))
    assert res.lines["market"].tolist() == ["Alpha"]      # landed 1050 beats Bravo's 1060


def test_allocation_is_deterministic():
    cfg = AllocationConfig(quantity_qtl=250, max_mandis=3, availability_share=0.3)
    a, b = allocate(ranked_frame(), cfg), allocate(ranked_frame().iloc[::-1], cfg)
    pd.testing.assert_frame_equal(a.lines, b.lines)
    assert a.totals == b.totals


@pytest.mark.parametrize("cfg, binding, words", [
    (AllocationConfig(quantity_qtl=100, budget=50_000), ("budget",),
     "raise the budget from ₹50,000 to at least"),
    (AllocationConfig(quantity_qtl=400, max_mandis=1, availability_share=1.0,
                      buying_window_days=1, min_quality=55), ("max_mandis",),
     "allow at least 2 mandis (now 1)"),
    (AllocationConfig(quantity_qtl=100, min_quality=99), ("min_quality",),
     "lower the minimum quality score from 99 to 80.0 or less"),
    (AllocationConfig(quantity_qtl=5000, max_mandis=5), ("availability",),
     "can supply only"),
])
def test_infeasible_plan_names_the_constraint_to_relax(cfg, binding, words):
    res = allocate(ranked_frame(), cfg)
    assert not res.feasible and res.status == "Infeasible"
    assert res.binding == binding
    assert words in res.message
    assert res.lines.empty


def test_purchase_order_draft_has_one_line_per_mandi():
    res = allocate(ranked_frame(), AllocationConfig(quantity_qtl=250, availability_share=0.3))
    po = purchase_order(res, "Onion", "560001", "2024-06-30")
    assert len(po) == len(res.lines)
    assert po["quantity_kg"].sum() == pytest.approx(25_000)
    assert po["line_total_rs"].sum() == pytest.approx(res.totals["total_cost"], rel=1e-6)
