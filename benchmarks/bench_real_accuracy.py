"""Forecast accuracy on real retail data, side by side with statsforecast's textbook peers.

    .venv/bin/python benchmarks/bench_real_accuracy.py              # dunnhumby dev file
    .venv/bin/python benchmarks/bench_real_accuracy.py --peers Naive WindowAverage   # quicker
    .venv/bin/python benchmarks/bench_real_accuracy.py --file tuna --horizon 26

Protocol (issue 17): the file is uploaded through the product's own ingest into a fresh
warehouse (with its catalog), the cutoff is `horizon` weeks before the last date, the
product forecasts `horizon` weeks with its own routed pipeline (engine.forecast.pipeline.
run_forecast, what `python -m engine forecast --cutoff` runs), and statsforecast's Naive,
SeasonalNaive(52), WindowAverage(4), AutoETS and AutoTheta are fitted on the same dense
weekly history (zero = a week without sales) in the same run. Scored: series with >= 52
weeks of history and some sales in the test window. Per model: WAPE, mean RMSSE (per
series, scaled by the in-sample one-step naive error), revenue-weighted RMSSE (weights =
revenue over the last 13 history weeks), bias, 80/95% coverage overall and per horizon
week, and wall time; then by category. A week in which a store sent no rows at all is
missing data, left out of the scoring for every model (realdev.actuals); the earlier
protocol (scored as zero sales) is printed too. Prints the targets and whether they are met.
Skips cleanly when ../shared/data/realdev is absent.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import realdev as R


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", choices=sorted(R.SALES_FILES), default="dunnhumby")
    ap.add_argument("--horizon", type=int, default=13)
    ap.add_argument("--peers", nargs="*", default=list(R.PEERS))
    ap.add_argument("--models", nargs="*", default=None, help="product models (default: its own)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="forecast settings to measure a variant (lgb_rounds=400, "
                         "lgb_learning_rate=0.05, lgb_num_leaves=63)")
    ap.add_argument("--peer-jobs", type=int, default=None,
                    help="statsforecast n_jobs (default: --workers, the product's cores)")
    args = ap.parse_args()
    if not R.require(*(p for p in R.SALES_FILES[args.file] if p is not None)):
        return 0

    from engine.forecast.config import ForecastConfig
    from engine.forecast.pipeline import run_forecast

    wh, full, cutoff = R.held_out(args.file, args.horizon, "realacc")

    cfg = ForecastConfig(horizon=args.horizon, cutoff=cutoff.date(), workers=args.workers,
                         **R.config_changes(args.set))
    if args.models:
        cfg = cfg.with_(models=tuple(args.models))
    t = time.perf_counter()
    res = run_forecast(wh, cfg, persist=False)
    product_sec = time.perf_counter() - t
    print(f"product: routed forecast in {product_sec:.1f} s ({res.timings})")
    print("routing:", res.routing["model"].value_counts().head(12).to_dict())
    ours = R.product_long(res.forecasts, "MicroPulse")

    panel = R.dense_weekly(full, cutoff)
    test = R.actuals(full, cutoff, args.horizon)
    keep = R.scored_series(panel, test)
    scales = R.series_scales(panel)
    peer_fc, seconds = R.peers(panel[panel["unique_id"].isin(keep)], args.horizon,
                               n_jobs=args.peer_jobs or args.workers, names=tuple(args.peers))
    seconds["MicroPulse"] = product_sec
    fc = pd.concat([ours, peer_fc], ignore_index=True)
    print(f"scored: {len(keep):,} series (>= 52 weeks of history, sales in the test window), "
          f"{len(test[test['unique_id'].isin(keep)]):,} series-weeks")

    table = R.score_models(fc, test, scales, keep)
    table["seconds"] = table["model"].map(seconds)
    table = table.sort_values("wape")
    R.print_table(table, f"{args.file}: all scored series, {args.horizon}-week horizon")

    cats = _categories(wh)
    if cats is not None:
        fc_c = fc.merge(cats, on="unique_id", how="left")
        by_cat = R.score_models(fc_c, test, scales, keep, by="category")
        R.print_table(by_cat.sort_values(["category", "wape"])[
            ["category", "model", "series", "wape", "rmsse", "rmsse_rev", "bias", "cov95"]],
            "by category")

    cov = R.coverage_by_step(fc, test, keep)
    print("\n== 95% coverage per horizon week ==")
    print((100 * cov["in95"]).round(1).to_string())
    print("\n== 80% coverage per horizon week ==")
    print((100 * cov["in80"]).round(1).to_string())

    old = R.old_protocol(fc, full, cutoff, args.horizon, scales, keep, args.file)
    _verdict(table, cov, seconds)
    print("\n== WAPE / RMSSE targets, EARLIER protocol (no-row store weeks as zero sales) ==")
    _verdict(old, None, {}, header=False)
    return 0


def _categories(wh) -> pd.DataFrame | None:
    from engine.warehouse.catalog import read_skus

    skus = read_skus(wh)
    if skus.empty:
        return None
    hist = wh.query("SELECT DISTINCT sku_id, pin_code FROM sales_daily")
    m = hist.merge(skus[["sku_id", "category"]], on="sku_id", how="left")
    return pd.DataFrame({"unique_id": m["sku_id"].astype(str) + "|" + m["pin_code"].astype(str),
                         "category": m["category"].fillna("Uncategorised")})


def _verdict(table: pd.DataFrame, cov: pd.DataFrame | None, seconds: dict,
             header: bool = True) -> None:
    t = table.set_index("model")
    if "MicroPulse" not in t.index or len(t) < 2:
        return
    me, peers = t.loc["MicroPulse"], t.drop(index="MicroPulse")
    if header:
        print("\n== targets ==")
    for metric in ("wape", "rmsse"):
        best = peers[metric].idxmin()
        gain = 1 - me[metric] / peers.loc[best, metric]
        print(f"{metric}: MicroPulse {me[metric]:.3f} vs best peer {best} "
              f"{peers.loc[best, metric]:.3f}: {100 * gain:+.1f}% (target >= +5%) "
              f"{'MET' if gain >= 0.05 else 'NOT MET'}")
    print(f"|bias| {100 * abs(me['bias']):.1f}% (target <= 3%) "
          f"{'MET' if abs(me['bias']) <= 0.03 else 'NOT MET'}")
    if cov is None:           # the earlier protocol's scores: WAPE, RMSSE and bias only
        return
    c95 = me["cov95"]
    worst = float(cov.loc["MicroPulse", "in95"].min()) if "MicroPulse" in cov.index else np.nan
    print(f"95% coverage {100 * c95:.1f}% (target 92-97%), worst horizon week "
          f"{100 * worst:.1f}% (target >= 90%) "
          f"{'MET' if 0.92 <= c95 <= 0.97 and worst >= 0.90 else 'NOT MET'}")
    if "AutoETS" in seconds and "AutoTheta" in seconds:
        ref = seconds["AutoETS"] + seconds["AutoTheta"]
        print(f"wall time: MicroPulse {seconds['MicroPulse']:.1f} s vs AutoETS + AutoTheta "
              f"{ref:.1f} s {'MET' if seconds['MicroPulse'] < ref else 'NOT MET'}")


if __name__ == "__main__":
    raise SystemExit(main())
