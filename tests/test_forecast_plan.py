"""Price and promotion plans as forecast inputs: which plan row wins, a planted promotion
that only the plan-aware forecast catches (LightGBM reads it; the other models are scaled
by its response), and backtests that use the prices actually charged in each fold."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast.config import ForecastConfig
from engine.forecast.features import build_panel
from engine.forecast.plan import actual_plan, resolve
from engine.forecast.pipeline import forecast_full
from engine.forecast.runner import fit_predict

SERIES = pd.DataFrame({"sku_id": ["A", "A", "B"], "pin_code": ["110001", "400001", "110001"],
                       "category": ["Oil", "Oil", "Oil"], "city": ["Delhi", "Mumbai", "Delhi"],
                       "state": ["Delhi", "Maharashtra", "Delhi"]})


def _rows(*rows) -> pd.DataFrame:
    cols = ["plan_version", "row_no", "sku_id", "category", "pin_code", "city", "state",
            "date_from", "date_to", "price", "discount_pct", "promo_type"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


def test_newest_version_then_the_most_specific_row_wins():
    days = pd.date_range("2026-03-01", periods=4, freq="D")
    rows = _rows(
        (1, 1, None, "Oil", None, None, None, "2026-03-01", "2026-03-04", None, 10.0, None),
        (1, 2, "A", None, None, "Delhi", None, "2026-03-01", "2026-03-04", 90.0, None, "display"),
        (1, 3, "A", None, "110001", None, None, "2026-03-02", "2026-03-02", 80.0, None, "bundle"),
        (2, 1, None, "Oil", None, None, "Maharashtra", "2026-03-03", "2026-03-04", None, 20.0,
         "feature"))
    got = resolve(rows, SERIES, days, "D").set_index(["sku_id", "pin_code", "date"])
    a_del = got.loc[("A", "110001")]
    assert a_del.loc["2026-03-01", "price"] == 90.0          # SKU x city beats category
    assert a_del.loc["2026-03-02", "promo_type"] == "bundle"  # SKU x PIN beats SKU x city
    assert a_del.loc["2026-03-02", "price"] == 80.0
    b_del = got.loc[("B", "110001")]                          # category row, no type given:
    assert (b_del["discount_pct"] == 10.0).all()              # the discount is a price cut
    assert (b_del["promo_type"] == "price_cut").all() and (b_del["promo"] == 1).all()
    a_mum = got.loc[("A", "400001")]
    assert a_mum.loc["2026-03-01", "discount_pct"] == 10.0    # only version 1 covers it
    assert a_mum.loc["2026-03-04", "discount_pct"] == 20.0    # version 2 supersedes
    assert a_mum.loc["2026-03-04", "plan_version"] == 2
    assert len(got) == 3 * 4


def test_weekly_plans_cover_weeks_by_their_days():
    weeks = pd.date_range("2026-03-07", periods=3, freq="7D")   # labels = the weeks' last day
    rows = _rows(
        (1, 1, "A", None, "110001", None, None, "2026-03-03", "2026-03-03", 70.0, None, None),
        (1, 2, "B", None, None, None, None, "2026-03-12", "2026-03-15", 50.0, None, "price_cut"))
    got = resolve(rows, SERIES, weeks, "W")
    a = got[got["sku_id"] == "A"]
    assert list(a["date"]) == [pd.Timestamp("2026-03-07")]      # one date plans its week
    assert a["plan_share"].iloc[0] == 1.0 and np.isnan(a["promo"].iloc[0])
    b = got[got["sku_id"] == "B"].set_index("date")
    # 12-14 Mar lie in the week ending 14 Mar (3 of 7 days), 15 Mar in the next
    assert b.loc["2026-03-14", "plan_share"] == pytest.approx(3 / 7)
    assert b.loc["2026-03-21", "plan_share"] == pytest.approx(1 / 7)
    assert resolve(rows.iloc[:0], SERIES, weeks, "W").empty


def _promo_history(weeks=130, n_series=16, lift=3.0, seed=3):
    """Weekly series with promotions (price -25%) in random weeks that lift sales `lift`x."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-07", periods=weeks, freq="7D")
    rows = []
    for i in range(n_series):
        base = rng.uniform(20, 60)
        promo = rng.random(weeks) < 0.2
        q = rng.poisson(base * np.where(promo, lift, 1.0))
        rows.append(pd.DataFrame({"sku_id": f"S{i:02d}", "pin_code": "110001", "date": dates,
                                  "quantity": q.astype(float),
                                  "price": np.where(promo, 75.0, 100.0),
                                  "regular_price": 100.0, "promo": promo}))
    return pd.concat(rows, ignore_index=True)


