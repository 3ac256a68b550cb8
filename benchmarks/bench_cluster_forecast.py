"""Does the store cluster help the forecast as a pooling level? (issue 27: wire it in only
if it does.)

    .venv/bin/python benchmarks/bench_cluster_forecast.py                 # demo, scale 0.5
    .venv/bin/python benchmarks/bench_cluster_forecast.py --realdev       # + dunnhumby
    .venv/bin/python benchmarks/bench_cluster_forecast.py --scale 0.2 --folds 1

The global LightGBM already pools every series and tells stores apart by their city and
state codes (categorical features). The candidate pooling level is the store cluster of
engine.intel.clusters (PIN codes grouped by demand mix, seasonality, festival and price
response): its code is added as one more categorical attribute of each series. For each
data set the LightGBM backtest (the product's own rolling-origin folds, the same rows
for both arms) is run twice, without and with the cluster code, and its WAPE, bias and
95% coverage printed side by side. The cluster code is added here, in the benchmark, by
wrapping the series attributes of engine.forecast.features: the product itself does not
use it unless this benchmark shows a gain.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import engine.forecast.features as F  # noqa: E402
from engine.forecast.config import ForecastConfig  # noqa: E402
from engine.forecast.features import detect_grain  # noqa: E402
from engine.forecast.inputs import read_signals  # noqa: E402
from engine.forecast.metrics import score  # noqa: E402
from engine.forecast.models import lightgbm_model  # noqa: E402
from engine.forecast.pipeline import forecast_full  # noqa: E402
from engine.intel.clusters import store_clusters  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402
from engine.warehouse.sales_history import read_history  # noqa: E402

CODE = "cluster_code"
_plain_attributes = F._series_attributes


def _with_clusters(clusters: pd.Series):
    """engine.forecast.features' series attributes plus the PIN's cluster code."""
    def attributes(series: pd.DataFrame, signals) -> pd.DataFrame:
        out = _plain_attributes(series, signals)
        out[CODE] = series["pin_code"].map(clusters).astype(float).to_numpy()
        return out
    return attributes


def _pooling(on: bool, clusters: pd.Series | None) -> None:
    """Switch the cluster code in or out of the LightGBM's attributes."""
    lists = (F.ATTRIBUTES, F.CATEGORICAL, lightgbm_model.GROUPS["trend_seasonality"])
    for names in lists:
        if on and CODE not in names:
            names.append(CODE)
        elif not on and CODE in names:
            names.remove(CODE)
    F._series_attributes = _with_clusters(clusters) if on else _plain_attributes


def run(name: str, wh: Warehouse, horizon: int | None, folds: int) -> None:
    history, signals = read_history(wh), read_signals(wh)
    grain = detect_grain(history)
    cfg = ForecastConfig(folds=folds, models=("lightgbm",), workers=1).for_grain(grain)
    if horizon:
        cfg = cfg.with_(horizon=horizon)
    t = time.perf_counter()
    table = store_clusters(wh)
    clusters = table.set_index("pin_code")["cluster"]
    print(f"\n== {name}: {history[['sku_id', 'pin_code']].drop_duplicates().shape[0]:,} "
          f"series, grain {grain}, {clusters.nunique()} store clusters over "
          f"{len(clusters)} PIN codes ({time.perf_counter() - t:.1f} s); LightGBM backtest "
          f"{folds} fold(s) x {cfg.horizon} ==")
    rows = []
    for arm, on in (("city + state codes (now)", False), ("+ store cluster code", True)):
        _pooling(on, clusters)
        t = time.perf_counter()
        res = forecast_full(history, signals, cfg)
        bt = res.backtest[res.backtest["model"] == "lightgbm"]
        s = score(bt, by=["model"]).iloc[0]
        rows.append({"arm": arm, "rows": len(bt), "wape": s["wape"], "bias_pct": s["bias_pct"],
                     "coverage95": s["coverage95"], "seconds": time.perf_counter() - t})
    _pooling(False, None)
    out = pd.DataFrame(rows).set_index("arm")
    print(out.round(2).to_string())
    gain = 100 * (1 - out["wape"].iloc[1] / out["wape"].iloc[0])
    print(f"cluster pooling: WAPE {out['wape'].iloc[0]:.2f}% -> {out['wape'].iloc[1]:.2f}% "
          f"({gain:+.1f}% {'better' if gain > 0 else 'worse'})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--realdev", action="store_true", help="also the dunnhumby file")
    args = ap.parse_args()
    from engine.demo import DemoConfig, load_demo

    wh = Warehouse(Path(tempfile.mkdtemp()) / "clusters.duckdb")
    load_demo(wh, DemoConfig(scale=args.scale))
    run(f"demo (scale {args.scale:g})", wh, None, args.folds)
    wh.close()
    if args.realdev:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import realdev as R

        if R.require(R.DUNNHUMBY, R.DUNNHUMBY_CATALOG):
            wh, _ = R.load_warehouse(R.DUNNHUMBY, R.DUNNHUMBY_CATALOG, "clusters")
            run("dunnhumby (real, weekly)", wh, 13, args.folds)
            wh.close()
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    pd.set_option("display.width", 160)
    sys.exit(main())
