"""`expected_demand`: the demo generator's noise-free demand mu, checked against planted
facts (the active series, the launch rule, the gamma-Poisson noise model and the Diwali
multiplier in `festival_effects`), never against numbers copied from a run."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.demo import DemoConfig, expected_demand, generate
from engine.signals.festivals import festival_uplift

END = date(2025, 12, 31)   # Diwali 2025 (20-Oct) and a full year are inside
CFG = DemoConfig.small(end_date=END)
KEYS = ["sku_id", "pin_code"]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return generate(CFG)


@pytest.fixture(scope="module")
def mu(frames) -> pd.DataFrame:
    """expected_demand with category, state and the SKU's gamma shape attached."""
    truth = frames["demo_truth"].assign(shape=lambda t: np.where(t["intermittent"], 1.5, 6.0))
    return (expected_demand(CFG)
            .merge(truth[["sku_id", "category", "shape"]], on="sku_id")
            .merge(frames["locations"][["pin_code", "state"]], on="pin_code"))


def test_expected_demand_has_one_row_per_active_series_per_day(frames, mu):
    series = frames["inventory"][KEYS]           # the inventory holds every active series
    dates = CFG.date_range()
    assert len(mu) == len(series) * len(dates)
    assert not mu.duplicated(KEYS + ["date"]).any()
    got = mu[KEYS].drop_duplicates().sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, series.sort_values(KEYS).reset_index(drop=True))
    assert (mu.groupby(KEYS)["date"].nunique() == len(dates)).all()
    assert mu["date"].min() == dates[0] and mu["date"].max() == dates[-1]


def test_expected_demand_is_positive_except_before_a_new_sku_launches(frames, mu):
    assert np.isfinite(mu["mu"]).all() and (mu["mu"] >= 0).all()
    zero_skus = set(mu.loc[mu["mu"] == 0, "sku_id"])
    assert len(zero_skus) == round(CFG.new_sku_share * len(frames["skus"]))
    # zeros only in a leading run: once a series has demand, it keeps it
    ordered = mu.sort_values(KEYS + ["date"])
    started = (ordered["mu"] > 0).astype(int).groupby(
        [ordered["sku_id"], ordered["pin_code"]]).cummax()
    assert ((ordered["mu"] > 0) == started.astype(bool)).all()
    sold = frames["sales_daily"].merge(mu, on=KEYS + ["date"], how="left")
    assert (sold["mu"] > 0).all(), "a sale on a day without expected demand"


def test_sales_total_matches_expected_demand_within_the_noise(frames, mu):
    """Quantities are gamma-Poisson around mu: var = mu + mu^2 / shape per series-day, so
    each category's total sales stay within 4 standard deviations of its total mu."""
    sales = frames["sales_daily"].merge(frames["skus"][["sku_id", "category"]], on="sku_id")
    actual = sales.groupby("category")["quantity"].sum()
    agg = mu.assign(var=mu["mu"] + mu["mu"] ** 2 / mu["shape"]).groupby("category")[
        ["mu", "var"]].sum()
    gap = (actual.reindex(agg.index, fill_value=0) - agg["mu"]).abs()
    assert (gap <= 4 * np.sqrt(agg["var"])).all(), gap / np.sqrt(agg["var"])
    for dense in ("Dairy", "Staples"):
        assert gap[dense] / agg.loc[dense, "mu"] < 0.03


def test_sweets_expected_demand_on_diwali_carries_the_planted_multiplier(frames, mu):
    cal, effects = frames["festivals"], frames["festival_effects"]
    diwali = cal.loc[(cal["name"] == "Diwali") & (cal["date"].dt.year == 2025), "date"].iat[0]
    planted = effects.loc[(effects["name"] == "Diwali") & (effects["category"] == "Sweets"),
                          "multiplier"].iat[0]
    sweets = mu[mu["category"] == "Sweets"]
    states = sorted(sweets["state"].unique())
    # same weekday 4-6 weeks after Diwali, outside every festival window in every state
    controls = [diwali + pd.Timedelta(weeks=w) for w in (4, 5, 6)]
    grid = pd.DataFrame({"date": np.repeat(controls, len(states)),
                         "state": states * len(controls), "category": "Sweets"})
    assert (festival_uplift(grid, cal, effects) == 1.0).all()
    on_day = sweets.loc[sweets["date"] == diwali, "mu"].sum()
    outside = sweets.loc[sweets["date"].isin(controls), "mu"].sum() / len(controls)
    assert on_day / outside == pytest.approx(planted, rel=0.15)


def test_expected_demand_window_is_the_same_slice_of_the_full_frame(mu):
    window = expected_demand(CFG, start="2025-10-01", end="2025-10-31")
    full = mu.loc[mu["date"].between("2025-10-01", "2025-10-31"),
                  KEYS + ["date", "mu"]]
    assert window["date"].min() == pd.Timestamp("2025-10-01")
    assert window["date"].max() == pd.Timestamp("2025-10-31")
    pd.testing.assert_frame_equal(
        window.sort_values(KEYS + ["date"]).reset_index(drop=True),
        full.sort_values(KEYS + ["date"]).reset_index(drop=True))


def test_expected_demand_window_outside_the_demo_is_refused():
    with pytest.raises(ValueError, match="none of the demo's dates"):
        expected_demand(CFG, start="2030-01-01", end="2030-01-31")
