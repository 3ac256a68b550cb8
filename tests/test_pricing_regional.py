"""SKU x region elasticities: recovery of planted regional differences, thin regions
falling back to the SKU's national value, and the simulator using the regional value."""
from __future__ import annotations

import numpy as np
import pytest

from engine.pricing.elasticity import PanelInputs, estimate_elasticities
from engine.pricing.regional import RegionalConfig, estimate_regional_elasticities
from engine.pricing.synthetic import synthetic_regional_sales

PLANTED = {"SKU0": {"North": -0.6, "West": -1.2, "South": -1.9, "East": -1.0},
           "SKU1": {"North": -0.8, "West": -1.5, "South": -2.2, "East": -1.4},
           "SKU2": {"North": -1.6, "West": -0.7, "South": -1.1, "East": -2.0}}


@pytest.fixture(scope="module")
def regional_case():
    inputs, truth = synthetic_regional_sales(
        PLANTED, pins_per_region={"North": 2, "West": 2, "South": 2, "East": 1},
        n_days=420, seed=3, new_store_days={"East": 90})       # East: one new store
    national = estimate_elasticities(inputs)
    table = estimate_regional_elasticities(inputs, national)
    return inputs, truth, national, table.merge(truth, on=["sku_id", "region"],
                                                suffixes=("", "_true"))


def test_regional_estimates_recover_each_planted_regional_elasticity(regional_case):
    _, _, _, m = regional_case
    rich = m[m["region"] != "East"]
    assert rich["sufficient"].all() and (rich["method"] == "pml+eb").all()
    err = (rich["elasticity"] - rich["elasticity_true"]).abs()
    assert err.median() < 0.15 and (err <= 3 * rich["se"]).all()
    inside = (rich["lo"] <= rich["elasticity_true"]) & (rich["elasticity_true"] <= rich["hi"])
    assert inside.mean() >= 8 / 9
    # regions keep their planted ordering within each SKU
    for _, grp in rich.groupby("sku_id"):
        assert np.corrcoef(grp["elasticity"], grp["elasticity_true"])[0, 1] > 0.9


def test_thin_region_falls_back_to_the_sku_national_value(regional_case):
    _, _, national, m = regional_case
    east = m[m["region"] == "East"].set_index("sku_id")
    nat = national.set_index("sku_id")
    assert not east["sufficient"].any()
    assert (east["method"] == "sku_fallback").all()
    assert east["elasticity"].to_numpy() == pytest.approx(nat.loc[east.index, "elasticity"].to_numpy())
    assert east["lo"].to_numpy() == pytest.approx(nat.loc[east.index, "lo"].to_numpy())
    assert east["note"].str.contains("store-days in the region").all()
    assert east["note"].str.contains("SKU's national value").all()


def test_region_without_price_moves_is_flagged_with_its_reason(regional_case):
    inputs, _, national, _ = regional_case
    sales = inputs.sales.copy()
    south = sales["pin_code"].isin(inputs.locations.loc[inputs.locations["region"] == "South", "pin_code"])
    sales.loc[south, "price"] = sales.loc[south, "regular_price"] = 120.0
    flat = PanelInputs(sales, inputs.skus, inputs.locations, inputs.weather, inputs.festival)
    table = estimate_regional_elasticities(flat, national).set_index(["sku_id", "region"])
    row = table.loc[("SKU1", "South")]
    assert not row["sufficient"] and row["method"] == "sku_fallback"
    assert "price move" in row["note"]
    assert table.loc[("SKU1", "North"), "sufficient"]


def test_stricter_thresholds_turn_cells_into_fallbacks(regional_case):
    inputs, _, national, m = regional_case
    strict = estimate_regional_elasticities(inputs, national, RegionalConfig(min_obs=10_000))
    assert not strict["sufficient"].any()
    assert strict["note"].str.contains("needs 10000").all()
    assert len(strict) == len(m)
    assert list(strict.columns[:9]) == ["sku_id", "region", "elasticity", "lo", "hi", "n_obs",
                                        "method", "sufficient", "note"]


def test_regional_spread_is_paule_mandel_so_precise_regions_do_not_decide_it():
    # one SKU, planted between-region spread tau2 = 0.36: three precise regions (s = 0.05)
    # and nine noisy ones (s = 0.4). DerSimonian-Laird's 1 / s^2 weights let the precise
    # three decide tau2 (mostly too small), pulling the noisy regions too far towards the
    # SKU; the Paule-Mandel spread keeps them nearer their planted values.
    import pandas as pd

    from engine.pricing.pooling import dersimonian_laird, paule_mandel
    from engine.pricing.regional import pool_regional

    rng = np.random.default_rng(1)
    se = np.r_[np.full(3, 0.05), np.full(9, 0.4)]
    national = pd.DataFrame({"sku_id": ["S"], "elasticity": [-1.5], "se": [0.03],
                             "sufficient": [True]})
    err_pm, err_dl = [], []
    for _ in range(60):
        theta = -1.5 + rng.normal(0, 0.6, len(se))
        b = theta + rng.normal(0, se)
        raw = pd.DataFrame({"sku_id": "S", "region": [f"R{i}" for i in range(len(se))],
                            "raw_elasticity": b, "raw_se": se, "spec_se": 0.0, "n_obs": 1000,
                            "price_periods": 50, "price_sd": 0.05, "category": "C",
                            "spec": "x", "n_pins": 3, "units": 1e4, "fe": "own",
                            "identified": True, "unit": "day"})
        out = pool_regional(raw, national).sort_values("region", key=lambda r: r.str[1:].astype(int))
        post = out["elasticity"].to_numpy()
        t2 = paule_mandel(b, se)
        pull = se ** 2 / (se ** 2 + t2)
        assert post == pytest.approx((1 - pull) * b + pull * -1.5)
        err_pm.append(np.mean((post - theta) ** 2))
        t2_dl = dersimonian_laird(b, se)[2]
        pull = se ** 2 / (se ** 2 + t2_dl) if t2_dl > 0 else np.ones(len(se))
        err_dl.append(np.mean(((1 - pull) * b + pull * -1.5 - theta) ** 2))
    assert np.mean(err_pm) < np.mean(err_dl)