CFG = ForecastConfig(horizon=8, workers=1, lgb_rounds=80, folds=2,
                     models=("moving_average", "lightgbm"))


def _planned_cut(hist: pd.DataFrame, n_series: int):
    """The 8 weeks after `hist` and a plan promoting every series at 25% off in the
    fourth of them (the resolved plan rows fit_predict reads)."""
    future = pd.date_range(hist["date"].max() + pd.Timedelta(days=7), periods=8, freq="7D")
    plan = pd.DataFrame({"sku_id": [f"S{i:02d}" for i in range(n_series)],
                         "pin_code": "110001", "date": future[3], "price": 75.0,
                         "discount_pct": np.nan, "promo": 1.0, "promo_type": "price_cut",
                         "plan_share": 1.0, "plan_version": 1})
    return future, plan


def test_a_planted_promotion_only_the_plan_aware_forecast_catches():
    hist = _promo_history()
    future, plan = _planned_cut(hist, 16)
    res = fit_predict(hist, None, CFG.with_(grain="W"), future_prices=plan)
    fc = res.forecasts
    assert {"forecast_no_plan", "planned"} <= set(fc.columns)
    for model in ("lightgbm", "moving_average"):
        m = fc[fc["model"] == model]
        on = m[m["date"] == future[3]]
        off = m[m["date"] != future[3]]
        assert on["planned"].all() and not off["planned"].any()
        # with the plan the promoted week is ~3x a regular one; without it, it is not
        regular = off.groupby("sku_id")["forecast"].mean()
        ratio = (on.set_index("sku_id")["forecast"] / regular).median()
        assert 2.0 < ratio < 4.5, (model, ratio)
        no_plan = (on.set_index("sku_id")["forecast_no_plan"] / regular).median()
        assert no_plan < 1.6, (model, no_plan)
        assert np.allclose(off["forecast"], off["forecast_no_plan"])


def test_a_plan_run_backtests_with_the_prices_actually_charged():
    hist = _promo_history(seed=8)
    cutoff = hist["date"].max()
    fold_plan = actual_plan(hist, cutoff - pd.Timedelta(weeks=8), 8, "W")
    assert len(fold_plan) == 16 * 8
    assert fold_plan["promo"].sum() == hist[hist["date"] > cutoff - pd.Timedelta(weeks=8)][
        "promo"].sum()
    future = pd.date_range(cutoff + pd.Timedelta(days=7), periods=8, freq="7D")
    plan = pd.DataFrame({"sku_id": "S00", "pin_code": "110001", "date": future[:2],
                         "price": 75.0, "discount_pct": np.nan, "promo": 1.0,
                         "promo_type": "price_cut", "plan_share": 1.0, "plan_version": 1})
    res = forecast_full(hist, None, CFG, plan=plan)
    models = set(res.backtest["model"])
    assert {"routed", "routed_no_plan"} <= models
    from engine.forecast.metrics import score

    s = score(res.backtest, by=["model"]).set_index("model")
    # knowing each fold's promotions must beat not knowing them on this panel
    assert s.loc["routed", "wape"] < 0.85 * s.loc["routed_no_plan", "wape"]
    planned = res.forecasts[res.forecasts["planned"]]
    assert set(planned["sku_id"]) == {"S00"} and len(planned) == 2
    assert (planned["forecast"] > 1.8 * planned["forecast_no_plan"]).all()
    unplanned = res.forecasts[~res.forecasts["planned"]]
    assert np.allclose(unplanned["forecast"], unplanned["forecast_no_plan"])


