"""`python -m engine forecast` and `python -m engine backtest` (contract in DESIGN.md)."""
from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from engine.export import ExportError, check_target, write_table
from engine.forecast.config import DEFAULT_MODELS_BY_GRAIN, ForecastConfig, ForecastError
from engine.forecast.registry import available_models
from engine.warehouse.cli import add_warehouse_arg, open_warehouse

OUT_COLUMNS = ["sku_id", "pin_code", "date", "forecast", "lo", "hi", "model"]
# Forecast and interval columns are units (2 decimals in --out files).
UNIT_KINDS = {c: "units" for c in ("forecast", "lo", "hi", "lo80", "hi80", "actual",
                                   "forecast_no_plan")}


class Progress:
    """Stage lines with elapsed time on stderr (stdout stays clean for --json)."""

    def __init__(self, quiet: bool = False):
        self.t0 = time.perf_counter()
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {message}", file=sys.stderr,
                  flush=True)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--horizon", type=int, default=None,
                   help="periods to forecast (days, or weeks for weekly data); default 28 "
                        "days or 13 weeks")
    p.add_argument("--cutoff", default=None, metavar="DATE",
                   help="last date the models may see (default: last sales date)")
    p.add_argument("--folds", type=int, default=None,
                   help="backtest folds (default 3; weekly data: enough to span a year)")
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="models to try, from: " + ", ".join(available_models())
                        + " (default: " + "; ".join(f"{'daily' if g == 'D' else 'weekly'} "
                        + " ".join(m) for g, m in DEFAULT_MODELS_BY_GRAIN.items()) + ")")
    p.add_argument("--workers", type=int, default=2, help="CPU workers (default 2)")
    p.add_argument("--stat-top-n", type=int, default=150,
                   help="ETS, Theta and ARIMA run on this many top-volume series "
                        "(default 150)")
    p.add_argument("--out", default=None, metavar="FILE.csv",
                   help="write rows to a .csv (or .xlsx / .json) file")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_warehouse_arg(p)


def add_commands(sub) -> None:
    p = sub.add_parser("forecast", help="routed demand forecast per SKU x PIN with intervals")
    _common(p)
    p.add_argument("--no-alerts", action="store_true",
                   help="do not re-check the alert rules after the run")
    p.add_argument("--plan", default="latest", metavar="latest|none|VERSION",
                   help="the price / promotion plan the forecast reads (uploaded with "
                        "'ingest plan'): the latest version (default; none when no plan was "
                        "uploaded), none, or a version number")
    _backend_args(p)
    p.set_defaults(func=run_forecast_cmd)
    b = sub.add_parser("backtest", help="rolling-origin backtest of every model")
    _common(b)
    b.add_argument("--plan", choices=("none", "actual"), default="none",
                   help="actual: each fold reads the prices and promotions actually charged "
                        "in its horizon as its plan, and 'routed_no_plan' scores the same "
                        "forecast without them (default: none)")
    _backend_args(b)
    b.set_defaults(func=run_backtest_cmd)


def _backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("local", "dask"), default=None,
                   help="where the run executes: local (this machine) or dask (a Dask "
                        "cluster; default: dask when MICROPULSE_DASK_SCHEDULER is set, "
                        "else local; or MICROPULSE_FORECAST_BACKEND)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="the Dask scheduler's address (default: MICROPULSE_DASK_SCHEDULER)")


def _config(args) -> ForecastConfig:
    from engine.forecast.registry import model_class

    cutoff = None
    if args.cutoff:
        try:
            cutoff = pd.Timestamp(args.cutoff).date()
        except ValueError as exc:
            raise ForecastError(f"--cutoff {args.cutoff!r} is not a date (use YYYY-MM-DD).",
                                evidence={"cutoff": args.cutoff}) from exc
    cfg = ForecastConfig(horizon=args.horizon, cutoff=cutoff, folds=args.folds,
                         models=tuple(args.models) if args.models else None,
                         workers=args.workers, stat_top_n=args.stat_top_n)
    for name in cfg.models or ():  # an unknown model fails here, before the warehouse opens
        model_class(name)
    return cfg


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def _run_on_warehouse(args, run):
    """The config from the flags, then `run(wh, cfg, say)` on the opened warehouse (closed
    afterwards). Returns (result, cfg, say); ForecastError and ExportError (an --out file
    that cannot be written, checked before the run) propagate."""
    if getattr(args, "out", None):
        check_target(args.out)
    say = Progress(args.quiet)
    cfg = _config(args)
    wh = open_warehouse(args)
    try:
        return run(wh, cfg, say), cfg, say
    finally:
        wh.close()


