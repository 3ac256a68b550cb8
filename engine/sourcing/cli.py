"""`python -m engine rank-mandis --commodity onion --pin 560001 --quantity 50 [--json]`."""
from __future__ import annotations

import argparse
import json
import math
import sys

from engine.warehouse.cli import add_warehouse_arg, open_warehouse

JSON_FIELDS = ["rank", "market", "state", "district", "score", "price_score", "quality_score",
               "logistics_score", "reliability_score", "modal_price", "transport_per_qtl",
               "landed_price", "distance_km", "road_km", "lead_time_days", "last_date",
               "freshness_days", "arrivals_qtl_per_day", "reason", "location_note",
               "location_source"]


def add_commands(sub) -> None:
    p = sub.add_parser("rank-mandis", help="rank APMC mandis for a commodity and destination PIN")
    p.add_argument("--commodity", required=True, help="e.g. onion, tomato, 'mustard oil'")
    p.add_argument("--pin", required=True, help="destination PIN code (6 digits)")
    p.add_argument("--quantity", type=float, required=True, help="required quantity, quintals")
    p.add_argument("--rs-per-qtl-km", type=float, default=1.0,
                   help="truck freight, Rs per quintal per km (default 1.0)")
    p.add_argument("--road-factor", type=float, default=1.3,
                   help="road km per straight-line km (default 1.3)")
    p.add_argument("--weights", default="40,25,20,15",
                   help="price,quality,logistics,reliability weights (default 40,25,20,15)")
    p.add_argument("--top", type=int, default=None, help="show only the best N")
    p.add_argument("--json", action="store_true", help="print a JSON list, best first")
    add_warehouse_arg(p)
    p.set_defaults(func=run_rank)


def _clean(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return round(value, 2) if isinstance(value, float) else value


def run_rank(args: argparse.Namespace) -> int:
    from engine.sourcing.ranking import RankConfig
    from engine.sourcing.service import rank_for_pin

    try:
        w = [float(x) for x in args.weights.split(",")]
        if len(w) != 4:
            raise ValueError
    except ValueError:
        print("error: --weights needs four numbers: price,quality,logistics,reliability "
              "(e.g. 40,25,20,15)", file=sys.stderr)
        return 2
    cfg = RankConfig(w_price=w[0], w_quality=w[1], w_logistics=w[2], w_reliability=w[3],
                     road_factor=args.road_factor, rs_per_qtl_km=args.rs_per_qtl_km)
    wh = open_warehouse(args)
    try:     # a SourcingError ends the command as one `error:` line, exit 2 (__main__.py)
        ranked = rank_for_pin(wh, args.commodity, args.pin, args.quantity, cfg)
    finally:
        wh.close()
    if args.top:
        ranked = ranked.head(args.top)
    placement = ranked.attrs.get("placement") or {}
    if args.json:
        rows = [{k: _clean(v) for k, v in rec.items()}
                for rec in ranked[JSON_FIELDS].to_dict(orient="records")]
        print(json.dumps(rows, ensure_ascii=False))
        if placement.get("unplaced"):
            print(placement["sentence"], file=sys.stderr)
        return 0
    dest = ranked.attrs.get("destination", {})
    print(f"{args.commodity} for {dest.get('label', args.pin)}, {args.quantity:g} quintals; "
          f"prices as of {ranked.attrs.get('as_of')}; {ranked.attrs.get('clean_report')}")
    for rec in ranked.itertuples():
        print(f"{rec.rank:>3}. {rec.market} ({rec.state}) score {rec.score:.1f} "
              f"[price {rec.price_score:.0f}, quality {rec.quality_score:.0f}, logistics "
              f"{rec.logistics_score:.0f}, reliability {rec.reliability_score:.0f}] landed "
              f"Rs {rec.landed_price:,.0f}/qtl, {rec.road_km:,.0f} km — {rec.reason}")
    if placement:
        print(placement["sentence"])
    for u in ranked.attrs.get("unplaced") or []:
        print(f"  not ranked: {u['market']} ({u['state']}): {u['reason']}")
    stale = [e for e in ranked.attrs.get("excluded") or []
             if e not in (ranked.attrs.get("unplaced") or [])]
    if stale:
        print(f"{len(stale)} mandi(s) left out for old prices, e.g. {stale[0]['market']}: "
              f"{stale[0]['reason']}")
    return 0