def test_a_plan_promoting_rival_skus_lowers_their_substitute():
    """Planted cannibalisation: four rival SKUs A0-A3 are promoted at random (a quarter of
    the weeks each); every promoted rival takes 15% of B's sales (same category and PIN).
    A plan that promotes all four in one week must lower B's forecast for that week."""
    rng = np.random.default_rng(21)
    weeks = 130
    dates = pd.date_range("2023-01-07", periods=weeks, freq="7D")
    rows = []
    for pin in ("110001", "110002", "110003"):
        promos = rng.random((4, weeks)) < 0.25
        for k in range(4):
            rows.append(pd.DataFrame({
                "sku_id": f"A{k}", "pin_code": pin, "date": dates,
                "quantity": rng.poisson(40 * np.where(promos[k], 2.5, 1.0)),
                "price": np.where(promos[k], 80.0, 100.0), "regular_price": 100.0,
                "promo": promos[k]}))
        rows.append(pd.DataFrame({"sku_id": "B", "pin_code": pin, "date": dates,
                                  "quantity": rng.poisson(50 * (1 - 0.15 * promos.sum(0))),
                                  "price": 90.0, "regular_price": 90.0, "promo": False}))
    hist = pd.concat(rows, ignore_index=True).astype({"quantity": float})
    from engine.forecast.features import Signals

    skus = [f"A{k}" for k in range(4)] + ["B"]
    signals = Signals(skus=pd.DataFrame({"sku_id": skus, "category": "Tea"}))
    cutoff = hist["date"].max()
    week = cutoff + pd.Timedelta(days=21)
    plan = pd.DataFrame([{"sku_id": s, "pin_code": pin, "date": week, "price": 80.0,
                          "discount_pct": np.nan, "promo": 1.0, "promo_type": "price_cut",
                          "plan_share": 1.0, "plan_version": 1}
                         for s in skus[:4] for pin in ("110001", "110002", "110003")])
    fc = fit_predict(hist, signals, CFG.with_(grain="W", models=("lightgbm",)),
                     future_prices=plan).forecasts
    b = fc[fc["sku_id"] == "B"]
    on = b[b["date"] == week]["forecast"].mean()
    off = b[b["date"] != week]["forecast"].mean()
    assert on < 0.75 * off, (on, off)        # planted: 0.4 / 0.85 of a usual week
    assert 0.8 * 42.5 < off < 1.2 * 42.5     # usual week: one rival promoted on average
    assert not b["planned"].any()            # B itself is not in the plan


def test_a_folds_actual_plan_covers_the_weeks_without_a_sale_by_the_chain_wide_rule():
    """A retailer's plan covers every week of every series: a fold's week without a sales
    row is the SKU's chain-wide promotion when most of its stores with a row had it (at
    their mean price and majority kind), else no promotion at the regular price."""
    cut = pd.Timestamp("2024-06-02")
    weeks = pd.date_range(cut - pd.Timedelta(weeks=3), periods=5, freq="7D")
    pins = ["110001", "110002", "110003", "110004"]
    rows = [("A", p, w, 5.0, 100.0, False, 0.0) for p in pins for w in weeks[:4]]
    # week 1 after the cutoff: A promoted at 3 of its 3 selling stores (2 on display)
    rows += [("A", pins[0], weeks[4], 9.0, 80.0, True, 1.0),
             ("A", pins[1], weeks[4], 8.0, 90.0, True, 1.0),
             ("A", pins[2], weeks[4], 7.0, 85.0, True, 0.0)]
    hist = pd.DataFrame(rows, columns=["sku_id", "pin_code", "date", "quantity", "price",
                                       "promo", "display"])
    plan = actual_plan(hist, cut, 2, "W").set_index(["sku_id", "pin_code", "date"])
    assert len(plan) == 4 * 2                          # every series x week is planned
    first, second = cut + pd.Timedelta(weeks=1), cut + pd.Timedelta(weeks=2)
    gap = plan.loc[("A", pins[3], first)]              # no sale: the chain's promotion
    assert gap["promo"] == 1 and gap["price"] == pytest.approx(85.0)
    assert gap["display"] == 1.0 and gap["promo_type"] == "other"
    assert plan.loc[("A", pins[0], first), "price"] == 80.0    # a sales row keeps its own
    later = plan.xs(second, level="date")              # nothing sold: no promotion
    assert (later["promo"] == 0).all() and later["price"].isna().all()
    assert (later["promo_type"] == "none").all()


