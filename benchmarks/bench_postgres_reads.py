"""The pages' main reads on DuckDB and on PostgreSQL: median ms per read and the ratio.

    .venv/bin/python benchmarks/bench_postgres_reads.py [--repeat 20] [--demo small|default]

Loads the small demo, or the default one `make run` opens, with one cheap forecast run and
its alerts, into a DuckDB file and into a throwaway PostgreSQL server
(engine/warehouse/pgserver.py, in a temp dir), then times the engine calls the
components/*_data.py accessors make for the Overview (KPIs, trend, sales by PIN), the
Forecast page (chain forecast series, history), Accuracy (runs, scores, worst series), the
map layer (per-PIN inputs) and the alerts list, on both backends; then the first KPI read
after a sales commit (on PostgreSQL it refreshes the process's read copy of the sales
tables, engine/warehouse/pgmirror.py). Prints figures only (the target: PostgreSQL within
2x of DuckDB); nothing is asserted here.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
from engine.warehouse import backtests  # noqa: E402
from engine.warehouse import forecasts, pgserver, runs, sales_history, sql  # noqa: E402
from engine.warehouse import sales_summary as q  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402


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
        "worst series": lambda: backtests.worst_series(wh, run_id, f, model, 15),
        "map layer (sales per PIN)": lambda: pin_inputs(wh, f, "sales"),
        "alerts list": lambda: list_alerts(wh),
    }


# one cheap forecast run with its backtest (the Forecast and Accuracy pages' data)
CHEAP = ForecastConfig(horizon=14, folds=1, models=("seasonal_naive", "moving_average"),
                       workers=1)


def seed(path: Path, demo: DemoConfig) -> tuple[Warehouse, float]:
    t = time.perf_counter()
    wh = Warehouse(path)
    load_demo(wh, demo)
    run_forecast(wh, CHEAP)
    refresh_after(wh, "benchmark")
    return wh, time.perf_counter() - t


def first_read_ms(wh: Warehouse) -> float:
    """The first KPI read after new sales are committed (PostgreSQL: copies the sales
    tables into the process's read copy first, engine/warehouse/pgmirror.py)."""
    with wh.transaction(touches=("sales",)):
        pass
    t = time.perf_counter()
    reads(wh)["overview kpis"]()
    return (time.perf_counter() - t) * 1000


def interleaved(duck: Warehouse, pg: Warehouse, repeat: int) -> dict[str, tuple[float, float]]:
    """Median ms per read on each backend, the two timed alternately (the machine is
    shared: both see the same load)."""
    out = {}
    for (name, on_duck), on_pg in zip(reads(duck).items(), reads(pg).values()):
        on_duck(), on_pg()                                   # warm-up
        times = ([], [])
        for _ in range(repeat):
            for fn, bucket in ((on_duck, times[0]), (on_pg, times[1])):
                t = time.perf_counter()
                fn()
                bucket.append((time.perf_counter() - t) * 1000)
        out[name] = (statistics.median(times[0]), statistics.median(times[1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--demo", choices=("small", "default"), default="small")
    args = ap.parse_args()
    demo = DemoConfig.small() if args.demo == "small" else DemoConfig()
    os.environ.pop("MICROPULSE_DATABASE_URL", None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pg-reads-"))
    pgdir = tempfile.mkdtemp(prefix="micropulse-pg-bench-")   # the server's own folder
    duck = pg = None
    try:
        duck, duck_seed = seed(tmp / "demo.duckdb", demo)
        os.environ["MICROPULSE_DATABASE_URL"] = pgserver.start(pgdir)
        pg, pg_seed = seed(tmp / "demo_pg.duckdb", demo)
        timed = interleaved(duck, pg, args.repeat)
        first = first_read_ms(duck), first_read_ms(pg)
    finally:
        for wh in (duck, pg):
            if wh is not None:
                wh.close()
        os.environ.pop("MICROPULSE_DATABASE_URL", None)
        pgserver.stop(pgdir)
        shutil.rmtree(pgdir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.demo} demo + cheap forecast + alerts: DuckDB {duck_seed:.1f} s, "
          f"PostgreSQL {pg_seed:.1f} s; median of {args.repeat} reads each, timed alternately; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'read':<28}{'DuckDB ms':>11}{'PostgreSQL ms':>15}{'PG/DuckDB':>11}")
    for name, (d, p) in timed.items():
        print(f"{name:<28}{d:>11.1f}{p:>15.1f}{p / d:>10.2f}x")
    total_d, total_p = (sum(v[i] for v in timed.values()) for i in (0, 1))
    print(f"{'total':<28}{total_d:>11.1f}{total_p:>15.1f}{total_p / total_d:>10.2f}x")
    print(f"reads within 2x: {sum(p <= 2 * d for d, p in timed.values())} of {len(timed)}")
    print(f"first KPI read after a sales commit: DuckDB {first[0]:.0f} ms, PostgreSQL "
          f"{first[1]:.0f} ms (copying the sales tables into the read copy included)")


if __name__ == "__main__":
    main()
