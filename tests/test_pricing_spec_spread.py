"""The specification term of the elasticity interval: each slope is refitted at the two
ends of the negative-binomial family (Poisson PML, where the biggest weeks decide, and the
log-scale end, where every week counts by its relative error) and the larger gap joins the
sampling variance. Planted panels: the gap is sampling noise when the constant-elasticity
mean is right, and large when it is not (stores that respond differently to price)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.pricing.elasticity import (ElasticityConfig, estimate_elasticities,
                                       pool_elasticities)
from engine.pricing.pml import GAMMA_PHI, pml_fe
from engine.pricing.synthetic import synthetic_weekly

PLANTED = [-1.2, -1.8, -2.4, -0.8, -1.5, -2.0, -1.0]


def _store_panel(slopes: np.ndarray, seed: int = 11, n_week: int = 120):
    """One SKU at len(slopes) stores x n_week weeks: store and week effects, stores priced
    apart, store s responding to price with slopes[s]; gamma-Poisson noise. Big stores
    (the first half) sell 20 times what the small ones do."""
    rng = np.random.default_rng(seed)
    n_store = len(slopes)
    store, week = (a.ravel() for a in np.meshgrid(np.arange(n_store), np.arange(n_week),
                                                  indexing="ij"))
    size = np.where(np.arange(n_store) < n_store // 2, np.log(400.0), np.log(20.0))
    lp = rng.normal(0, 0.12, len(store))
    eta = size[store] + rng.normal(0, 0.3, n_week)[week] + slopes[store] * lp
    y = rng.poisson(np.exp(eta) * rng.gamma(8.0, 1 / 8.0, len(store))).astype(float)
    return y, lp[None, :], store, week


def test_the_family_spread_is_the_gap_to_each_end_fitted_on_its_own():
    y, x, store, week = _store_panel(np.full(12, -2.0))
    zero = np.zeros(len(y), dtype=int)
    fit = pml_fe(y, x, zero, store, week, week, family=True)
    ends = [pml_fe(y, x, zero, store, week, week, dispersion=d).beta[0, 0]
            for d in (0.0, GAMMA_PHI)]
    assert fit.spread[0, 0] == pytest.approx(max(abs(e - fit.beta[0, 0]) for e in ends),
                                             abs=2e-3)
    assert pml_fe(y, x, zero, store, week, week).spread is None      # only when asked


def test_the_spread_is_sampling_noise_when_the_mean_is_right():
    y, x, store, week = _store_panel(np.full(12, -2.0))
    fit = pml_fe(y, x, np.zeros(len(y), dtype=int), store, week, week, family=True)
    assert abs(fit.beta[0, 0] + 2.0) < 3 * fit.se()[0, 0]
    assert fit.spread[0, 0] < 2 * fit.se()[0, 0]


def test_the_spread_is_large_when_stores_respond_differently():
    # big stores -3, small ones -1: Poisson PML follows the big stores' units, the
    # log-scale end weighs every store-week alike; no single slope is "the" answer, and
    # the spread says how far apart the two readings are
    slopes = np.r_[np.full(6, -3.0), np.full(6, -1.0)]
    y, x, store, week = _store_panel(slopes)
    fit = pml_fe(y, x, np.zeros(len(y), dtype=int), store, week, week, family=True)
    poisson = pml_fe(y, x, np.zeros(len(y), dtype=int), store, week, week, dispersion=0.0)
    assert poisson.beta[0, 0] < -2.6                     # the big stores decide
    assert fit.spread[0, 0] > 0.5 and fit.spread[0, 0] > 4 * fit.se()[0, 0]


def _raw(se, spec_se):
    n = len(se)
    return pd.DataFrame({
        "sku_id": [f"S{i}" for i in range(n)], "category": "C",
        "raw_elasticity": np.linspace(-2.5, -1.0, n), "raw_se": se, "spec_se": spec_se,
        "n_obs": 200, "price_periods": 40, "price_sd": 0.1, "n_pins": 10, "units": 1e4,
        "converged": True, "fe": "own", "identified": True, "spec": "nb-pml", "unit": "week"})


def test_the_interval_carries_the_spread_and_sufficiency_reads_the_sampling_error():
    raw = _raw([0.2, 0.3, 0.4], [0.0, 0.8, 0.1])
    table = pool_elasticities(raw, ElasticityConfig(shrink=False)).set_index("sku_id")
    assert table["sufficient"].all()             # 0.3 sampling SE: usable, spread or not
    expected = np.sqrt(np.array([0.2, 0.3, 0.4]) ** 2 + np.array([0.0, 0.8, 0.1]) ** 2)
    assert table["se"].to_numpy() == pytest.approx(expected)
    # pooled: the uncertain specification is pulled towards the category more
    raw = _raw([0.2] * 10, [0.0] * 9 + [0.6])
    pooled = pool_elasticities(raw).set_index("sku_id")
    pull = ((pooled["elasticity"] - pooled["raw_elasticity"]).abs()
            / (pooled["category_elasticity"] - pooled["raw_elasticity"]).abs())
    assert pull["S9"] > pull.drop("S9").max()


def test_planted_weekly_elasticities_are_inside_their_intervals_at_the_nominal_rate():
    inside = []
    for seed in (5, 6, 7):
        inputs, truth = synthetic_weekly(PLANTED, n_stores=30, zones=3, seed=seed)
        t = estimate_elasticities(inputs).merge(truth, on="sku_id", suffixes=("", "_true"))
        inside += list((t["lo"] <= t["elasticity_true"]) & (t["elasticity_true"] <= t["hi"]))
    assert np.mean(inside) >= 0.85                 # 21 intervals at a nominal 95%


def test_regional_cells_carry_the_spread_too():
    from engine.pricing.regional import RegionalConfig, pool_regional

    raw = _raw([0.2, 0.3, 0.4], [0.0, 0.8, 0.1]).assign(sku_id="S0",
                                                         region=["North", "South", "East"])
    national = pd.DataFrame({"sku_id": ["S0"], "elasticity": [-1.5], "se": [0.1],
                             "sufficient": [True]})
    table = pool_regional(raw, national, RegionalConfig(shrink=False)).set_index("region")
    assert table["sufficient"].all()
    expected = pd.Series(np.sqrt(np.array([0.2, 0.3, 0.4]) ** 2
                                 + np.array([0.0, 0.8, 0.1]) ** 2),
                         index=["North", "South", "East"])
    assert table["se"].to_numpy() == pytest.approx(expected[table.index].to_numpy())
