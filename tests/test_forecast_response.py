"""The vectorised response estimate (drivers.estimate_response: integer fixed-effect codes,
bincount demeaning) gives the same coefficients as the straightforward pandas version
(string series x month keys, groupby-transform demeaning, per-category / per-SKU loops)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast.drivers import estimate_response
from engine.forecast.features import Signals, normalize_history
from engine.signals.weather import weather_for


def _reference(history, signals=None, min_obs=200, shrink_days=30.0):
    """The textbook implementation the fast one must reproduce."""
    h = history.copy()
    if "temp_anom" not in h:
        base = normalize_history(h)
        h = base.join(h[["category"]]) if "category" in h else base
        wx = weather_for(h[["pin_code", "date"]], signals.weather, signals.locations)
        h["temp_anom"] = wx["temp_anom"].to_numpy()
        h["rain_anom"] = wx["rain_anom"].to_numpy()
    if "category" not in h:
        h["category"] = h["sku_id"].map(signals.skus.set_index("sku_id")["category"])
    h = h[h["quantity"] > 0].copy()
    reg = h["regular_price"].fillna(h["price"])
    h["log_rel_price"] = np.log((h["price"].fillna(reg) / reg).clip(0.2, 5)).fillna(0.0)
    h["promo_f"] = h["promo"].astype(float) if "promo" in h else 0.0
    h["temp_anom"] = h["temp_anom"].fillna(0.0)
    h["rain_anom"] = h["rain_anom"].fillna(0.0)
    h["logq"] = np.log(h["quantity"])
    h["fe"] = (h["sku_id"] + "|" + h["pin_code"] + "|"
               + pd.to_datetime(h["date"]).dt.strftime("%Y-%m"))
    cols = ["logq", "log_rel_price", "promo_f", "temp_anom", "rain_anom"]
    w = h[cols] - h[cols].groupby(h["fe"]).transform("mean")
    w["category"] = h["category"].fillna("unknown").to_numpy()
    w["sku_id"] = h["sku_id"].to_numpy()
    disc = h["log_rel_price"] < -0.01
    cat_rows, beta_of = [], {}
    for cat, part in w.groupby("category"):
        X = part[["log_rel_price", "promo_f", "temp_anom", "rain_anom"]].to_numpy()
        keep = X.std(axis=0) > 1e-9
        if keep[0] and keep[1] and abs(np.corrcoef(X[:, 0], X[:, 1])[0, 1]) > 0.9:
            keep[1] = False
        beta = np.zeros(4)
        if len(part) >= min_obs and keep.any():
            beta[keep] = np.linalg.lstsq(X[:, keep], part["logq"].to_numpy(), rcond=None)[0]
        beta[0] = min(beta[0], 0.0)      # demand never rises with its own price
        d = -h.loc[part.index, "log_rel_price"][disc.loc[part.index]]
        beta_of[cat] = beta
        cat_rows.append({"category": cat, "elasticity": beta[0], "promo_coef": beta[1],
                         "temp_coef": beta[2], "rain_coef": beta[3],
                         "typical_discount": float(1 - np.exp(-d.median())) if len(d) else 0.1,
                         "n_obs": len(part)})
    sku_rows = []
    for sku, part in w.groupby("sku_id"):
        cat = part["category"].iloc[0]
        b = beta_of.get(cat, np.zeros(4))
        resid = part["logq"] - part[["promo_f", "temp_anom", "rain_anom"]].to_numpy() @ b[1:]
        x = part["log_rel_price"].to_numpy()
        n_disc = int(disc.loc[part.index].sum())
        own = float(x @ resid / (x @ x)) if x @ x > 1e-9 else b[0]
        k = n_disc / (n_disc + shrink_days)
        shrunk = k * own + (1 - k) * b[0]
        sku_rows.append({"sku_id": sku, "category": cat,
                         "elasticity": b[0] if shrunk > 0 else shrunk,
                         "n_discount_days": n_disc})
    return pd.DataFrame(sku_rows), pd.DataFrame(cat_rows)


@pytest.fixture(scope="module")
def market():
    """Three categories (one with promotions that are not just price cuts, one whose SKU
    never changes price, one SKU with no category), two cities, 14 months of daily sales
    with zeros, missing prices and a planted price / temperature response."""
    rng = np.random.default_rng(7)
    dates = pd.date_range("2023-11-01", "2024-12-31")
    cities = {"110001": "Delhi", "110002": "Delhi", "400001": "Mumbai"}
    skus = pd.DataFrame({"sku_id": ["A1", "A2", "B1", "C1", "Z9"],
                         "category": ["Cold Beverages", "Cold Beverages", "Snacks", "Staples",
                                      None]})
    doy = dates.dayofyear.to_numpy()
    weather = pd.concat([pd.DataFrame({
        "city": c, "date": dates,
        "temp_c": 26 + 8 * np.sin(2 * np.pi * doy / 365) + rng.normal(0, 2, len(dates)) + k,
        "rainfall_mm": rng.gamma(0.6, 6, len(dates)), "humidity": 60.0})
        for k, c in enumerate(["Delhi", "Mumbai"])], ignore_index=True)
    locations = pd.DataFrame({"pin_code": list(cities), "city": list(cities.values())})
    rows = []
    for sku, cat in zip(skus["sku_id"], skus["category"]):
        for pin in cities:
            n = len(dates)
            cut = rng.random(n) < (0.0 if sku == "C1" else 0.2)
            price = np.where(cut, 100 * (1 - rng.uniform(0.05, 0.3, n)), 100.0)
            promo = cut | (rng.random(n) < (0.1 if cat == "Snacks" else 0.0))
            lam = np.exp(1.5 - 1.2 * np.log(price / 100) + 0.3 * promo
                         + 0.02 * rng.normal(0, 3, n))
            qty = rng.poisson(lam).astype(float)
            price = np.where(rng.random(n) < 0.03, np.nan, price)
            rows.append(pd.DataFrame({"sku_id": sku, "pin_code": pin, "date": dates,
                                      "quantity": qty, "price": price,
                                      "regular_price": 100.0, "promo": promo}))
    history = pd.concat(rows, ignore_index=True)
    return history, Signals(skus=skus, locations=locations, weather=weather)


def _assert_same(fast, ref_sku, ref_cat):
    pd.testing.assert_frame_equal(fast.category.reset_index(drop=True), ref_cat,
                                  check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(fast.sku.reset_index(drop=True), ref_sku,
                                  check_exact=False, rtol=1e-9, atol=1e-9)


def test_fast_response_equals_reference_when_weather_is_joined(market):
    history, signals = market
    ref_sku, ref_cat = _reference(history, signals, min_obs=50)
    fast = estimate_response(history, signals, min_obs=50)
    assert set(ref_cat["category"]) == {"Cold Beverages", "Snacks", "Staples", "unknown"}
    _assert_same(fast, ref_sku, ref_cat)
    cb = fast.category.set_index("category").loc["Cold Beverages"]
    assert cb["elasticity"] < -0.3      # planted -1.2 (attenuated: only days with sales)


def test_fast_response_equals_reference_on_a_panel_with_anomalies(market):
    history, signals = market
    panel = history.sample(frac=1.0, random_state=3)      # unsorted, like any panel slice
    wx = weather_for(panel[["pin_code", "date"]], signals.weather, signals.locations)
    panel = panel.assign(temp_anom=wx["temp_anom"].to_numpy(),
                         rain_anom=wx["rain_anom"].to_numpy(),
                         category=panel["sku_id"].map(signals.skus.set_index("sku_id")
                                                      ["category"]))
    ref_sku, ref_cat = _reference(panel, signals, min_obs=50, shrink_days=10.0)
    _assert_same(estimate_response(panel, signals, min_obs=50, shrink_days=10.0),
                 ref_sku, ref_cat)


def test_fast_response_keeps_small_categories_at_zero_like_the_reference(market):
    history, signals = market
    ref_sku, ref_cat = _reference(history, signals, min_obs=10_000)
    fast = estimate_response(history, signals, min_obs=10_000)
    _assert_same(fast, ref_sku, ref_cat)
    assert (fast.category[["elasticity", "promo_coef", "temp_coef", "rain_coef"]] == 0).all().all()


def test_normalize_history_sums_duplicate_rows_and_keeps_unique_ones():
    h = pd.DataFrame({"sku_id": ["A", "A", "A", "B"], "pin_code": [110001, "110001", "110001",
                                                                    "110001"],
                      "date": pd.to_datetime(["2024-01-01", "2024-01-01 10:30", "2024-01-02",
                                              "2024-01-01"], format="mixed"),
                      "quantity": [2, 3, 1, 4], "price": [10.0, 12.0, 10.0, 5.0]})
    out = normalize_history(h).sort_values(["sku_id", "date"]).reset_index(drop=True)
    assert out["quantity"].tolist() == [5, 1, 4]
    assert out["price"].tolist() == [11.0, 10.0, 5.0]
    unique = normalize_history(h.iloc[1:])
    assert len(unique) == 3 and list(unique.index) == [1, 2, 3]


def test_a_sku_whose_demand_rises_with_its_price_takes_its_category_elasticity(market):
    """Own-price responses are never positive in the what-if: an SKU whose estimated
    slope comes out positive (here planted: sales follow its price up) takes its
    category's elasticity, and a category with a positive estimate has none (0)."""
    history, signals = market
    h = history.copy()
    up = h["sku_id"].eq("A2")
    h.loc[up, "quantity"] = np.round(h.loc[up, "quantity"] * (h.loc[up, "price"].fillna(100)
                                                             / 100) ** 6)
    fast = estimate_response(h, signals)
    cat = fast.category.set_index("category")["elasticity"]
    sku = fast.sku.set_index("sku_id")["elasticity"]
    assert (cat <= 0).all() and (sku <= 0).all()
    assert sku["A2"] == pytest.approx(cat["Cold Beverages"])
    assert sku["A1"] < 0 and sku["A1"] != pytest.approx(cat["Cold Beverages"])
