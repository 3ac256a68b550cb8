"""Competitor product matching on the labelled names (tests/fixtures/competitor_names.jsonl,
written against the demo catalog): precision and recall at the confidence the app
auto-accepts, the review list's size, and the same figures at other thresholds.

precision = auto-accepted names matched to the right SKU / auto-accepted names (an accepted
name that is not ours counts as wrong); recall = our names auto-accepted to the right SKU /
our names. `python benchmarks/bench_competitor_match.py [--warehouse PATH]`: with a
warehouse (e.g. the ready demo), also the time of each competitor view on it (price index
per level, review list, cheapest prices, undercut checks and alert, cross-elasticity).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.demo_catalog import build_catalog  # noqa: E402
from engine.pricing.competitor_match import MatchConfig, match_items  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "competitor_names.jsonl"


def scores(labelled: pd.DataFrame, threshold: float) -> dict:
    accepted = labelled[labelled["confidence"] >= threshold]
    right = accepted["sku_id"] == accepted["label"]
    ours = labelled["label"].notna()
    return {"threshold": threshold, "accepted": len(accepted),
            "precision": float(right.mean()) if len(accepted) else float("nan"),
            "recall": float(right.sum() / ours.sum())}


def main() -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    names = pd.DataFrame(rows).rename(columns={"sku_id": "label"})
    catalog = build_catalog(180, 42)
    cfg = MatchConfig()
    t0 = time.perf_counter()
    matched = match_items(names[["item_name", "price"]], catalog, cfg)
    seconds = time.perf_counter() - t0
    labelled = names.merge(matched, on="item_name", how="left")
    labelled["label"] = labelled["label"].where(labelled["label"].notna(), None)
    head = scores(labelled, cfg.auto_accept)
    ours = labelled["label"].notna()
    review = labelled[(labelled["confidence"] >= cfg.review_floor)
                      & (labelled["confidence"] < cfg.auto_accept)]
    print(f"labelled names: {len(names)} ({int(ours.sum())} ours, {int((~ours).sum())} not ours)")
    print(f"auto-accept at confidence >= {cfg.auto_accept:.2f}: precision "
          f"{head['precision']:.1%} ({head['accepted']} accepted), recall {head['recall']:.1%}")
    right_review = (review["sku_id"] == review["label"]).mean() if len(review) else float("nan")
    print(f"review list ({cfg.review_floor:.2f} to {cfg.auto_accept:.2f}): {len(review)} names, "
          f"suggestion right for {right_review:.0%}")
    rejected = labelled[labelled["confidence"] < cfg.review_floor]
    print(f"below the review floor: {len(rejected)} names ({int(rejected['label'].isna().sum())} "
          "of them not ours)")
    for t in (0.6, 0.7, 0.75, 0.85, 0.9):
        s = scores(labelled, t)
        print(f"  at {t:.2f}: precision {s['precision']:.1%}, recall {s['recall']:.1%}")
    by_style = labelled[ours].assign(ok=lambda d: (d["sku_id"] == d["label"])
                                     & (d["confidence"] >= cfg.auto_accept))
    print("recall by variation: " + ", ".join(
        f"{k} {v:.0%}" for k, v in by_style.groupby("style")["ok"].mean().items()))
    print(f"matching time: {seconds * 1000:.0f} ms for {len(names)} names x {len(catalog)} SKUs")
    wrong = labelled[(labelled["confidence"] >= cfg.auto_accept)
                     & (labelled["sku_id"] != labelled["label"])]
    for r in wrong.head(15).itertuples():
        print(f"  wrong: {r.item_name!r} -> {r.sku_id} ({r.confidence:.2f}), label {r.label}")


def views(path: str) -> None:
    from engine.alerts import generate_alerts
    from engine.pricing.competitors import competitive_table, competitor_index
    from engine.warehouse import competitors as store
    from engine.warehouse.db import Warehouse

    wh = Warehouse(path, read_only=True)
    try:
        print(f"warehouse {path}: {store.match_summary(wh)}")
        for label, fn in (
                ("price index by SKU", lambda: competitor_index(wh, "sku")),
                ("price index by category", lambda: competitor_index(wh, "category")),
                ("price index by city", lambda: competitor_index(wh, "city")),
                ("review list", lambda: store.review_list(wh)),
                ("cheapest price per SKU", lambda: store.cheapest_by_sku(wh)),
                ("undercut checks (7 days)", lambda: store.undercut_checks(wh, 7)),
                ("competitive cross-elasticity", lambda: competitive_table(wh))):
            t0 = time.perf_counter()
            out = fn()
            print(f"  {label}: {time.perf_counter() - t0:.2f} s ({len(out):,} rows)")
    finally:
        wh.close()
    tmp = Path(path)
    wh = Warehouse(tmp)
    try:
        t0 = time.perf_counter()
        res = generate_alerts(wh, rules=["competitor_undercut"])
        print(f"  undercut alert rule: {time.perf_counter() - t0:.2f} s "
              f"({res.found.get('competitor_undercut', 0)} alerts)")
    finally:
        wh.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", help="also time the competitor views on this warehouse "
                                        "(the alert rule writes its alerts there)")
    args = ap.parse_args()
    main()
    if args.warehouse:
        views(args.warehouse)
