"""A gap in the data is not a gap in the sales: periods in which a whole PIN code (or the
file) has no rows at all, between periods with rows, are missing data (an outage, a feed
gap); a single series' zero period among its store's selling periods stays a zero."""
import numpy as np
import pandas as pd
import pytest

from engine.forecast.config import ForecastConfig
from engine.forecast.features import build_panel, data_gaps, gap_notes
from engine.forecast.pipeline import forecast_full

WEEKS = pd.date_range("2023-01-07", periods=120, freq="7D")
CFG = ForecastConfig(horizon=8, workers=1, lgb_rounds=60, folds=2, grain="W",
                     models=("moving_average", "lightgbm"))
OUT = WEEKS[90:116]          # 26 weeks of outage at PIN 110001, 4 weeks of rows after it


def _history(outage: bool, seed: int = 5) -> pd.DataFrame:
    """Two stores x 4 SKUs at a steady weekly level; with `outage`, store 110001 has no
    rows at all for the weeks OUT; SKU S0 at 560001 sells nothing (no row) in week 40."""
    rng = np.random.default_rng(seed)
    rows = []
    for pin in ("110001", "560001"):
        for s in range(4):
            level = 20 + 5 * s
            q = rng.poisson(level, len(WEEKS)).astype(float)
            keep = np.ones(len(WEEKS), bool)
            if outage and pin == "110001":
                keep &= ~WEEKS.isin(OUT)
            if pin == "560001" and s == 0:
                keep[40] = False
            rows.append(pd.DataFrame({"sku_id": f"S{s}", "pin_code": pin,
                                      "date": WEEKS[keep], "quantity": q[keep]}))
    return pd.concat(rows, ignore_index=True)


def test_a_store_wide_outage_is_missing_data_and_a_series_zero_week_stays_zero():
    h = _history(outage=True)
    gaps = data_gaps(h, h["date"].max(), "W")
    assert set(gaps["pin_code"]) == {"110001"}
    assert sorted(gaps["date"]) == list(OUT)
    panel = build_panel(h, None, CFG)
    f = panel.frame
    a = f[(f["pin_code"] == "110001") & (f["sku_id"] == "S1")]
    assert not a["date"].isin(OUT).any()                 # the gap left the panel
    assert a["pos"].is_monotonic_increasing and a["pos"].diff().dropna().eq(1).all()
    # the series continues across the gap: no zero reaches its lags
    assert (a.loc[~a["future"], "quantity"] > 0).all()
    b = f[(f["pin_code"] == "560001") & (f["sku_id"] == "S0")]
    assert b.loc[b["date"] == WEEKS[40], "quantity"].tolist() == [0.0]


def test_a_store_with_one_or_two_series_keeps_its_empty_weeks_as_zero_sales():
    h = _history(outage=True)
    small = h[h["sku_id"].isin(["S0", "S1"])]             # 2 series per store
    assert data_gaps(small, small["date"].max(), "W").empty


def test_the_forecast_after_an_outage_equals_the_one_without_it():
    with_gap = forecast_full(_history(outage=True), None, CFG)
    no_gap = forecast_full(_history(outage=False), None, CFG)
    a = with_gap.forecasts.groupby(["pin_code", "sku_id"])["forecast"].mean()
    b = no_gap.forecasts.groupby(["pin_code", "sku_id"])["forecast"].mean()
    # read as 26 weeks of zero sales the store's forecast would fall to a fraction
    assert np.allclose(a.loc["110001"], b.loc["110001"], rtol=0.15), (a, b)
    assert np.allclose(a.loc["560001"], b.loc["560001"], rtol=0.15)
    # the run says what it did, in business words with Indian dates
    assert with_gap.notes == [
        "26 weeks with no rows at all for PIN 110001 (22-Sep-2024 .. 22-Mar-2025) were "
        "treated as missing data, not zero sales"]
    assert no_gap.notes == []
    # the backtest is not scored on the weeks that are missing data
    bt = with_gap.backtest
    assert not (bt["pin_code"].eq("110001") & bt["date"].isin(OUT)).any()
    assert bt["date"].isin(OUT).any()                     # the other store's weeks are


def test_gap_notes_name_each_run_of_missing_periods():
    gaps = pd.DataFrame({"pin_code": ["1", "1", "1", "2"], "period": [-5, -4, -1, -3],
                         "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05",
                                                 "2024-01-03"])})
    assert gap_notes(gaps, "D") == [
        "2 days with no rows at all for PIN 1 (01-Jan-2024 .. 02-Jan-2024) were treated "
        "as missing data, not zero sales",
        "1 day with no rows at all for PIN 1 (05-Jan-2024 .. 05-Jan-2024) were treated "
        "as missing data, not zero sales",
        "1 day with no rows at all for PIN 2 (03-Jan-2024 .. 03-Jan-2024) were treated "
        "as missing data, not zero sales"]
    assert gap_notes(None, "W") == []


def test_the_forecast_command_reports_the_gap_in_its_summary_and_progress(tmp_path, capsys):
    import json

    from engine.__main__ import main
    from engine.warehouse.db import Warehouse

    path = tmp_path / "gaps.duckdb"
    wh = Warehouse(path)
    try:
        with wh.transaction() as cur:
            cur.register("s", _history(outage=True))
            cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue, "
                        "price, regular_price, promo) SELECT sku_id, pin_code, "
                        "CAST(date AS DATE), quantity, 50 * quantity, 50, 50, false FROM s")
    finally:
        wh.close()
    code = main(["forecast", "--warehouse", str(path), "--horizon", "4", "--folds", "1",
                 "--models", "moving_average", "--json", "--no-alerts"])
    assert code == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    note = ("26 weeks with no rows at all for PIN 110001 (22-Sep-2024 .. 22-Mar-2025) were "
            "treated as missing data, not zero sales")
    assert [g["note"] for g in summary["data_gaps"]] == [note]
    assert summary["data_gaps"][0]["periods"] == 26
    assert note in out.err                               # the progress line
