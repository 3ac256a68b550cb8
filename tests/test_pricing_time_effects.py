"""Common time effects, promotion controls and the data's grain in the elasticity estimate.

Planted weekly panels where a fit without common time effects and promotion controls (the
previous specification) is clearly wrong: every week has a demand shock shared by all SKUs,
and the chain runs each SKU's price cuts (with in-store displays) in its high-demand weeks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.pricing.elasticity import (PanelInputs, category_panels, estimate_elasticities,
                                       fit_raw_elasticities)
from engine.pricing.panel import detect_grain, grain_of
from engine.pricing.pml import pml_fe
from engine.pricing.synthetic import synthetic_sales, synthetic_weekly

PLANTED = [-1.2, -1.8, -2.4, -0.8, -1.5, -2.0, -1.0]


def _previous_spec(inputs: PanelInputs) -> pd.Series:
    """Poisson PML per SKU of units on log price with store effects only: no common time
    effects, no promotion controls."""
    out = {}
    for sku, g in inputs.sales.groupby("sku_id"):
        store = pd.factorize(g["pin_code"])[0]
        fit = pml_fe(g["quantity"].to_numpy(), np.log(g["price"].to_numpy())[None, :],
                     np.zeros(len(g), dtype=int), store, np.zeros(len(g), dtype=int),
                     pd.factorize(g["date"])[0], dispersion=0.0)
        out[sku] = fit.beta[0, 0]
    return pd.Series(out)


def _compare(inputs, truth) -> pd.DataFrame:
    table = estimate_elasticities(inputs).merge(truth, on="sku_id", suffixes=("", "_true"))
    return table.assign(previous=table["sku_id"].map(_previous_spec(inputs)))


@pytest.fixture(scope="module")
def chain():
    return synthetic_weekly(PLANTED, n_stores=30, zones=3)


@pytest.fixture(scope="module")
def one_store():
    return synthetic_weekly(PLANTED, n_stores=1, zones=1, base_units=400, promo_flag=False)


def test_previous_spec_reads_shocks_and_displays_as_price_response(chain):
    m = _compare(*chain)
    # without time effects and promotion controls every SKU looks far more elastic
    assert (m["previous"] < m["elasticity_true"] - 1.0).all()
    # with them the planted values are recovered
    err = (m["elasticity"] - m["elasticity_true"]).abs()
    assert err.median() < 0.3 and err.max() < 0.6
    inside = (m["lo"] <= m["elasticity_true"]) & (m["elasticity_true"] <= m["hi"])
    assert inside.sum() >= 5
    assert np.corrcoef(m["elasticity"], m["elasticity_true"])[0, 1] > 0.9


def test_stores_priced_apart_give_each_sku_its_own_week_effects(chain):
    raw = fit_raw_elasticities(chain[0])
    assert (raw["fe"] == "own").all()
    assert raw["spec"].str.contains("store + week FE", regex=False).all()
    # the chain-wide displays and promotion weeks are the same in every store, so the
    # SKU's week effects absorb them; promo only marks the price cut anyway
    assert not raw["spec"].str.contains("promo|display").any()


def test_single_store_skus_share_their_category_week_effects(one_store):
    m = _compare(*one_store)
    assert (m["previous"] < m["elasticity_true"] - 1.0).all()
    err = (m["elasticity"] - m["elasticity_true"]).abs()
    assert err.median() < 0.45
    inside = (m["lo"] <= m["elasticity_true"]) & (m["elasticity_true"] <= m["hi"])
    assert inside.sum() >= 5
    spec = m.loc[m["sufficient"], "spec"]
    assert spec.str.contains("store + category x week FE (7 SKUs jointly)", regex=False).all()
    assert spec.str.contains("display controls", regex=False).all()


def test_weekly_rows_stay_weekly(chain):
    inputs, _ = chain
    ctx, panels = category_panels(inputs)
    assert ctx.grain == "W"
    assert sum(len(p.y) for p in panels) == len(inputs.sales)      # no invented days
    assert (fit_raw_elasticities(inputs)["unit"] == "week").all()


def test_daily_rows_are_filled_with_zero_days_within_each_series_span():
    inputs, _ = synthetic_sales(n_skus=2, n_pins=2, n_days=120, base_units=0.8)
    ctx, panels = category_panels(inputs)
    assert ctx.grain == "D"
    s = inputs.sales
    span = s.groupby(["sku_id", "pin_code"])["date"].agg(lambda d: (d.max() - d.min()).days + 1)
    assert sum(len(p.y) for p in panels) == span.sum() > len(s)
    assert sum(p.y.sum() for p in panels) == s["quantity"].sum()


def test_grain_is_read_from_the_dates():
    days = pd.date_range("2024-01-01", periods=90, freq="D")
    weeks = pd.date_range("2024-01-03", periods=30, freq="7D")
    months = pd.date_range("2024-01-01", periods=18, freq="MS")

    def frame(dates, skip=1):
        return pd.DataFrame({"sku_id": "A", "pin_code": "560001", "date": dates[::skip]})

    assert grain_of(frame(days)) == "D"
    assert grain_of(frame(days, skip=3)) == "D"      # a slow seller's sparse days
    assert grain_of(frame(weeks)) == "W"
    assert grain_of(frame(weeks, skip=2)) == "W"     # missing weeks stay weekly
    assert grain_of(frame(months)) == "M"
    assert detect_grain(np.zeros(2, dtype=int), np.array([0, 7]), pd.Timestamp("2024-01-01")) == "D"


def test_a_promo_flag_that_only_repeats_the_finer_flags_is_not_a_control(one_store):
    inputs, _ = one_store
    sales = inputs.sales.assign(feature=0.0, promo=inputs.sales["display"] > 0)
    raw = fit_raw_elasticities(PanelInputs(sales, inputs.skus, inputs.locations))
    assert raw["spec"].str.contains("display controls", regex=False).all()
    assert not raw["spec"].str.contains("promo").any()


def test_a_promo_flag_with_its_own_lift_is_a_control(chain):
    inputs, _ = chain
    rng = np.random.default_rng(1)
    coupon = rng.random(len(inputs.sales)) < 0.1           # e.g. in-store coupons
    sales = inputs.sales.assign(promo=coupon)
    raw = fit_raw_elasticities(PanelInputs(sales, inputs.skus, inputs.locations))
    assert raw["spec"].str.contains("promo controls", regex=False).all()


def test_a_sku_with_nothing_to_compare_its_price_moves_with_takes_the_category_value():
    inputs, _ = synthetic_sales(n_skus=5, n_pins=3, n_days=400,
                                elasticities=[-1.0, -1.2, -1.4, -0.8, -1.1])
    sales = inputs.sales
    alone = (sales["sku_id"] == "SKU0004") & (sales["pin_code"] == sales["pin_code"].iloc[0])
    sales = pd.concat([sales[sales["sku_id"] != "SKU0004"], sales[alone]])
    skus = inputs.skus.assign(category=["Snacks"] * 4 + ["Dairy"])
    table = estimate_elasticities(PanelInputs(sales, skus, inputs.locations, inputs.weather,
                                              inputs.festival)).set_index("sku_id")
    row = table.loc["SKU0004"]
    assert not row["sufficient"] and row["method"] == "category_fallback"
    assert "no comparison for its price moves" in row["note"]
    assert table.loc["SKU0000", "sufficient"]


def test_pml_recovers_planted_slopes_with_store_and_shared_time_effects():
    rng = np.random.default_rng(3)
    n_sku, n_store, n_week = 3, 6, 80
    sku, store, week = (a.ravel() for a in np.meshgrid(np.arange(n_sku), np.arange(n_store),
                                                        np.arange(n_week), indexing="ij"))
    series = sku * n_store + store
    x = rng.normal(0, 0.15, (2, len(sku)))
    beta = np.array([[-1.5, 0.4], [-0.7, 0.0], [-2.2, 0.8]])
    eta = (rng.normal(2.0, 0.4, n_sku * n_store)[series] + rng.normal(0, 0.5, n_week)[week]
           + np.einsum("ki,ik->i", x, beta[sku]))
    y = rng.poisson(np.exp(eta) * rng.gamma(5.0, 0.2, len(sku))).astype(float)
    for dispersion in (0.0, None):                 # Poisson PML and NB PML
        fit = pml_fe(y, x, sku, series, week, week, dispersion=dispersion)
        assert fit.converged and fit.identified.all()
        assert (np.abs(fit.beta - beta) <= 3 * fit.se()).all()
    assert fit.dispersion == pytest.approx(0.2, abs=0.08)    # gamma(5) noise: phi = 1/5


def test_pml_flags_a_slope_the_time_effects_absorb():
    rng = np.random.default_rng(4)
    store, week = (a.ravel() for a in np.meshgrid(np.arange(5), np.arange(60), indexing="ij"))
    common = rng.normal(0, 0.1, 60)[week]          # one price for every store each week
    y = rng.poisson(np.exp(2 - 1.5 * common)).astype(float)
    fit = pml_fe(y, common[None, :], np.zeros(len(y), dtype=int), store, week, week)
    assert not fit.identified[0, 0] and np.isnan(fit.se()[0, 0])


def test_the_lagged_price_absorbs_a_post_promotion_dip():
    # shoppers stock up in deal weeks and buy less the week after: a temporary cut sells
    # elasticity - 1, a lasting one the planted elasticity. Without the lagged price the
    # deals read as the lasting response (too elastic); with it the planted values return
    from engine.pricing.elasticity import ElasticityConfig

    inputs, truth = synthetic_weekly(PLANTED, n_stores=30, zones=3, dip=1.0)
    plain = estimate_elasticities(inputs).merge(truth, on="sku_id", suffixes=("", "_true"))
    lagged = estimate_elasticities(inputs, ElasticityConfig(lagged_price=True)).merge(
        truth, on="sku_id", suffixes=("", "_true"))
    bias = (plain["elasticity"] - plain["elasticity_true"])
    assert bias.mean() < -0.5 and (bias < 0).all()
    assert not plain["spec"].str.contains("lagged price").any()
    # the lagged price costs precision (it and the price move together), not accuracy
    err = lagged["elasticity"] - lagged["elasticity_true"]
    assert abs(err.mean()) < 0.2 and err.abs().max() < 0.7
    inside = (lagged["lo"] <= lagged["elasticity_true"]) & (
        lagged["elasticity_true"] <= lagged["hi"])
    assert inside.sum() >= 5
    assert lagged["spec"].str.contains("lagged price controls", regex=False).all()


def test_the_lagged_price_changes_nothing_without_a_dip(chain):
    from engine.pricing.elasticity import ElasticityConfig

    inputs, truth = chain
    lagged = estimate_elasticities(inputs, ElasticityConfig(lagged_price=True)).merge(
        truth, on="sku_id", suffixes=("", "_true"))
    err = (lagged["elasticity"] - lagged["elasticity_true"]).abs()
    assert err.median() < 0.3 and err.max() < 0.6


def test_previous_period_price_per_grain():
    from engine.pricing.panel import _previous_period

    x = np.log(np.array([1.0, 0.8, 1.0, 1.0, 0.9, 1.0]))
    sku = np.zeros(6, dtype=int)
    # weekly, two series (PINs) of one SKU; the second skips period 2 (no row)
    series = np.array([0, 0, 0, 1, 1, 1])
    period = np.array([0, 1, 2, 0, 1, 3])
    prev = _previous_period(x, sku, series, period, "W")
    assert prev[0] == x[0]                          # nothing before: no move
    assert prev[1] == x[0] and prev[2] == x[1]
    assert prev[4] == x[3]
    assert prev[5] == pytest.approx(x[2])           # period 2 from the SKU's other PIN
    # daily: the mean of the 7 days before, within the series
    d = np.log(np.r_[np.full(7, 0.8), 1.0, 1.0])
    prev = _previous_period(d, np.zeros(9, dtype=int), np.zeros(9, dtype=int),
                            np.arange(9) // 7, "D")
    assert prev[7] == pytest.approx(np.log(0.8))
    assert prev[8] == pytest.approx((6 * np.log(0.8)) / 7)
