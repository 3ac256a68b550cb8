"""A Dask run judges data gaps and chain-wide promotions on the whole file, as the local run
does: a planted weekly history where PIN 110001 has an outage visible only across its two
categories (2 series of each: neither category x state partition alone holds the 3 rows a
week a gap needs), Dairy at PIN 560001 sells nothing for 4 weeks while its Snacks sell (an
empty category, not a gap), and SKU D0 is promoted chain-wide across Delhi and Karnataka
while only a minority of its Karnataka rows are promoted. The Dask run (a LocalCluster of
2 workers, one partition per category x state) equals the local run: deterministic
families within 1e-6, the same gap note, and the same imputed promotion. With an uploaded
plan, each backtest fold's plan (what was actually charged) imputes D0's chain-wide
promotion at 560003 from the whole file too, so the plan runs are equal as well."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.forecast.backends import DaskBackend, LocalBackend
from engine.forecast.config import ForecastConfig
from engine.forecast.features import WholeFile, build_panel, data_gaps, normalize_history
from engine.forecast.pipeline import run_forecast
from engine.forecast.plan import actual_plan
from engine.warehouse.db import Warehouse
from tests.test_forecast_dask import PER_SERIES, _cluster

distributed = pytest.importorskip("distributed")
WEEKS = pd.date_range("2023-01-07", periods=120, freq="7D")
OUTAGE = WEEKS[92:100]          # no rows at all at PIN 110001 (both categories)
EMPTY_DAIRY = WEEKS[50:54]      # Dairy at 560001 sells nothing; its Snacks sell
PROMO = WEEKS[[30, 31, 60, 61, 70, 71, 106, 107, 114, 115]]    # D0 promoted chain-wide
FOLD_CUT = WEEKS[103]           # the first backtest fold's origin (2 folds of 8 weeks)
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


def _warehouse(path) -> Warehouse:
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
    return wh


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    wh = _warehouse(tmp_path_factory.mktemp("whole") / "w.duckdb")
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def plan_runs(tmp_path_factory):
    """(local run, Dask run) of the same warehouse with an uploaded plan (K0 at 560002 on
    a 20% discount in the forecast's first weeks): each backtest fold then plans what was
    actually charged (plan.actual_plan)."""
    from engine.ingest.load import ingest_file

    folder = tmp_path_factory.mktemp("whole_plan")
    wh = _warehouse(folder / "w.duckdb")
    plan = folder / "plan.csv"
    pd.DataFrame({"sku_id": ["K0"], "pin_code": ["560002"],
                  "date_from": [(WEEKS[-1] + pd.Timedelta(days=1)).date()],
                  "date_to": [(WEEKS[-1] + pd.Timedelta(days=14)).date()],
                  "discount_pct": [20], "promo_type": ["price_cut"]}).to_csv(plan, index=False)
    cluster, client = _cluster()
    try:
        assert ingest_file(wh, "plan", plan).rows_loaded == 1
        return (run_forecast(wh, CFG, persist=False, backend=LocalBackend()),
                run_forecast(wh, CFG, persist=False,
                             backend=DaskBackend(client, partition_series=1)))
    finally:
        client.close()
        cluster.close()
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


def test_a_fold_plan_judges_the_chain_wide_promotion_on_the_whole_file():
    h = normalize_history(_sales())
    whole = WholeFile.of(h)
    ka_dairy = h[h["pin_code"].str.startswith("56") & h["sku_id"].str.startswith("D")]
    weeks = PROMO[(PROMO > FOLD_CUT) & (PROMO <= FOLD_CUT + pd.Timedelta(weeks=8))]
    assert len(weeks) == 2

    def at_560003(plan: pd.DataFrame) -> pd.DataFrame:
        at = (plan["sku_id"] == "D0") & (plan["pin_code"] == "560003") & \
            plan["date"].isin(weeks)
        return plan[at].sort_values("date")

    local = at_560003(actual_plan(h, FOLD_CUT, 8, "W"))
    assert local["promo"].tolist() == [1.0, 1.0]              # 3 of D0's 4 rows promoted
    # the Karnataka partition alone sees 1 promoted row of 2: no promotion imputed
    assert at_560003(actual_plan(ka_dairy, FOLD_CUT, 8, "W"))["promo"].tolist() == [0.0, 0.0]
    part = at_560003(actual_plan(ka_dairy, FOLD_CUT, 8, "W", whole))
    cols = ["date", "price", "promo", "display"]
    pd.testing.assert_frame_equal(part[cols].reset_index(drop=True),
                                  local[cols].reset_index(drop=True))
    assert np.allclose(part["price"], 40.0)
    assert np.allclose(part["display"], 2 / 3)    # the file's display is a share (Snacks)
    # the partition's own sold rows are planned as recorded, the whole file or not
    sold = actual_plan(ka_dairy, FOLD_CUT, 8, "W", whole)
    mine = actual_plan(h, FOLD_CUT, 8, "W").merge(sold[["sku_id", "pin_code", "date"]])
    keys = ["sku_id", "pin_code", "date"]
    pd.testing.assert_frame_equal(
        sold.sort_values(keys).reset_index(drop=True)[mine.columns],
        mine.sort_values(keys).reset_index(drop=True), check_dtype=False)


def test_a_file_without_promotions_in_its_partition_still_records_them_in_the_whole_file():
    # a Snacks partition never promoted: its fold plan still reads promotion flags
    # (0, not 'unknown: the price decides') because the file records promotions
    h = normalize_history(_sales())
    snacks = h[h["sku_id"].str.startswith("K")]
    assert actual_plan(snacks, FOLD_CUT, 8, "W")["promo"].isna().all()
    plan = actual_plan(snacks, FOLD_CUT, 8, "W", WholeFile.of(h))
    assert (plan["promo"] == 0).all()


def test_the_dask_plan_run_plans_the_folds_as_the_local_run(plan_runs, runs):
    # LightGBM, the model that reads a plan, is fitted on partition-wise features (not
    # the same trees on the cluster), and it scales every other model's forecast on the
    # rows whose plan moves it; the deterministic families' forecasts without a plan are
    # equal on the cluster (above). So: the plan moves the same rows in both runs (D0's
    # promoted weeks, with those imputed at 560003 from the whole file) and every other
    # row is the same number.
    local, remote = plan_runs
    assert remote.timings["partitions"] == 4
    assert remote.planned_rows == local.planned_rows > 0
    keys = ["model", "fold", "sku_id", "pin_code", "date"]
    no_plan = runs["per_series"][0].backtest
    no_plan = no_plan.loc[no_plan["model"].isin(PER_SERIES), keys + ["forecast", "actual"]]
    moved = {}
    for name, run in (("local", local), ("dask", remote)):
        bt = run.backtest[run.backtest["model"].isin(PER_SERIES)]
        both = bt.merge(no_plan, on=keys, suffixes=("", "_no_plan"))
        assert len(both) == len(bt) == len(no_plan) > 0
        assert np.allclose(both["actual"], both["actual_no_plan"], atol=1e-6, rtol=0)
        change = ~np.isclose(both["forecast"], both["forecast_no_plan"], atol=1e-6, rtol=0)
        moved[name] = set(map(tuple, both.loc[change, keys].astype(str).to_numpy()))
    assert moved["local"] == moved["dask"]
    assert {k[2] for k in moved["local"]} == {"D0"}
    # at 560003 (no sale in D0's promotion weeks) the plan moves exactly those weeks of
    # each fold's horizon: the promotion imputed from the other state's stores
    at = {pd.Timestamp(k[4]) for k in moved["local"] if k[3] == "560003"}
    assert at == set(PROMO[PROMO > FOLD_CUT]) and len(at) == 4
    f = local.forecasts.merge(remote.forecasts, on=["sku_id", "pin_code", "date"],
                              suffixes=("_l", "_d"))
    assert len(f) == len(local.forecasts) == len(remote.forecasts)
    # only K0 at 560002 is planned; a partition the plan does not touch reports its rows
    # unplanned, at their own forecast (not planned, at 0, after the concatenation)
    assert (f["planned_l"] == f["planned_d"]).all()
    assert set(map(tuple, f.loc[f["planned_d"], ["sku_id", "pin_code"]].to_numpy())) == \
        {("K0", "560002")}
    rest = ~f["planned_d"]
    assert np.allclose(f.loc[rest, "forecast_no_plan_d"], f.loc[rest, "forecast_d"])
