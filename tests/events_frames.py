"""Sales events for the event-ingest, drift and /ws tests: the live-accuracy copy (a cheap
forecast run whose horizon has no sales yet, tests/live_frames.py) with one user per role
(tests/api_frames.py), and NDJSON bodies built from the run's own forecasts."""
from __future__ import annotations

import json

import pandas as pd

from engine.warehouse.db import Warehouse
from tests.api_frames import build_world
from tests.live_frames import first_days, run_and_forecasts, run_copy


def events_world(small_warehouse_path, dst):
    return build_world(run_copy(str(small_warehouse_path)), dst, with_alerts=False)


def planted_events(source, days: int = 7, factor: dict | None = None, prefix: str = "ev"
                   ) -> tuple[list[dict], pd.DataFrame]:
    """One event per series and day of the run's first `days` days, selling exactly the
    forecast times `factor[pin_code]` (default 1), ids '<prefix>-<n>'. `source`: an open
    warehouse handle, or the path of one that is not open."""
    if hasattr(source, "query"):
        _run, fc = run_and_forecasts(source)
    else:
        wh = Warehouse(source, read_only=True)
        try:
            _run, fc = run_and_forecasts(wh)
        finally:
            wh.close()
    week = first_days(fc, days)
    week["quantity"] = week["forecast"] * week["pin_code"].map(factor or {}).fillna(1.0)
    events = [{"event_id": f"{prefix}-{i}", "timestamp": f"{d:%Y-%m-%d}T11:30:00+05:30",
               "sku": s, "pin": p, "units": round(float(q), 6), "price": 40.0}
              for i, (s, p, d, q) in enumerate(week[["sku_id", "pin_code", "date",
                                                     "quantity"]].itertuples(index=False))]
    return events, week


def ndjson(events: list) -> str:
    return "\n".join(e if isinstance(e, str) else json.dumps(e) for e in events)
