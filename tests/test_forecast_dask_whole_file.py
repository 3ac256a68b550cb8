"""A Dask run judges data gaps and chain-wide promotions on the whole file, as the local run
does: a planted weekly history where PIN 110001 has an outage visible only across its two
categories (2 series of each: neither category x state partition alone holds the 3 rows a
week a gap needs), Dairy at PIN 560001 sells nothing for 4 weeks while its Snacks sell (an
empty category, not a gap), and SKU D0 is promoted chain-wide across Delhi and Karnataka
while only a minority of its Karnataka rows are promoted. The Dask run (a LocalCluster of
2 workers, one partition per category x state) equals the local run: deterministic
families within 1e-6, the same gap note, and the same imputed promotion."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast.backends import DaskBackend, LocalBackend
from engine.forecast.config import ForecastConfig
from engine.forecast.features import WholeFile, build_panel, data_gaps, normalize_history
from engine.forecast.pipeline import run_forecast
from engine.warehouse.db import Warehouse
from tests.test_forecast_dask import PER_SERIES, _cluster

distributed = pytest.importorskip("distributed")
WEEKS = pd.date_range("2023-01-07", periods=120, freq="7D")
OUTAGE = WEEKS[92:100]          # no rows at all at PIN 110001 (both categories)
EMPTY_DAIRY = WEEKS[50:54]      # Dairy at 560001 sells nothing; its Snacks sell
PROMO = WEEKS[[30, 31, 60, 61, 70, 71]]    # D0 promoted chain-wide
STORES = {"110001": "Delhi", "110002": "Delhi", "560001": "Karnataka", "560002": "Karnataka",
          "560003": "Karnataka"}
CITY = {"Delhi": "New Delhi", "Karnataka": "Bengaluru"}
CATEGORY = {"D0": "Dairy", "D1": "Dairy", "D2": "Dairy", "K0": "Snacks", "K1": "Snacks"}
CFG = ForecastConfig(horizon=8, folds=2, grain="W", lgb_rounds=60, workers=1,
                     models=(*PER_SERIES, "lightgbm"))
NOTE = ("8 weeks with no rows at all for PIN 110001 (06-Oct-2024 .. 30-Nov-2024) were "
        "treated as missing data, not zero sales")


def _sales(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for pin, state in STORES.items():
        for sku, category in CATEGORY.items():
            if sku == "D2" and state == "Delhi":      # 3 Dairy series in Karnataka, 2 in Delhi
                continue
            promo = np.isin(WEEKS, PROMO) & (sku == "D0") & (pin in ("110001", "110002",
                                                                      "560001"))
            q = rng.poisson(np.where(promo, 36, 24)).astype(float)
            keep = np.ones(len(WEEKS), bool)
            if pin == "110001":
                keep &= ~WEEKS.isin(OUTAGE)
            if pin == "560001" and category == "Dairy":
                keep &= ~WEEKS.isin(EMPTY_DAIRY)
            if pin == "560003" and sku == "D0":       # no sale in the promotion weeks
                keep &= ~WEEKS.isin(PROMO)
            # displayed with the promotion in Delhi, not at 560001; one Snacks week at
            # 560002 displayed half the week: the file's display is a share, not yes/no
            display = np.where(promo & pin.startswith("11"), 1.0, 0.0)
            if pin == "560002" and sku == "K0":
                display[10] = 0.5
            rows.append(pd.DataFrame({
                "sku_id": sku, "pin_code": pin, "date": WEEKS[keep], "quantity": q[keep],
                "price": np.where(promo, 40.0, 50.0)[keep], "regular_price": 50.0,
                "promo": promo[keep], "display": display[keep]}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("whole") / "w.duckdb"
    wh = Warehouse(path)
    with wh.transaction() as cur:
        cur.register("s", _sales())
        cur.execute("INSERT INTO sales_daily (sku_id, pin_code, date, quantity, revenue, price, "
                    "regular_price, promo, display) SELECT sku_id, pin_code, CAST(date AS DATE),"
                    " quantity, price * quantity, price, regular_price, promo, display FROM s")
        cur.register("k", pd.DataFrame({"sku_id": list(CATEGORY),
                                        "category": list(CATEGORY.values())}))
        cur.execute("INSERT INTO skus (sku_id, name, category, mrp) "
                    "SELECT sku_id, sku_id, category, 60 FROM k")
        cur.register("l", pd.DataFrame({"pin_code": list(STORES),
                                        "city": [CITY[s] for s in STORES.values()],
                                        "state": list(STORES.values())}))
        cur.execute("INSERT INTO locations (pin_code, city, state) "
                    "SELECT pin_code, city, state FROM l")
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def runs(warehouse):
    """{config name: (local run, Dask run, the Dask run's progress lines)}: with LightGBM,
    and the deterministic families alone (routed alike, so every forecast comparable)."""
    cluster, client = _cluster()
    out = {}
    try:
        for name, cfg in (("lightgbm", CFG), ("per_series", CFG.with_(models=PER_SERIES))):
            said: list = []
            out[name] = (run_forecast(warehouse, cfg, persist=False, backend=LocalBackend()),
                         run_forecast(warehouse, cfg, persist=False, progress=said.append,
                                      backend=DaskBackend(client, partition_series=1)), said)
    finally:
        client.close()
        cluster.close()
    return out


def test_the_sums_duckdb_reads_from_the_warehouse_are_the_local_runs_own(warehouse):
    # the same tables whether DuckDB reads the warehouse or the run's history frame
    wh_sums = WholeFile.of_warehouse(warehouse)
    frame_sums = WholeFile.of(normalize_history(_sales()))
    pd.testing.assert_frame_equal(wh_sums.pins, frame_sums.pins, check_dtype=False)
    pd.testing.assert_frame_equal(wh_sums.promotions, frame_sums.promotions, check_dtype=False)
    assert wh_sums.share_kinds == frame_sums.share_kinds
    assert frame_sums.share_kinds["display"] == WEEKS[10]          # a share from then on
    assert pd.isna(frame_sums.share_kinds["feature"])
    # D0's promotion weeks: 3 promoted of 4 sales rows, at 40
    d0 = frame_sums.promotions[frame_sums.promotions["sku_id"] == "D0"]
    assert list(d0["date"]) == list(PROMO)
    assert (d0["rows"] == 4).all() and (d0["promoted"] == 3).all()
    assert np.allclose(d0["paid"] / d0["paid_rows"], 40.0)


def test_a_partition_judges_the_gap_and_the_chain_wide_promotion_on_the_whole_file():
    h = normalize_history(_sales())
    cut = h["date"].max()
    whole = WholeFile.of(h)
    # the outage at 110001 is a gap only with both categories' rows
    assert sorted(data_gaps(h, cut, "W")["date"]) == list(OUTAGE)
    delhi_dairy = h[h["pin_code"].str.startswith("11") & h["sku_id"].str.startswith("D")]
    assert data_gaps(delhi_dairy, cut, "W").empty                 # judged on its own rows
    assert sorted(data_gaps(delhi_dairy, cut, "W", whole)["date"]) == list(OUTAGE)
    # Dairy's empty weeks at 560001 are a gap for the Dairy x Karnataka rows alone
    ka_dairy = h[h["pin_code"].str.startswith("56") & h["sku_id"].str.startswith("D")]
    assert sorted(data_gaps(ka_dairy, cut, "W")["date"]) == list(EMPTY_DAIRY)
    assert set(data_gaps(ka_dairy, cut, "W", whole)["pin_code"]) == {"110001"}

    def promo_at_560003(panel) -> list[int]:
        r = panel.rows
        at = (r["sku_id"] == "D0") & (r["pin_code"] == "560003") & r["date"].isin(PROMO)
        return r.loc[at, "promo_flag"].tolist()

    cfg = CFG.for_grain("W")
    assert promo_at_560003(build_panel(h, None, cfg)) == [1] * len(PROMO)   # the local run
    # a Karnataka partition sees 1 promoted row of 2: alone it imputes nothing
    assert promo_at_560003(build_panel(ka_dairy, None, cfg)) == [0] * len(PROMO)
    part = build_panel(ka_dairy, None, cfg, whole=whole)
    assert promo_at_560003(part) == [1] * len(PROMO)
    # at the promoted rows' price, and their mean display: the file's display is a share
    # (a Snacks row), though every Dairy x Karnataka row is 0 or 1
    for panel in (build_panel(h, None, cfg), part):
        r = panel.rows
        at = (r["sku_id"] == "D0") & (r["pin_code"] == "560003") & r["date"].isin(PROMO)
        assert np.allclose(r.loc[at, "price"], 40.0)
        assert np.allclose(r.loc[at, "display_flag"], 2 / 3)


@pytest.mark.parametrize("name", ["lightgbm", "per_series"])
def test_the_dask_run_equals_the_local_run_on_gaps_and_chain_wide_promotions(runs, name):
    local, remote, said = runs[name]
    assert remote.timings["partitions"] == 4       # Dairy / Snacks x Delhi / Karnataka
    assert local.notes == remote.notes == [NOTE]
    assert NOTE in said
    # the same folds, scored on the same periods (not the outage's), the same numbers
    a = local.backtest[local.backtest["model"].isin(PER_SERIES)]
    b = remote.backtest[remote.backtest["model"].isin(PER_SERIES)]
    keys = ["model", "fold", "sku_id", "pin_code", "date"]
    assert len(a) == len(b) > 0
    both = a.merge(b, on=keys, suffixes=("_l", "_d"))
    assert len(both) == len(a)
    assert (both["cutoff_l"] == both["cutoff_d"]).all()
    for col in ("forecast", "actual", "lo", "hi", "lo80", "hi80"):
        assert np.allclose(both[f"{col}_l"], both[f"{col}_d"], atol=1e-6, rtol=0), col
    f = local.forecasts.merge(remote.forecasts, on=["sku_id", "pin_code", "date"],
                              suffixes=("_l", "_d"))
    assert len(f) == len(local.forecasts) == len(remote.forecasts)
    if name == "per_series":         # routed on equal backtests: every forecast equal
        assert (f["model_l"] == f["model_d"]).all()
        for col in ("forecast", "lo", "hi", "lo80", "hi80"):
            assert np.allclose(f[f"{col}_l"], f[f"{col}_d"], atol=1e-6, rtol=0), col
