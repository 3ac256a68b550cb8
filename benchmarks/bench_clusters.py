"""Store clusters and trends benchmark: cluster stability under resampling and timings.

    .venv/bin/python benchmarks/bench_clusters.py [--warehouse PATH] [--small] [--boot 20]

Without --warehouse the DEFAULT demo (or DemoConfig.small() with --small) is seeded into a
temporary file. Printed:
- the k chosen (silhouette per k, smallest cluster) and the cluster descriptions;
- stability: `--boot` bootstrap resamples of the WEEKS (drawn with replacement, every
  PIN's rows of a drawn week kept together), features recomputed and clustered at the
  chosen k; adjusted Rand index of each resample's labels against the full data's
  (issue 27 target: >= 0.8 on the demo), median and 10th percentile; also how often the
  resample would itself choose the same k;
- timings: reading the weekly PIN x SKU sales, clustering, storing, a stored read, and
  the trend table per level and one "what changed".
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.intel import clusters as C  # noqa: E402
from engine.intel import trends as T  # noqa: E402
from engine.warehouse import sales_summary as cs  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402
from engine.warehouse.sql import Filters  # noqa: E402


def _open(path: str | None, small: bool) -> Warehouse:
    if path:
        wh = Warehouse(path)
        wh.apply_schema()
        return wh
    from engine.demo import DemoConfig, load_demo

    wh = Warehouse(Path(tempfile.mkdtemp()) / "bench_clusters.duckdb")
    load_demo(wh, DemoConfig.small() if small else DemoConfig())
    return wh


def _ms(t0: float) -> str:
    return f"{(time.perf_counter() - t0) * 1000:,.0f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--boot", type=int, default=20)
    args = ap.parse_args()
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    wh = _open(args.warehouse, args.small)
    t = time.perf_counter()
    weekly = cs.weekly_pin_sku(wh)
    print(f"read weekly PIN x SKU sales: {len(weekly):,} rows, {_ms(t)}")
    t = time.perf_counter()
    res = C.cluster_pins(weekly)
    print(f"cluster {res.assignments['pin_code'].nunique()} PIN codes: {_ms(t)}")
    print(res.selection.to_string(index=False))
    print(f"chosen k = {res.k}, silhouette {res.silhouette:.3f}")
    for r in C.cluster_summary(res.assignments).itertuples():
        print(f"  {r.cluster_name}: {r.description}")

    full = res.assignments.set_index("pin_code")["cluster"]
    cfg = C.ClusterConfig()
    rng = np.random.default_rng(0)
    weeks = np.sort(weekly["week"].unique())
    by_week = {w: g for w, g in weekly.groupby("week")}
    aris, same_k = [], 0
    t = time.perf_counter()
    for b in range(args.boot):
        draw = rng.choice(weeks, size=len(weeks), replace=True)
        sample = pd.concat([by_week[w] for w in draw], ignore_index=True)
        feats, groups = C.pin_features(sample)
        x = C.design_matrix(feats, groups, res.weights)
        labels = KMeans(res.k, n_init=cfg.n_init, random_state=b).fit_predict(x)
        aris.append(adjusted_rand_score(full.reindex(feats.index.astype(str)), labels))
        k_b, _, _ = C.choose_k(x, cfg)
        same_k += k_b == res.k
    aris = np.array(aris)
    print(f"bootstrap of weeks x{args.boot} ({_ms(t)}): adjusted Rand median "
          f"{statistics.median(aris):.3f}, 10th percentile {np.percentile(aris, 10):.3f}, "
          f"min {aris.min():.3f}; target >= 0.8: {'met' if np.median(aris) >= 0.8 else 'NOT met'}"
          f"; same k chosen in {same_k}/{args.boot}")

    t = time.perf_counter()
    with wh.transaction(touches=("clusters",)) as cur:
        cur.execute("DELETE FROM store_clusters")
    C.store_clusters(wh)
    print(f"store_clusters (compute + store): {_ms(t)}")
    t = time.perf_counter()
    C.store_clusters(wh)
    print(f"store_clusters (stored read): {_ms(t)}")
    for level in T.LEVEL_NAMES:
        t = time.perf_counter()
        r = T.trends(wh, Filters(), T.TrendConfig(level=level))
        print(f"trends level={level}: {_ms(t)} - {r.summary()}")
    t = time.perf_counter()
    w = T.what_changed(wh, Filters(), None)
    print(f"what changed (all categories, 4 vs 4 weeks): {_ms(t)} - {w.headline()}")
    wh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
