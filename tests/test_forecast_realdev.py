"""End to end on a slice of real weekly retail data (dunnhumby, ../shared/data/realdev):
upload through the product's ingest, forecast 13 weeks from a cutoff with the routed
pipeline, and score every series against what sold. Skipped when the data is absent."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.forecast.config import ForecastConfig
from engine.forecast.metrics import score
from engine.forecast.pipeline import run_forecast
from engine.ingest.load import ingest_file
from engine.warehouse.sales_history import read_history

REALDEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "realdev"
SALES, CATALOG = REALDEV / "dunnhumby_dev_sales.csv.gz", REALDEV / "dunnhumby_dev_catalog.csv"

pytestmark = pytest.mark.skipif(not (SALES.exists() and CATALOG.exists()),
                                reason="../shared/data/realdev is not available")


@pytest.fixture(scope="module")
def slice_warehouse(tmp_path_factory):
    from engine.warehouse.db import Warehouse

    with gzip.open(SALES, "rt") as fh:
        sales = pd.read_csv(fh, dtype={"pin_code": str})
    stores = sorted(sales["store_id"].unique())[:12]          # 12 stores, every UPC
    part = sales[sales["store_id"].isin(stores)]
    tmp = tmp_path_factory.mktemp("realdev")
    part.to_csv(tmp / "slice.csv", index=False)
    wh = Warehouse(tmp / "wh.duckdb")
    ingest_file(wh, "catalog", CATALOG)
    res = ingest_file(wh, "sales", tmp / "slice.csv")
    assert res.grain == "weekly" and res.rows_loaded > 0.99 * len(part)
    yield wh
    wh.close()


def test_weekly_real_slice_is_forecast_and_scored_for_every_series(slice_warehouse):
    wh = slice_warehouse
    full = read_history(wh)
    cutoff = full["date"].max() - pd.Timedelta(weeks=13)
    res = run_forecast(wh, ForecastConfig(cutoff=cutoff.date(), workers=1), persist=False)
    assert res.grain == "W" and res.horizon == 13
    fc = res.forecasts
    series = full.loc[full["date"] <= cutoff, ["sku_id", "pin_code"]].drop_duplicates()
    assert len(fc[["sku_id", "pin_code"]].drop_duplicates()) == len(series)
    assert (fc.groupby(["sku_id", "pin_code"]).size() == 13).all()
    assert np.isfinite(fc[["forecast", "lo", "hi", "lo80", "hi80"]].to_numpy()).all()
    assert ((fc["lo"] <= fc["forecast"]) & (fc["forecast"] <= fc["hi"])).all()
    # the weekly backtest spans a year: 4 folds of 13 weeks
    assert res.backtest["fold"].nunique() == 4
    # score against the 13 weeks that followed (a week without a row sold nothing)
    test = full[full["date"] > cutoff].groupby(["sku_id", "pin_code", "date"],
                                                as_index=False)["quantity"].sum()
    scored = fc.merge(test, on=["sku_id", "pin_code", "date"], how="left")
    scored["actual"] = scored["quantity"].fillna(0.0)
    s = score(scored.assign(model="routed"), by=["model"]).iloc[0]
    assert s["n"] == 13 * len(series)
    assert 0 < s["wape"] < 80 and abs(s["bias_pct"]) < 30
    assert 75 < s["coverage95"] <= 100
    # routing: every series has a decision with its reason
    assert res.routing["reason"].str.len().gt(0).all()
