"""Planted promotion lifts on the demo, recovered by a plan-aware forecast (issue 18).

    .venv/bin/python benchmarks/bench_plan_demo.py [--scale 1] [--share 0.3] [--discount 15]

The demo generator's demand responds to price as (price / reference price) ** elasticity
per SKU (`demo_truth`), so a promotion at d% off has the planted lift (1 - d) ** e. The
benchmark plans a d% price cut for a random share of series over days 8-14 of the
horizon (through the plan ingest, as a retailer would upload it), runs the routed forecast
with the plan, and compares per SKU the recovered lift - forecast with the plan / the same
forecast without it, on the planned days - with the planted one. The forecast without a
plan already mixes in each series' usual promotion rate r (a few % of days on the demo), so
the planted counterpart is L / (1 + r (L - 1)). Target: within 20% for the SKUs.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import realdev as R  # noqa: F401  (puts the repository on sys.path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--share", type=float, default=0.3, help="share of series planned")
    ap.add_argument("--discount", type=float, default=15.0, help="planned % off")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    from engine.demo import DemoConfig, load_demo
    from engine.forecast.config import ForecastConfig
    from engine.forecast.pipeline import run_forecast
    from engine.ingest.load import ingest_file
    from engine.warehouse.db import Warehouse
    from engine.warehouse.sales_history import read_history

    path = Path(tempfile.gettempdir()) / f"micropulse_plan_demo_{args.scale:g}.duckdb"
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    wh = Warehouse(path)
    t = time.perf_counter()
    load_demo(wh, DemoConfig(scale=args.scale))
    print(f"demo warehouse in {time.perf_counter() - t:.0f} s")
    hist = read_history(wh)
    last = hist["date"].max()
    truth = wh.query("SELECT sku_id, elasticity FROM demo_truth")
    series = hist[["sku_id", "pin_code"]].drop_duplicates()
    rng = np.random.default_rng(args.seed)
    picked = series[rng.random(len(series)) < args.share]
    days = pd.date_range(last + pd.Timedelta(days=8), periods=7, freq="D")
    plan = pd.DataFrame({"sku_id": picked["sku_id"].to_numpy(),
                         "pin_code": picked["pin_code"].to_numpy(),
                         "date_from": days[0].date().isoformat(),
                         "date_to": days[-1].date().isoformat(),
                         "discount_pct": args.discount, "promo_type": "price_cut"})
    plan_path = Path(tempfile.gettempdir()) / "micropulse_plan_demo.csv"
    plan.to_csv(plan_path, index=False)
    up = ingest_file(wh, "plan", plan_path)
    print(f"plan: {up.rows_loaded:,} of {up.rows_read:,} rows loaded ({len(picked):,} series "
          f"at {args.discount:g}% off on {days[0]:%d-%b} to {days[-1]:%d-%b})")

    t = time.perf_counter()
    res = run_forecast(wh, ForecastConfig(horizon=28), persist=False, plan="latest")
    print(f"routed forecast with the plan in {time.perf_counter() - t:.0f} s; "
          f"{res.planned_rows:,} series-days planned")
    f = res.forecasts[res.forecasts["planned"]]
    got = f.groupby("sku_id")[["forecast", "forecast_no_plan"]].sum()
    got["recovered"] = got["forecast"] / got["forecast_no_plan"]

    # the series' usual promotion rate, as the no-plan forecast mixes it in
    recent = hist[hist["date"] > last - pd.Timedelta(days=365)]
    rate = recent[recent["quantity"] > 0].groupby("sku_id")["promo"].mean()
    d = args.discount / 100.0
    el = truth.set_index("sku_id")["elasticity"]
    lift = (1 - d) ** el
    got["planted"] = lift.reindex(got.index) / (1 + rate.reindex(got.index).fillna(0)
                                                * (lift.reindex(got.index) - 1))
    got["error_pct"] = 100 * (got["recovered"] / got["planted"] - 1)
    got = got.join(el)
    print("\n== per SKU: recovered vs planted lift on the planned days ==")
    print(got[["elasticity", "planted", "recovered", "error_pct"]].round(3)
          .sort_values("error_pct").to_string())
    within = (got["error_pct"].abs() <= 20).mean()
    total = got["forecast"].sum() / got["forecast_no_plan"].sum()
    planted_total = (got["planted"] * got["forecast_no_plan"]).sum() / got["forecast_no_plan"].sum()
    print(f"\nall planned days: recovered lift x{total:.3f} vs planted x{planted_total:.3f} "
          f"({100 * (total / planted_total - 1):+.1f}%)")
    print(f"SKUs within 20% of the planted lift: {100 * within:.0f}% "
          f"(median |error| {got['error_pct'].abs().median():.1f}%) "
          f"{'MET' if within >= 0.9 else 'NOT MET'} (target: within 20%)")
    _backtest_coverage(res.backtest, hist)
    wh.close()
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    return 0


def _backtest_coverage(bt: pd.DataFrame, hist: pd.DataFrame) -> None:
    """The routed backtest's WAPE and cross-conformal 95% band coverage (each fold
    calibrated on the others), on all rows and on the rows that were promoted (the folds
    plan what was actually charged), and its lowest horizon step."""
    r = bt[bt["model"] == "routed"]
    promo = hist.loc[hist["promo"].fillna(False).astype(bool), ["sku_id", "pin_code", "date"]]
    on = r.merge(promo.drop_duplicates().assign(on=True), on=["sku_id", "pin_code", "date"],
                 how="left")["on"].eq(True).to_numpy()
    inside = ((r["actual"] >= r["lo"]) & (r["actual"] <= r["hi"])).to_numpy()
    wape = np.abs(r["actual"] - r["forecast"]).sum() / r["actual"].sum()
    by_step = pd.Series(inside).groupby(r["step"].to_numpy()).mean()
    print(f"\nrouted backtest with the folds' actual plans: WAPE {100 * wape:.2f}%; 95% band "
          f"covers {100 * inside.mean():.1f}% of {len(r):,} series-days, "
          f"{100 * inside[on].mean():.1f}% of the {int(on.sum()):,} promoted ones; lowest "
          f"step {100 * by_step.min():.1f}% (step {by_step.idxmin()})")


if __name__ == "__main__":
    raise SystemExit(main())
