"""Cross-price elasticity within a subcategory: a planted substitute pair is recovered, no
effect is not invented, and prices that cannot separate own from cross effects (lock-step
prices, or a subcategory that is the whole category) are flagged instead of estimated. The
interval carries the cross slope's PPML-to-log-scale spread (the specification term of the
own-price intervals): small on clean planted panels, large when stores respond
differently."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.pricing.cross import (CrossConfig, estimate_cross_elasticities,
                                  pool_cross_elasticities, sku_cross_estimates)
from engine.pricing.elasticity import PanelInputs
from engine.pricing.synthetic import synthetic_substitutes


def _chips(table: pd.DataFrame) -> pd.Series:
    return table.set_index("subcategory").loc["Chips"]


def test_planted_substitute_pair_is_recovered_with_a_positive_interval():
    inputs, planted = synthetic_substitutes(cross=0.8)
    row = _chips(estimate_cross_elasticities(inputs))
    assert row["n_skus"] == 2 and row["sufficient"]
    assert row["lo"] <= planted <= row["hi"]
    assert row["lo"] > 0 and row["note"].startswith("substitutes")


def test_no_planted_cross_effect_gives_an_interval_around_zero():
    inputs, _ = synthetic_substitutes(cross=0.0)
    table = estimate_cross_elasticities(inputs)
    for sub in ("Chips", "Biscuits"):           # Biscuits never had a cross effect
        row = table.set_index("subcategory").loc[sub]
        assert row["lo"] < 0 < row["hi"]
        assert row["note"].startswith("no clear cross effect")


def test_prices_moving_in_lock_step_are_flagged_not_estimated():
    inputs, _ = synthetic_substitutes(cross=0.8)
    sales = inputs.sales.copy()
    lead = sales[sales["sku_id"] == "SUB0"].groupby("date")["price"].median() / 80.0
    follower = sales["sku_id"] == "SUB1"
    sales.loc[follower, "price"] = (sales.loc[follower, "regular_price"]
                                    * sales.loc[follower, "date"].map(lead).fillna(1.0))
    row = _chips(estimate_cross_elasticities(PanelInputs(sales, inputs.skus, inputs.locations)))
    assert not row["sufficient"] and pd.isna(row["cross_elasticity"])
    assert "move together" in row["note"]


def _weekly(sales: pd.DataFrame) -> pd.DataFrame:
    """The daily sales as a weekly export: units summed, the week's average price."""
    week = sales["date"] + pd.to_timedelta(6 - sales["date"].dt.dayofweek, unit="D")
    return (sales.assign(date=week, revenue=sales["quantity"] * sales["price"])
            .groupby(["sku_id", "pin_code", "date"], as_index=False)
            .agg(quantity=("quantity", "sum"), revenue=("revenue", "sum"),
                 regular_price=("regular_price", "max"))
            .assign(price=lambda d: d["revenue"] / d["quantity"]))


def test_a_subcategory_that_is_its_whole_category_cannot_separate_own_from_cross():
    # weekly rows, every SKU a substitute of the others, (nearly) one price everywhere:
    # the category's week effects absorb the others' average price, what is left of it
    # moves against the SKU's own price, and the cross effect is flagged, not guessed
    inputs, _ = synthetic_substitutes(cross=0.8)
    skus = inputs.skus.assign(subcategory="Chips")
    weekly = PanelInputs(_weekly(inputs.sales), skus, inputs.locations)
    row = _chips(estimate_cross_elasticities(weekly))
    assert not row["sufficient"] and pd.isna(row["cross_elasticity"])
    assert "cannot be separated" in row["note"]


def test_single_sku_subcategories_are_not_reported():
    inputs, _ = synthetic_substitutes(cross=0.8)
    skus = inputs.skus.assign(subcategory=["Chips", "Chips", "Namkeen", "Biscuits",
                                           "Biscuits"])
    table = estimate_cross_elasticities(PanelInputs(inputs.sales, skus, inputs.locations))
    assert table["subcategory"].tolist() == ["Biscuits", "Chips"]


