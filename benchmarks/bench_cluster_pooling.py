"""Does pooling price elasticities by store cluster help? (issue 27: wire it in only if so.)

    .venv/bin/python benchmarks/bench_cluster_pooling.py [--warehouse PATH] [--small]

On the demo (a planted elasticity per SKU, the same in every PIN code) the product's
regional elasticities (engine.pricing.regional: a fit per SKU x group on that group's
stores, shrunk towards the SKU's national value) are computed twice: with the PIN codes
grouped by `locations.region` (what the product uses) and by store cluster
(engine.intel.clusters). Printed per grouping: cells, cells with enough data, and the
mean absolute error of the raw and the pooled cell estimates against the planted
elasticity (lower is better). Pooling by cluster helps only if its pooled error is lower.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.intel.clusters import store_clusters  # noqa: E402
from engine.pricing.elasticity import estimate_elasticities  # noqa: E402
from engine.pricing.inputs import load_panel_inputs  # noqa: E402
from engine.pricing.regional import estimate_regional_elasticities  # noqa: E402
from engine.warehouse.db import Warehouse  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse")
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    if args.warehouse:
        wh = Warehouse(args.warehouse)
        wh.apply_schema()
    else:
        from engine.demo import DemoConfig, load_demo

        wh = Warehouse(Path(tempfile.mkdtemp()) / "pooling.duckdb")
        load_demo(wh, DemoConfig.small() if args.small else DemoConfig())
    truth = wh.query("SELECT sku_id, elasticity AS truth FROM demo_truth")
    inputs = load_panel_inputs(wh)
    t = time.perf_counter()
    national = estimate_elasticities(inputs)
    print(f"national elasticities: {time.perf_counter() - t:.1f} s")
    clusters = store_clusters(wh).set_index("pin_code")["cluster"]
    for name, loc in (
            ("region", inputs.locations),
            ("cluster", inputs.locations.assign(
                region=inputs.locations["pin_code"].map(clusters).map("cluster {}".format)))):
        t = time.perf_counter()
        table = estimate_regional_elasticities(replace(inputs, locations=loc), national)
        cells = table.merge(truth, on="sku_id")
        ok = cells[cells["sufficient"]]
        raw = (ok["raw_elasticity"] - ok["truth"]).abs().mean()
        pooled = (ok["elasticity"] - ok["truth"]).abs().mean()
        print(f"by {name:<7}: {len(cells):,} cells, {len(ok):,} with enough data; mean abs "
              f"error vs planted: raw {raw:.3f}, pooled {pooled:.3f} "
              f"({time.perf_counter() - t:.1f} s)")
    wh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