def test_a_file_without_regular_prices_or_promotion_flags_sees_its_discounts():
    """The upload fills a missing regular price with the day's price paid; a series whose
    regular price never differs from the price paid carries none, so the highest price
    of the last 8 weeks is its regular price and a week at 20% off is a discount (and a
    promotion) the trees can learn, as the planned price cut is. A fold's actual plan
    for such a file leaves the promotion flag to the price rule."""
    weeks = pd.date_range("2023-01-05", periods=60, freq="7D")
    rng = np.random.default_rng(3)
    off = rng.random(len(weeks)) < 0.25
    price = np.where(off, 80.0, 100.0)
    hist = pd.DataFrame({"sku_id": "T1", "pin_code": "560001", "date": weeks,
                         "quantity": np.where(off, 300.0, 100.0), "price": price,
                         "regular_price": price, "promo": False})
    panel = build_panel(hist, None, ForecastConfig(horizon=4, grain="W"))
    R = panel.rows[~panel.rows["future"]].set_index("date")
    on = R.loc[weeks[off][weeks[off] > weeks[8]]]
    assert np.allclose(on["price_ratio"], 0.8) and (on["promo_flag"] == 1).all()
    assert (R.loc[weeks[~off][weeks[~off] > weeks[8]], "price_ratio"] == 1.0).all()
    fold = actual_plan(hist, weeks[50], 4, "W")
    assert fold["promo"].isna().all() and fold["promo_type"].isna().all()
    assert fold["discount_pct"].isna().all()       # no list price recorded: none planned


def test_a_plan_row_with_a_price_and_a_discount_names_its_list_price():
    """A plan row that gives both the selling price and the discount % names the week's
    list price too (price / (1 - discount)): the discount is off that price, not off the
    history's regular price. A row with a price alone is read against the history's
    regular price, as before; a price at 0% off is a new list price, not a promotion."""
    weeks = pd.date_range("2023-01-05", periods=40, freq="7D")
    hist = pd.DataFrame({"sku_id": "L1", "pin_code": "560001", "date": weeks,
                         "quantity": 50.0, "price": 100.0, "regular_price": 100.0,
                         "promo": False})
    future = pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=4, freq="7D")
    series = pd.DataFrame({"sku_id": ["L1"], "pin_code": ["560001"]})
    plan = resolve(_rows((1, 0, "L1", None, "560001", None, None, future[0], future[0],
                          108.0, 10.0, None),
                         (1, 1, "L1", None, "560001", None, None, future[1], future[1],
                          90.0, np.nan, None),
                         (1, 2, "L1", None, "560001", None, None, future[2], future[2],
                          110.0, 0.0, None)), series, future, "W")
    R = build_panel(hist, None, ForecastConfig(horizon=4, grain="W"),
                    future_prices=plan).rows.set_index("date")
    assert R.loc[future[0], "regular_price"] == pytest.approx(120.0)
    assert R.loc[future[0], "price_ratio"] == pytest.approx(0.9)
    assert R.loc[future[0], "promo_flag"] == 1
    assert R.loc[future[1], "regular_price"] == pytest.approx(100.0)   # price alone
    assert R.loc[future[1], "price_ratio"] == pytest.approx(0.9)
    assert R.loc[future[2], "regular_price"] == pytest.approx(110.0)   # a new list price
    assert R.loc[future[2], "price_ratio"] == pytest.approx(1.0)
    assert R.loc[future[2], "promo_flag"] == 0
    assert R.loc[future[3], "price_ratio"] == pytest.approx(1.0)       # unplanned
    # a backtest fold's actual plan names the list price the file recorded, as a discount
    charged = hist.assign(price=np.where(np.arange(len(weeks)) == 35, 80.0, 100.0),
                          regular_price=np.where(np.arange(len(weeks)) >= 33, 125.0, 100.0))
    fold = actual_plan(charged, weeks[32], 4, "W").set_index("date")
    assert fold.loc[weeks[35], "discount_pct"] == pytest.approx(36.0)  # 80 off 125
    assert fold.loc[weeks[34], "discount_pct"] == pytest.approx(20.0)  # 100 off 125