def test_subcategory_pooling_uses_the_paule_mandel_random_effects_mean():
    # per-SKU cross estimates with very different precisions: the pooled value is the
    # Paule-Mandel random-effects mean and its interval carries the between-SKU spread
    from engine.pricing.pooling import random_effects

    b, se = np.array([0.9, 0.1, 0.5, -0.2]), np.array([0.05, 0.05, 0.3, 0.3])
    row = pool_cross_elasticities(_per_sku(b, se, np.zeros(4))).iloc[0]
    mu, var, tau2 = random_effects(b, se)
    assert tau2 > 0.1
    assert row["cross_elasticity"] == pytest.approx(mu)
    assert row["se"] == pytest.approx(np.sqrt(var))


def _per_sku(b, se, spec_se) -> pd.DataFrame:
    return pd.DataFrame({"sku_id": [f"S{i}" for i in range(len(b))], "category": "C",
                         "subcategory": "S", "cross_raw": b, "cross_se": se,
                         "cross_spec_se": spec_se, "other_sd": 0.05, "corr": 0.1,
                         "identified": True,
                         "spec": [f"nb-pml, SE + {g:.2f} PPML-to-log-scale spread"
                                  for g in spec_se]})


def test_the_spec_term_joins_the_pooling_and_sufficiency_reads_the_sampling_error():
    from engine.pricing.pooling import random_effects

    b, se, gap = np.array([0.9, 0.7, 0.8]), np.full(3, 0.1), np.array([1.2, 0.9, 0.3])
    row = pool_cross_elasticities(_per_sku(b, se, gap), CrossConfig(max_se=0.2)).iloc[0]
    mu, var, _ = random_effects(b, np.hypot(se, gap))
    assert row["cross_elasticity"] == pytest.approx(mu)
    assert row["se"] == pytest.approx(np.sqrt(var))
    assert row["se"] > 0.2 and row["sufficient"]       # the sampling SE is 0.1 / sqrt(3)
    assert row["spec"].startswith("nb-pml, SE + 1.20 PPML-to-log-scale spread")
    assert "random-effects pooled over 3 SKUs" in row["spec"]


def test_planted_cross_effects_are_inside_their_intervals_at_the_nominal_rate():
    inside, ratio = [], []
    for seed in range(1, 9):
        inputs, planted = synthetic_substitutes(cross=0.8, seed=seed)
        table = estimate_cross_elasticities(inputs).set_index("subcategory")
        for sub, truth in (("Chips", planted), ("Biscuits", 0.0)):
            inside.append(table.at[sub, "lo"] <= truth <= table.at[sub, "hi"])
            assert "random-effects pooled" in table.at[sub, "spec"]
        per = sku_cross_estimates(inputs)
        ratio += list(per["cross_spec_se"] / per["cross_se"])
    assert np.mean(inside) >= 0.85 and len(inside) == 16      # nominal 95%
    assert np.median(ratio) < 0.5          # clean panel: the spread is sampling noise


def test_the_spec_term_is_large_when_stores_respond_differently():
    # three big stores (200 units a day) switch strongly (cross 2), three small ones (5 a
    # day) not at all: Poisson PML follows the big stores, the log-scale end weighs every
    # store-day alike; the spread says so and widens the interval
    inputs, _ = synthetic_substitutes(n_pins=6, pin_cross=[2.0] * 3 + [0.0] * 3,
                                      pin_units=[200.0] * 3 + [5.0] * 3)
    per = sku_cross_estimates(inputs).set_index("sku_id")
    for sku in ("SUB0", "SUB1"):
        assert per.at[sku, "cross_spec_se"] > 0.5
        assert per.at[sku, "cross_spec_se"] > 4 * per.at[sku, "cross_se"]
        assert f"SE + {per.at[sku, 'cross_spec_se']:.2f} PPML-to-log-scale spread" in \
            per.at[sku, "spec"]
    row = _chips(estimate_cross_elasticities(inputs))
    assert row["se"] > 2 * np.sqrt(1 / (1 / per.loc[["SUB0", "SUB1"], "cross_se"] ** 2).sum())
