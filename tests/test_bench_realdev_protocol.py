"""The real-data benchmarks' scoring protocol (benchmarks/realdev.py) on planted frames:
a week in which a store sent no rows at all is missing data and left out of the scoring;
a series' own zero week at a store that reported other items stays a zero; the plan file
of bench_real_plan names every promotion kind of the week."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import realdev as R  # noqa: E402

CUT = pd.Timestamp("2024-03-02")


def _history() -> pd.DataFrame:
    """Two stores x two SKUs, weekly: store 110001 stops reporting after test week 2;
    store 400001 never sells B in test week 3 but sells A then; no store has rows in
    test week 4 (a week missing from the whole file)."""
    rows = []
    weeks = [CUT - pd.Timedelta(weeks=k) for k in range(3, -1, -1)] + \
        [CUT + pd.Timedelta(weeks=k) for k in (1, 2, 3, 5)]
    for d in weeks:
        step = int(np.ceil((d - CUT).days / 7))
        for pin in ("110001", "400001"):
            if pin == "110001" and step > 2:
                continue
            for sku in ("A", "B"):
                if (pin, sku, step) == ("400001", "B", 3):
                    continue
                rows.append((sku, pin, d, 5.0))
    return pd.DataFrame(rows, columns=["sku_id", "pin_code", "date", "quantity"])


def test_weeks_a_store_sent_no_rows_are_missing_not_zero():
    h = _history()
    new = R.actuals(h, CUT, 5).set_index(["unique_id", "step"])["actual"]
    old = R.actuals(h, CUT, 5, no_row_weeks="zero").set_index(["unique_id", "step"])["actual"]
    assert len(old) == 4 * 5                                   # every series x week
    # the stopped store: weeks 3-5 gone; the file-wide gap (week 4) gone for everyone
    assert sorted(new.loc["A|110001"].index) == [1, 2]
    assert sorted(new.loc["A|400001"].index) == [1, 2, 3, 5]
    assert new.loc[("B|400001", 3)] == 0.0                     # its own zero stays a zero
    assert old.loc[("A|110001", 3)] == 0.0 and old.loc[("A|110001", 4)] == 0.0
    with pytest.raises(ValueError, match="'missing' or 'zero'"):
        R.actuals(h, CUT, 5, no_row_weeks="skip")


def test_scores_leave_the_missing_weeks_out_for_every_model():
    h = _history()
    test = R.actuals(h, CUT, 5)
    keep = pd.Index(sorted(test["unique_id"].unique()))
    scales = pd.DataFrame({"scale2": 1.0, "revenue": 1.0}, index=keep)
    grid = R.actuals(h, CUT, 5, no_row_weeks="zero")[["unique_id", "ds"]]
    fc = pd.concat([grid.assign(model=m, forecast=f, lo80=np.nan, hi80=np.nan, lo=np.nan,
                                hi=np.nan) for m, f in (("five", 5.0), ("zero", 0.0))])
    new = R.score_models(fc, test, scales, keep).set_index("model")
    assert new.loc["five", "wape"] == pytest.approx(5 / (5 * len(test) - 5))   # B's zero week
    old = R.score_models(fc, R.actuals(h, CUT, 5, no_row_weeks="zero"), scales,
                         keep).set_index("model")
    assert old.loc["five", "wape"] > 2 * new.loc["five", "wape"]


def test_the_benchmark_plan_names_every_promotion_kind_of_the_week(tmp_path):
    import bench_real_plan as bench

    h = _history().assign(price=10.0, promo=False, feature=0.0, display=0.0, tpr=0.0)
    wk1 = (h["date"] == CUT + pd.Timedelta(weeks=1))
    h.loc[wk1 & (h["sku_id"] == "A"), ["promo", "feature", "display"]] = [True, 1.0, 1.0]
    h.loc[wk1 & (h["sku_id"] == "B"), ["promo", "tpr"]] = [True, 1.0]
    plan = pd.read_csv(bench.plan_file(h, CUT, 5))
    week1 = plan[plan["Date"] == str((CUT + pd.Timedelta(weeks=1)).date())]
    assert set(week1.loc[week1["SKU"] == "A", "Promotion type"]) == {"feature+display"}
    assert set(week1.loc[week1["SKU"] == "B", "Promotion type"]) == {"price_cut"}


def test_the_promoted_weeks_breakdown_scores_each_kind_and_depth_apart(capsys):
    """bench_real_plan's breakdown of the promoted series-weeks: a planted forecast exact
    with the plan and half the sales without it scores 0% / -50% bias in every group;
    A's feature + display at the regular price and B's 25% price cut fall in their own
    kind and depth rows, and neither SKU was promoted before the cutoff."""
    import bench_real_plan as bench

    h = _history().assign(price=10.0, regular_price=10.0, promo=False, feature=0.0,
                          display=0.0, tpr=0.0)
    wk1 = (h["date"] == CUT + pd.Timedelta(weeks=1))
    h.loc[wk1 & (h["sku_id"] == "A"), ["promo", "feature", "display"]] = [True, 1.0, 1.0]
    h.loc[wk1 & (h["sku_id"] == "B"), ["promo", "tpr", "price"]] = [True, 1.0, 7.5]
    test = R.actuals(h, CUT, 5)
    promo = bench._promoted(h, CUT, 5)
    t_promo = test.merge(promo, on=["unique_id", "ds"])
    t_promo = t_promo[t_promo["promo"]].drop(columns="promo")
    fc = pd.concat([test.assign(model="MicroPulse + plan", forecast=test["actual"]),
                    test.assign(model="MicroPulse, no plan", forecast=test["actual"] / 2)])
    bench._promoted_breakdown(fc, h, CUT, 5, t_promo, pd.Index(test["unique_id"].unique()))
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip()}
    # series-weeks, units, WAPE + plan, bias + plan, WAPE no plan, bias no plan
    assert lines["feature+display"] == ["2", "10.0", "0.0", "0.0", "50.0", "-50.0"]
    assert lines["price_cut"] == ["2", "10.0", "0.0", "0.0", "50.0", "-50.0"]
    assert lines["<"][1:] == ["2", "10.0", "0.0", "0.0", "50.0", "-50.0"]    # "< 2%": A
    assert lines["20-30%"] == ["2", "10.0", "0.0", "0.0", "50.0", "-50.0"]   # B at 7.50 / 10
    assert lines["no"] == ["4", "20.0", "0.0", "0.0", "50.0", "-50.0"]


def test_the_known_level_ceiling_estimates_the_error_at_the_true_mean():
    """bench_real_plan's ceiling: 3,000 planted groups of 4 weeks, each week Poisson(100)
    around its group's mean. A forecast at the true mean errs by E|X - 100| (summed from
    the Poisson probabilities); the estimate from each week's group-mates lands within 2%
    of it, where the in-sample mean (too good) and the plain leave-one-out mean (too
    noisy) are each more than 8% off. A group of one has no estimate."""
    from scipy import stats

    import bench_real_plan as bench

    rng = np.random.default_rng(3)
    t = pd.DataFrame({"unique_id": np.repeat(np.arange(3000), 4),
                      "actual": rng.poisson(100, 12000).astype(float)})
    k = np.arange(0, 400)
    truth = float((np.abs(k - 100) * stats.poisson.pmf(k, 100)).sum())
    err, n = bench.known_level_errors(t, ["unique_id"])
    assert (n == 4).all()
    assert err.mean() == pytest.approx(truth, rel=0.02)
    g = t.groupby("unique_id")["actual"]
    in_sample = (t["actual"] - g.transform("mean")).abs().mean()
    loo = (t["actual"] - (g.transform("sum") - t["actual"]) / 3).abs().mean()
    assert in_sample < 0.92 * truth and loo > 1.08 * truth
    one = bench.known_level_errors(pd.DataFrame({"unique_id": [1, 2, 2], "actual": [5.0, 4, 6]}),
                                   ["unique_id"])[0]
    assert np.isnan(one.iloc[0]) and one.iloc[1:].tolist() == pytest.approx([2 * 0.5 ** 0.5] * 2)


def test_set_options_change_config_fields_and_params():
    """`--set KEY=VALUE` (the real-data benchmarks): a ForecastConfig field is set as a
    field, any other key becomes a param, numbers are read as numbers; a malformed item
    stops the benchmark with a message."""
    from engine.forecast.config import ForecastConfig

    changes = R.config_changes(["lgb_rounds=400", "lgb_learning_rate=0.05", "note=x"])
    cfg = ForecastConfig(horizon=13, **changes)
    assert cfg.lgb_rounds == 400
    assert cfg.param("lgb_learning_rate") == 0.05 and cfg.param("note") == "x"
    assert R.config_changes([]) == {}
    assert ForecastConfig(**R.config_changes(["models=tsb, lightgbm,arima"])).models == (
        "tsb", "lightgbm", "arima")
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        R.config_changes(["lgb_rounds"])
