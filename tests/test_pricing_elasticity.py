"""Elasticity estimation recovers planted elasticities (synthetic frames and the small demo)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.pricing.elasticity import (ElasticityConfig, InsufficientPriceVariationError,
                                       PanelInputs, estimate_elasticities, fit_raw_elasticities)
from engine.pricing.inputs import load_panel_inputs
from engine.pricing.synthetic import synthetic_sales
from engine.warehouse.catalog import demo_truth_elasticity


def test_synthetic_elasticities_recovered_within_their_intervals():
    planted = [-0.5, -0.9, -1.3, -1.7, -2.1, -0.7]
    inputs, truth = synthetic_sales(n_skus=6, n_pins=4, n_days=500, elasticities=planted)
    table = estimate_elasticities(inputs).merge(truth, on="sku_id", suffixes=("", "_true"))
    assert table["sufficient"].all()
    err = (table["elasticity"] - table["elasticity_true"]).abs()
    assert err.median() < 0.2
    inside = (table["lo"] <= table["elasticity_true"]) & (table["elasticity_true"] <= table["hi"])
    assert inside.sum() >= 5
    # ordering of planted values survives estimation
    assert np.corrcoef(table["elasticity"], table["elasticity_true"])[0, 1] > 0.9


def test_sku_without_price_moves_falls_back_to_category_value():
    inputs, _ = synthetic_sales(n_skus=5, n_days=400, elasticities=[-1.0, -1.2, -1.4, -0.8, -1.1])
    sales = inputs.sales.copy()
    flat = sales["sku_id"] == "SKU0004"
    sales.loc[flat, "price"] = sales.loc[flat, "regular_price"] = 50.0
    table = estimate_elasticities(PanelInputs(sales, inputs.skus, inputs.locations,
                                              inputs.weather, inputs.festival))
    row = table.set_index("sku_id").loc["SKU0004"]
    assert not row["sufficient"]
    assert row["method"] == "category_fallback"
    assert row["elasticity"] == pytest.approx(row["category_elasticity"])
    assert "price move" in row["note"] and "category" in row["note"]
    assert row["lo"] < row["elasticity"] < row["hi"]


def test_no_price_variation_anywhere_is_a_clear_error():
    inputs, _ = synthetic_sales(n_skus=2, n_days=200)
    sales = inputs.sales.assign(price=40.0, regular_price=40.0)
    with pytest.raises(InsufficientPriceVariationError, match="enough price variation"):
        estimate_elasticities(PanelInputs(sales, inputs.skus, inputs.locations))


def test_shrinkage_moves_noisy_estimates_more_than_precise_ones():
    inputs, _ = synthetic_sales(n_skus=6, n_days=500, seed=5,
                                elasticities=[-0.6, -1.0, -1.4, -1.8, -2.2, -1.2])
    big = inputs.sales[inputs.sales["sku_id"] != "SKU0005"]
    thin = inputs.sales[(inputs.sales["sku_id"] == "SKU0005") & (inputs.sales["pin_code"] == "400001")]
    thin = thin.iloc[::3]   # a thin, noisy SKU
    pooled = estimate_elasticities(PanelInputs(pd.concat([big, thin]), inputs.skus,
                                               inputs.locations, inputs.weather, inputs.festival),
                                   ElasticityConfig(max_se=5.0, min_price_periods=3))
    pooled["moved"] = (pooled["elasticity"] - pooled["raw_elasticity"]).abs()
    pooled["pull"] = pooled["moved"] / (pooled["raw_elasticity"] - pooled["category_elasticity"]).abs()
    by = pooled.set_index("sku_id")
    precise = by.drop("SKU0005")
    assert by.loc["SKU0005", "raw_se"] > precise["raw_se"].max()
    assert by.loc["SKU0005", "pull"] > precise["pull"].max()


def test_small_demo_elasticities_recover_planted_truth(small_warehouse):
    table = estimate_elasticities(load_panel_inputs(small_warehouse))
    truth = demo_truth_elasticity(small_warehouse)
    m = table.merge(truth[["sku_id", "elasticity"]], on="sku_id", suffixes=("", "_true"))
    assert len(m) == len(truth)
    ok = m[m["sufficient"]]
    assert len(ok) >= len(m) // 2
    assert (ok["elasticity"] - ok["elasticity_true"]).abs().median() <= 0.25
    inside = (ok["lo"] <= ok["elasticity_true"]) & (ok["elasticity_true"] <= ok["hi"])
    assert inside.mean() >= 0.8
    assert np.corrcoef(ok["elasticity"], ok["elasticity_true"])[0, 1] >= 0.8
    assert set(m["method"]) <= {"pml+eb", "category_fallback"}
    # national prices: every estimate shares its category's week effects
    assert m.loc[m["sufficient"], "spec"].str.contains("category x week FE").all()


def test_raw_fit_reports_price_variation_statistics():
    inputs, _ = synthetic_sales(n_skus=2, n_days=300)
    raw = fit_raw_elasticities(inputs)
    assert (raw["price_periods"] >= 14).all() and (raw["price_sd"] > 0.01).all()
    assert (raw["n_obs"] > 0).all() and raw["converged"].all()


def _category(b, se, category="C"):
    return pd.DataFrame({"raw_elasticity": b, "raw_se": se, "category": category})


def test_within_category_spread_is_not_underestimated_when_precisions_differ():
    # planted spread tau2 = 0.36; three very precise SKUs and nine noisy ones. With 1 / s^2
    # weights (DerSimonian-Laird) the precise three decide Q: its estimate is mostly too
    # small (median 0.27) and the SKUs are pulled too far. Paule-Mandel's median stays near
    # the planted value and its shrunk estimates are closer to the truth.
    from engine.pricing.pooling import Pooling, dersimonian_laird, paule_mandel

    rng = np.random.default_rng(0)
    se = np.r_[np.full(3, 0.05), np.full(9, 0.4)]
    pm, dl, err = [], [], []
    for _ in range(400):
        theta = -2 + rng.normal(0, 0.6, len(se))
        b = theta + rng.normal(0, se)
        pm.append(paule_mandel(b, se))
        dl.append(dersimonian_laird(b, se)[2])
        pool = Pooling(_category(b, se))
        post = np.array([pool.posterior(x, s * s, pool.prior("C"))[0] for x, s in zip(b, se)])
        err.append(np.mean((post - theta) ** 2))
    assert 0.30 <= np.median(pm) <= 0.42
    assert np.median(dl) < 0.30
    assert np.mean(err) < np.mean(se ** 2)       # shrinkage still helps on average


def test_a_precise_sku_far_from_its_category_mean_keeps_its_own_value():
    # the dunnhumby frozen pizzas' raw estimates (nine near -2.5, Tony's three near -1.2)
    # and one very precise SKU at -0.9: its own estimate hardly moves, and Tony's move
    # less than 0.7 of their own standard error (with the DerSimonian-Laird spread: 0.9)
    from engine.pricing.pooling import Pooling

    b = [-2.50, -2.54, -2.74, -2.01, -2.00, -2.71, -3.08, -2.85, -2.64, -1.20, -1.21, -1.18]
    se = [0.14, 0.23, 0.12, 0.33, 0.31, 0.34, 0.21, 0.22, 0.20, 0.32, 0.39, 0.38]
    pool = Pooling(_category(b, se))
    prior = pool.prior("C")
    for x, s in zip(b[-3:], se[-3:]):
        post, var, pull = pool.posterior(x, s * s, prior)
        assert abs(post - x) < 0.7 * s
        # the interval after shrinkage carries the prior's uncertainty (Morris): never
        # narrower than the plug-in posterior's
        assert var >= 1 / (1 / s ** 2 + 1 / prior.tau2)
    pool = Pooling(_category(b + [-0.9], se + [0.05]))
    post, var, pull = pool.posterior(-0.9, 0.05 ** 2, pool.prior("C"))
    assert abs(post - -0.9) < 0.02 and pull < 0.02 and np.sqrt(var) < 0.06
