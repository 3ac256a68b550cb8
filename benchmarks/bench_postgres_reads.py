"""The pages' main reads on DuckDB and on PostgreSQL: median ms per read and the ratio.

    .venv/bin/python benchmarks/bench_postgres_reads.py [--repeat 20]

Loads the small demo (with one cheap forecast run and its alerts) into a DuckDB file and
into a throwaway PostgreSQL server (engine/warehouse/pgserver.py, in a temp dir), then
times the engine calls the components/*_data.py accessors make for the Overview (KPIs,
trend, sales by PIN), the Forecast page (chain forecast series, history), Accuracy (runs,
scores, worst series), the map layer (per-PIN inputs) and the alerts list, on both
backends. Prints figures only (the
target: PostgreSQL within 2x of DuckDB); nothing is asserted here.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.alerts import list_alerts, refresh_after  # noqa: E402
from engine.demo import DemoConfig, load_demo  # noqa: E402
from engine.forecast import scores  # noqa: E402
from engine.forecast.config import ForecastConfig  # noqa: E402
from engine.forecast.pipeline import run_forecast  # noqa: E402
from engine.map_metrics import pin_inputs  # noqa: E402
from engine.warehouse import backtests as fq, sales_history, forecasts, sql, runs  # noqa: E402
from engine.warehouse import pgserver  # noqa: E402
from engine.warehouse import sql, sales_summary as q  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402
from timing import median_ms  # noqa: E402


def reads(wh: Warehouse) -> dict:
    """The pages' reads, as their components/ accessors call the engine."""
    f = sql.Filters()
    run_id = runs.backtest_runs(wh)["run_id"].iloc[0]
    model = scores.backtest_scores(wh, run_id, f, ("model",))["model"].iloc[0]
    chain = sql.Selection()
    return {
        "overview kpis": lambda: q.kpis(wh, f),
        "overview trend (weekly)": lambda: q.sales_trend(wh, f, "W"),
        "sales by PIN": lambda: q.sales_by_pin(wh, f),
        "forecast series (chain)": lambda: forecasts.forecast_series(wh, run_id, chain, f),
        "history series (chain)": lambda: sales_history.history_series(wh, chain, f),
        "accuracy runs": lambda: runs.backtest_runs(wh),
        "accuracy scores by model": lambda: scores.backtest_scores(wh, run_id, f, ("model",)),
        "worst series": lambda: fq.worst_series(wh, run_id, f, model, 15),
        "map layer (sales per PIN)": lambda: pin_inputs(wh, f, "sales"),
        "alerts list": lambda: list_alerts(wh),
    }


# one cheap forecast run with its backtest (the Forecast and Accuracy pages' data)
CHEAP = ForecastConfig(horizon=14, folds=1, models=("seasonal_naive", "moving_average"),
                       workers=1)


def measure(path: Path, repeat: int) -> tuple[dict[str, float], float]:
    t = time.perf_counter()
    wh = Warehouse(path)
    load_demo(wh, DemoConfig.small())
    run_forecast(wh, CHEAP)
    refresh_after(wh, "benchmark")
    seeded = time.perf_counter() - t
    try:
        return {name: median_ms(fn, repeat) for name, fn in reads(wh).items()}, seeded
    finally:
        wh.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    os.environ.pop("MICROPULSE_DATABASE_URL", None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pg-reads-"))
    try:
        duck, duck_seed = measure(tmp / "demo.duckdb", args.repeat)
        pgdir = tempfile.mkdtemp(prefix="micropulse-pg-bench-")   # the server's own folder
        try:
            os.environ["MICROPULSE_DATABASE_URL"] = pgserver.start(pgdir)
            pg, pg_seed = measure(tmp / "demo_pg.duckdb", args.repeat)
        finally:
            os.environ.pop("MICROPULSE_DATABASE_URL", None)
            pgserver.stop(pgdir)
            shutil.rmtree(pgdir, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"small demo + cheap forecast + alerts: DuckDB {duck_seed:.1f} s, "
          f"PostgreSQL {pg_seed:.1f} s; median of {args.repeat} reads each")
    print(f"{'read':<28}{'DuckDB ms':>11}{'PostgreSQL ms':>15}{'PG/DuckDB':>11}")
    ratios = []
    for name in duck:
        ratio = pg[name] / duck[name] if duck[name] else float("nan")
        ratios.append(ratio)
        print(f"{name:<28}{duck[name]:>11.1f}{pg[name]:>15.1f}{ratio:>10.2f}x")
    print(f"{'total':<28}{sum(duck.values()):>11.1f}{sum(pg.values()):>15.1f}"
          f"{sum(pg.values()) / sum(duck.values()):>10.2f}x")
    print(f"reads within 2x: {sum(r <= 2 for r in ratios)} of {len(ratios)}")


if __name__ == "__main__":
    main()