def test_a_plan_row_with_several_promotion_kinds_sets_every_kind_it_names():
    """Planted: a display doubles sales, a feature lifts them 1.5x, both together 3x (no
    price change). A plan row 'feature+display' sets both kind flags, so the forecast of
    that week is the combined lift, well above a week planned with the display alone."""
    rng = np.random.default_rng(11)
    dates = pd.date_range("2023-01-07", periods=130, freq="7D")
    rows = []
    for i in range(16):
        base = rng.uniform(20, 60)
        kind = rng.choice(["none", "display", "feature", "both"], size=len(dates),
                          p=[0.7, 0.1, 0.1, 0.1])
        disp = np.isin(kind, ["display", "both"])
        feat = np.isin(kind, ["feature", "both"])
        q = rng.poisson(base * np.where(disp, 2.0, 1.0) * np.where(feat, 1.5, 1.0))
        rows.append(pd.DataFrame({"sku_id": f"S{i:02d}", "pin_code": "110001", "date": dates,
                                  "quantity": q.astype(float), "price": 100.0,
                                  "regular_price": 100.0, "promo": kind != "none",
                                  "display": disp.astype(float),
                                  "feature": feat.astype(float), "tpr": 0.0}))
    hist = pd.concat(rows, ignore_index=True)
    future = pd.date_range(dates[-1] + pd.Timedelta(days=7), periods=8, freq="7D")
    series = pd.DataFrame({"sku_id": [f"S{i:02d}" for i in range(16)], "pin_code": "110001"})
    plan = resolve(_rows(*[(1, n, s, None, "110001", None, None, day, day, np.nan, np.nan,
                            ptype) for s in series["sku_id"] for n, (day, ptype) in
                           enumerate([(future[2], "feature+display"),
                                      (future[5], "display")])]),
                   series, future, "W")
    both = plan[plan["date"] == future[2]]
    assert (both["promo_type"] == "feature+display").all() and (both["promo"] == 1).all()
    cfg = CFG.with_(grain="W", models=("lightgbm",))
    panel = build_panel(hist, None, cfg, future_prices=plan).rows.set_index(["sku_id", "date"])
    flags = panel.loc[(slice(None), [future[2], future[5]]),
                      ["feature_flag", "display_flag", "tpr_flag"]]
    assert (flags.xs(future[2], level="date").to_numpy() == [1, 1, 0]).all()
    assert (flags.xs(future[5], level="date").to_numpy() == [0, 1, 0]).all()
    fc = fit_predict(hist, None, cfg, future_prices=plan).forecasts
    fc = fc[fc["model"] == "lightgbm"].pivot(index="sku_id", columns="date", values="forecast")
    # against each series' weeks without a promotion (the unplanned weeks' forecasts mix
    # the usual promotion rate in)
    regular = hist[~hist["promo"]].groupby("sku_id")["quantity"].mean()
    combined = (fc[future[2]] / regular).median()
    display = (fc[future[5]] / regular).median()
    assert 2.4 < combined < 3.6, combined             # planted 3x
    assert 1.6 < display < 2.4, display               # planted 2x
    assert combined > 1.25 * display


@pytest.mark.parametrize("models", [("prophet",), ("prophet", "lightgbm")])
def test_prophet_reads_the_plan_itself_and_mixes_in_the_usual_promotions_elsewhere(models):
    """Prophet declares future covariates: its price and promotion regressors take the
    planned values (alone, with no global model to borrow a lift from), it is not scaled
    again by LightGBM's lift when both run (that counted the promotion twice), and a
    period no plan covers is forecast at the series' usual promotion mix, not as a
    period certainly without promotion."""
    hist = _promo_history(n_series=8, seed=5)
    future, plan = _planned_cut(hist, 8)
    cfg = CFG.with_(grain="W", models=models, prophet_top_n=8)
    fc = fit_predict(hist, None, cfg, future_prices=plan).forecasts
    m = fc[fc["model"] == "prophet"]
    assert m["sku_id"].nunique() == 8
    on, off = m[m["date"] == future[3]], m[m["date"] != future[3]]
    assert on["planned"].all() and not off["planned"].any()
    # the planted lift is 3x over a regular week; an unplanned week is the 20% mix
    base = hist[~hist["promo"]].groupby("sku_id")["quantity"].mean()
    ratio = (on.set_index("sku_id")["forecast"] / base).median()
    assert 2.2 < ratio < 4.0, ratio
    assert np.allclose(off["forecast"], off["forecast_no_plan"])
    mix = (off.groupby("sku_id")["forecast"].mean() / base).median()
    usual = (hist.groupby("sku_id")["quantity"].mean() / base).median()   # ~1.4
    assert abs(mix - usual) < 0.15, (mix, usual)
    assert (on.set_index("sku_id")["forecast_no_plan"] / base).median() < 1.7

