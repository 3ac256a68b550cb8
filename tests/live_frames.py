"""A warehouse for the live-accuracy tests: the session's small demo with one cheap
forecast run made 20 days before its last sales day, the sales after that cutoff removed
so that planted actuals can 'arrive' through the product's ingest. Never touches the
shared session file."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from engine.forecast.config import ForecastConfig
from engine.ingest.load import ingest_file
from engine.warehouse.db import Warehouse
from tests.forecast_page_frames import copy_warehouse

CHEAPEST = ForecastConfig(horizon=14, folds=1, models=("seasonal_naive", "moving_average"),
                          workers=1)


@functools.lru_cache(maxsize=None)
def run_copy(src: str) -> Path:
    """A copy of `src` with the cheap forecast run, cut off 20 days before the last sales
    day, and the sales after the cutoff removed (uploads refuse future dates, so this is
    how sales can still arrive). Built once per test process; copy it before writing."""
    from engine.forecast.pipeline import run_forecast

    folder = Path(tempfile.mkdtemp(prefix="mp_live_"))
    atexit.register(shutil.rmtree, folder, True)
    path = copy_warehouse(Path(src), folder / "run.duckdb")
    wh = Warehouse(path)
    try:
        cutoff = pd.Timestamp(wh.scalar("SELECT max(date) FROM sales_daily")) - pd.Timedelta(
            days=20)
        run_forecast(wh, CHEAPEST.with_(cutoff=cutoff.date()))
        with wh.transaction() as cur:
            cur.execute("DELETE FROM sales WHERE date > ?", [cutoff.date()])
            cur.execute("DELETE FROM sales_daily WHERE date > ?", [cutoff.date()])
    finally:
        wh.close()
    return path


def run_and_forecasts(wh):
    run = wh.query("SELECT run_id, cutoff FROM forecast_runs WHERE kind = 'forecast'").iloc[0]
    fc = wh.query("SELECT f.sku_id, f.pin_code, f.date, f.forecast, f.lo, f.hi, f.lo80, "
                  "f.hi80, k.category FROM forecasts f JOIN skus k USING (sku_id) "
                  "WHERE run_id = ? ORDER BY date, sku_id, pin_code", [run["run_id"]])
    fc["date"] = pd.to_datetime(fc["date"])
    return run, fc


def upload(wh, tmp_path, actuals: pd.DataFrame, name: str = "actuals.csv"):
    """Upload daily rows (sku_id, pin_code, date, quantity) through the product's ingest."""
    f = tmp_path / name
    out = actuals[["sku_id", "pin_code", "date", "quantity"]].copy()
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    out.to_csv(f, index=False, float_format="%.17g")
    result = ingest_file(wh, "sales", f)
    assert result.rows_loaded == len(out), result.report.get("issues")
    return result


def first_days(fc: pd.DataFrame, n: int) -> pd.DataFrame:
    days = sorted(fc["date"].unique())[:n]
    return fc[fc["date"].isin(days)].copy()
