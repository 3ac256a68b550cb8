"""Per-series models on a price / promotion plan, on real retail data, beside the LightGBM
that reads it on the same series: Prophet, which reads the plan itself (its regressors),
and ARIMA, scaled by LightGBM's lift (a regression with ARIMA errors on the promotion
flag was measured with this script and not kept: README, Forecasting item 8).

    .venv/bin/python benchmarks/bench_real_plan_models.py                   # ARIMA, dunnhumby
    .venv/bin/python benchmarks/bench_real_plan_models.py --model prophet --top-n 100
    .venv/bin/python benchmarks/bench_real_plan_models.py --file cheese

Protocol: the sales file goes through the product's ingest; the cutoff is `horizon` weeks
before the last date; the plan is what was actually charged in those weeks
(`plan.actual_plan`, every series-week, as the backtest folds use it). `fit_predict` runs
the model with LightGBM (which reads the plan, and whose lift scales the models that
cannot) once with the plan and once without, on the top `--top-n`
series by recent volume. Scored on those series' test weeks (a week whose store sent no
rows at all is missing data, realdev.actuals): WAPE and bias of the model and of LightGBM
on the same series-weeks, and the seconds each run took. Skips cleanly when
../shared/data/realdev is absent.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import realdev as R

KEYS = ["sku_id", "pin_code"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", choices=sorted(R.SALES_FILES), default="dunnhumby")
    ap.add_argument("--model", choices=("arima", "prophet"), default="arima")
    ap.add_argument("--top-n", type=int, default=150)
    ap.add_argument("--horizon", type=int, default=None, help="weeks (13; tuna 26)")
    args = ap.parse_args()
    if not R.require(*[p for p in R.SALES_FILES[args.file] if p is not None]):
        return 0
    from engine.forecast.config import ForecastConfig
    from engine.forecast.features import normalize_history
    from engine.forecast.inputs import read_signals
    from engine.forecast.plan import actual_plan
    from engine.forecast.runner import fit_predict

    horizon = args.horizon or (26 if args.file == "tuna" else 13)
    wh, full, cutoff = R.held_out(args.file, horizon, "planmodels")
    full = normalize_history(full)
    signals = read_signals(wh)
    wh.close()
    history = full[full["date"] <= cutoff]
    test = R.actuals(full, cutoff, horizon)
    top = {"arima": "stat_top_n", "prophet": "prophet_top_n"}[args.model]
    cfg = ForecastConfig(horizon=horizon, workers=2, grain="W", cutoff=cutoff.date(),
                         models=(args.model, "lightgbm"), **{top: args.top_n})
    rows = []
    for label, plan in (("plan", actual_plan(full, cutoff, horizon, "W")), ("no plan", None)):
        t = time.perf_counter()
        fc = fit_predict(history, signals, cfg, cutoff=cutoff, future_prices=plan).forecasts
        seconds = time.perf_counter() - t
        fc = fc.assign(unique_id=fc["sku_id"].astype(str) + "|" + fc["pin_code"].astype(str),
                       ds=pd.to_datetime(fc["date"]))
        fc["ds"] = cutoff + pd.to_timedelta(((fc["ds"] - cutoff).dt.days / 7).round() * 7,
                                            unit="D")
        mine = fc[fc["model"] == args.model][["unique_id", "ds", "forecast"]]
        lgb = fc[fc["model"] == "lightgbm"][["unique_id", "ds", "forecast"]]
        scored = test.merge(mine, on=["unique_id", "ds"]).merge(
            lgb, on=["unique_id", "ds"], suffixes=("", "_lgb"))
        actual = scored["actual"].sum()
        for name, col in ((args.model, "forecast"), ("lightgbm", "forecast_lgb")):
            err = scored[col] - scored["actual"]
            rows.append({"run": label, "model": name,
                         "series": scored["unique_id"].nunique(),
                         "series-weeks": len(scored),
                         "WAPE %": round(100 * np.abs(err).sum() / actual, 1),
                         "bias %": round(100 * err.sum() / actual, 1),
                         "run seconds": round(seconds, 1)})
    print(f"\n== {args.file}: {args.model} and LightGBM on the top {args.top_n} series, "
          f"{horizon} weeks, with the actual plan and without ==")
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
