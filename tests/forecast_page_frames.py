"""Warehouse copies for the Forecast / Accuracy page tests: the session's small demo plus
one cheap forecast run written through the engine (built once per test process), or a
plain copy with no run (for the empty states). Never touches the shared session file."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from engine.forecast.config import ForecastConfig
from engine.warehouse.db import Warehouse, copy_warehouse

CHEAP = ForecastConfig(horizon=14, folds=1, models=("seasonal_naive", "moving_average",
                                                    "lightgbm"),
                       lgb_rounds=60, workers=1)




@functools.lru_cache(maxsize=None)
def forecast_copy(src: str) -> Path:
    """A copy of `src` with one cheap forecast run (and its backtest rows) in it."""
    from engine.forecast.pipeline import run_forecast

    folder = Path(tempfile.mkdtemp(prefix="mp_fc_pages_"))
    atexit.register(shutil.rmtree, folder, True)
    path = copy_warehouse(Path(src), folder / "forecast.duckdb")
    wh = Warehouse(path)
    try:
        run_forecast(wh, CHEAP)
    finally:
        wh.close()
    return path


def biggest_series(path: Path, category: str) -> tuple[str, str]:
    """(sku_id, pin_code) of the category's largest forecast series in the latest run."""
    from engine.warehouse.forecasts import selection_options
    from engine.warehouse.runs import latest_forecast_run
    from engine.warehouse.sql import Filters

    wh = Warehouse(path)
    try:
        run = latest_forecast_run(wh)
        opts = selection_options(wh, run["run_id"], Filters(categories=(category,)))
    finally:
        wh.close()
    return opts["sku_id"].iloc[0], opts["pin_code"].iloc[0]
