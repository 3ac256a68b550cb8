"""Cross-price elasticity within a subcategory: a planted substitute effect is recovered,
no effect is not invented, and lock-step prices are flagged instead of estimated."""
from __future__ import annotations

import pandas as pd

from engine.pricing.cross import estimate_cross_elasticities
from engine.pricing.elasticity import PanelInputs
from engine.pricing.synthetic import synthetic_substitutes


def test_planted_substitute_effect_is_recovered_with_a_positive_interval():
    inputs, planted = synthetic_substitutes(cross=0.8)
    row = estimate_cross_elasticities(inputs).iloc[0]
    assert row["subcategory"] == "Chips" and row["n_skus"] == 4 and row["sufficient"]
    assert row["lo"] <= planted <= row["hi"]
    assert row["lo"] > 0 and row["note"].startswith("substitutes")


def test_no_planted_cross_effect_gives_an_interval_around_zero():
    inputs, _ = synthetic_substitutes(cross=0.0)
    row = estimate_cross_elasticities(inputs).iloc[0]
    assert row["lo"] < 0 < row["hi"]
    assert row["note"].startswith("no clear cross effect")


def test_prices_moving_in_lock_step_are_flagged_not_estimated():
    inputs, _ = synthetic_substitutes(cross=0.8)
    sales = inputs.sales.copy()
    lead = sales[sales["sku_id"] == "SUB0"].groupby("date")["price"].median() / 80.0
    rel = sales["date"].map(lead).fillna(1.0)
    sales["price"] = sales["regular_price"] * rel
    flagged = estimate_cross_elasticities(PanelInputs(sales, inputs.skus, inputs.locations))
    row = flagged.iloc[0]
    assert not row["sufficient"] and pd.isna(row["cross_elasticity"])
    assert "move together" in row["note"]


def test_single_sku_subcategories_are_not_reported():
    inputs, _ = synthetic_substitutes(cross=0.8)
    skus = inputs.skus.assign(subcategory=["Chips", "Chips", "Namkeen", "Biscuits"])
    table = estimate_cross_elasticities(PanelInputs(inputs.sales, skus, inputs.locations))
    assert table["subcategory"].tolist() == ["Chips"]
