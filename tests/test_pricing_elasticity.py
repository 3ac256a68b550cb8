"""Elasticity estimation recovers planted elasticities (synthetic frames and the small demo)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.pricing.elasticity import (ElasticityConfig, InsufficientPriceVariationError,
                                       PanelInputs, estimate_elasticities, fit_raw_elasticities)
from engine.pricing.inputs import load_panel_inputs
from engine.pricing.synthetic import synthetic_sales
from engine.warehouse.pricing_store import demo_truth_elasticity


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