def run_forecast_cmd(args) -> int:
    from engine.forecast.backends import backend_from
    from engine.forecast.pipeline import run_forecast

    try:
        backend = backend_from(args.backend, args.scheduler)
    except ForecastError as exc:
        return _fail(exc)

    def run(wh, cfg, say):
        res = run_forecast(wh, cfg, progress=say, plan=args.plan, backend=backend)
        if not args.no_alerts:
            from engine.alerts import refresh_after

            say(refresh_after(wh, "forecast run"))
        return res

    try:
        res, _, say = _run_on_warehouse(args, run)
    except (ForecastError, ExportError) as exc:
        return _fail(exc)
    fc = res.forecasts
    if args.out:
        out = fc[OUT_COLUMNS + [c for c in ("forecast_no_plan", "planned") if c in fc]].copy()
        out["date"] = pd.to_datetime(out["date"])
        try:
            write_table(out, args.out, kinds=UNIT_KINDS)
        except ExportError as exc:
            return _fail(exc)
        say(f"wrote {len(out):,} rows to {args.out}")
    summary = {
        "run_id": res.run_id, "n_series": int(fc[["sku_id", "pin_code"]].drop_duplicates().shape[0]),
        "rows": int(len(fc)), "grain": res.grain, "horizon": res.horizon,
        "cutoff": res.cutoff.date().isoformat(), "interval_method": res.interval_method,
        "models": fc.drop_duplicates(["sku_id", "pin_code"])["model"].value_counts().to_dict(),
        "timings": res.timings, "out": args.out,
        "plan_version": res.plan_version, "planned_rows": res.planned_rows,
        "backend": backend.name,
        "data_gaps": res.data_gaps,
    }
    if res.backtest is not None:
        acc = res.accuracy(["model"]).set_index("model")
        summary["backtest"] = {m: {k: round(float(acc.loc[m, k]), 2)
                                   for k in ("wape", "coverage80", "coverage95", "fva_pct")
                                   if pd.notna(acc.loc[m, k])} for m in acc.index}
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(f"run {res.run_id}: {summary['n_series']:,} series x {res.horizon} "
              f"{'weeks' if res.grain == 'W' else 'days'} after {summary['cutoff']} "
              f"in {res.timings.get('total', 0):.1f} s")
        if res.plan_version is not None:
            print(f"  plan version {res.plan_version}: {res.planned_rows:,} series x "
                  f"{'weeks' if res.grain == 'W' else 'days'} planned")
        for m, n in summary["models"].items():
            print(f"  {m}: {n:,} series")
        for m, v in summary.get("backtest", {}).items():
            print(f"  backtest {m}: WAPE {v.get('wape', float('nan')):.1f}%, 95% coverage "
                  f"{v.get('coverage95', float('nan')):.1f}%")
    return 0


def run_backtest_cmd(args) -> int:
    from engine.forecast.backends import backend_from
    from engine.forecast.pipeline import run_backtest

    try:
        backend = backend_from(args.backend, args.scheduler)
        res, cfg, say = _run_on_warehouse(
            args, lambda wh, cfg, say: run_backtest(wh, cfg, progress=say,
                                                    with_plan=args.plan == "actual",
                                                    backend=backend))
    except (ForecastError, ExportError) as exc:
        return _fail(exc)
    if args.out:
        out = res.backtest.drop(columns=["segment"], errors="ignore").copy()
        for col in ("date", "cutoff"):
            out[col] = pd.to_datetime(out[col])
        try:
            write_table(out, args.out, kinds=UNIT_KINDS)
        except ExportError as exc:
            return _fail(exc)
        say(f"wrote {len(out):,} rows to {args.out}")
    scores, c = res.scores, res.config
    by_step = res.by_step[["model", "step", "n", "wape", "bias_pct", "coverage80",
                           "coverage95"]]
    if args.json:
        print(json.dumps({"run_id": res.run_id, "backend": backend.name, "grain": c.grain,
                          "folds": c.folds,
                          "horizon": c.horizon, "timings": res.timings,
                          "scores": json.loads(scores.round(3).to_json(orient="records")),
                          "by_step": json.loads(by_step.round(3).to_json(orient="records"))}))
    else:
        cols = ["model", "n", "wape", "mape", "smape", "mase", "rmsse", "bias_pct",
                "coverage80", "coverage95", "fva_pct"]
        unit = "weeks" if c.grain == "W" else "days"
        print(f"backtest {res.run_id}: {c.folds} folds x {c.horizon} {unit}")
        print(scores[cols].round(2).to_string(index=False))
        best = "routed" if "routed" in set(by_step["model"]) else scores.iloc[0]["model"]
        step = by_step[by_step["model"] == best].set_index("step")
        print(f"\n{best}: coverage by horizon step ({unit} ahead)")
        print(step[["wape", "coverage80", "coverage95"]].round(1).T.to_string())
    return 0
