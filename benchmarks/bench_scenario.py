"""What-if benchmark: time from a slider change to updated numbers on the Forecast page,
for one SKU x PIN series and for one whole category (issue 5 targets: < 300 ms, < 2 s).

    .venv/bin/python benchmarks/bench_scenario.py [--warehouse PATH] [--small]

Without --warehouse the DEFAULT demo (or DemoConfig.small() with --small) is seeded into a
temporary file. When the warehouse has no forecast run, a quick one (seasonal naive,
moving average, LightGBM; 1 fold, 28 days) is written first. Measured, as the page does it:
- "slider change": the scenario with the base rows and response curves already cached
  (engine.forecast.whatif.run_scenario, incl. the per-lever factors), median of 20;
- "new selection": the warehouse read of the base rows plus the scenario (cache miss);
- the one-off estimate of the response curves (once per data version).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.forecast.config import ForecastConfig, ScenarioConfig  # noqa: E402
from engine.forecast.pipeline import run_forecast  # noqa: E402
from engine.forecast.whatif import response_curves, run_scenario  # noqa: E402
from engine.warehouse import sql, runs, forecasts as fq  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402
from engine.warehouse.sql import Filters  # noqa: E402
from timing import median_ms  # noqa: E402


def _open(path: str | None, small: bool) -> Warehouse:
    if path:
        return Warehouse(path)
    from engine.demo import DemoConfig, load_demo

    wh = Warehouse(Path(tempfile.mkdtemp()) / "bench_scenario.duckdb")
    t = time.perf_counter()
    load_demo(wh, DemoConfig.small() if small else DemoConfig())
    print(f"demo seeded in {time.perf_counter() - t:.1f} s")
    return wh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse")
    ap.add_argument("--small", action="store_true", help="seed DemoConfig.small()")
    args = ap.parse_args()
    wh = _open(args.warehouse, args.small)
    run = runs.latest_forecast_run(wh)
    if run is None:
        t = time.perf_counter()
        run_forecast(wh, ForecastConfig(horizon=28, folds=1, models=(
            "seasonal_naive", "moving_average", "lightgbm"), workers=2))
        print(f"quick forecast run written in {time.perf_counter() - t:.1f} s")
        run = runs.latest_forecast_run(wh)
    run_id, f = run["run_id"], Filters()
    t = time.perf_counter()
    curves = response_curves(wh)
    print(f"response curves (once per data version): {time.perf_counter() - t:.2f} s")
    opts = fq.selection_options(wh, run_id, f)
    top = opts.iloc[0]
    category = opts.groupby("category")["volume"].count().idxmax()
    cases = {f"one series {top['sku_id']} x {top['pin_code']}":
             sql.Selection(sku_id=top["sku_id"], pin_code=top["pin_code"]),
             f"category {category}": sql.Selection(category=category),
             "everything (all products, all places)": sql.Selection()}
    cfg = ScenarioConfig(price_change_pct=-8, temp_anomaly_c=3, rain_anomaly_mm=5,
                         festival_intensity=1.5, promo=True)
    print(f"{len(opts):,} series in run {run_id} (horizon {run['horizon']})")
    print(f"{'selection':45s} {'rows':>8s} {'slider change':>14s} {'new selection':>14s}")
    for label, sel in cases.items():
        base = fq.scenario_base(wh, run_id, sel, f)
        slider = median_ms(lambda: run_scenario(base, curves, cfg), 20)
        fresh = median_ms(
            lambda: run_scenario(fq.scenario_base(wh, run_id, sel, f), curves, cfg), 5)
        print(f"{label:45s} {len(base):8,d} {slider:11.1f} ms {fresh:11.1f} ms")
    print("targets: one series < 300 ms, one category < 2,000 ms")


if __name__ == "__main__":
    main()
