"""The real weekly dunnhumby file, uploaded as it is, raises no alert a category manager
would call noise: demand anomalies on fewer than 1% of series, no stale-data alert for a
deliberately historical load, and nothing dated on a day the data does not have. Skips
when the shared real data is absent."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.warehouse.db import Warehouse

REALDEV = Path("/work/shared/data/realdev")
SALES = REALDEV / "dunnhumby_dev_sales.csv.gz"
CATALOG = REALDEV / "dunnhumby_dev_catalog.csv"

pytestmark = pytest.mark.skipif(not (SALES.exists() and CATALOG.exists()),
                                reason="real dunnhumby files not present")


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory):
    from engine.alerts import generate_alerts
    from engine.ingest.load import ingest_file

    wh = Warehouse(tmp_path_factory.mktemp("realdev") / "w.duckdb")
    ingest_file(wh, "catalog", str(CATALOG))
    batch = ingest_file(wh, "sales", str(SALES))
    result = generate_alerts(wh)                     # as after an upload: judged today
    yield wh, batch, result
    wh.close()


def test_weekly_upload_raises_anomalies_on_under_one_percent_of_series(uploaded):
    wh, batch, result = uploaded
    n_series = wh.scalar("SELECT count(*) FROM (SELECT DISTINCT sku_id, pin_code "
                         "FROM sales_daily)")
    assert batch.report["grain"] == "weekly" and n_series > 1700
    assert result.failed == {}
    assert result.found["demand_anomaly"] < 0.01 * n_series


def test_historical_upload_raises_no_freshness_alert(uploaded):
    _, _, result = uploaded
    assert result.found["data_freshness"] == 0
    assert "historical load" in result.notes["data_freshness"]


def test_every_alert_is_dated_on_a_week_of_the_data(uploaded):
    from engine.alerts import list_alerts

    wh, _, _ = uploaded
    weeks = set(pd.to_datetime(wh.query("SELECT DISTINCT date FROM sales_daily")["date"]))
    alerts = list_alerts(wh)
    assert set(pd.to_datetime(alerts["day"])) <= weeks
    assert alerts["reason"].str.contains("in the week of").all()
