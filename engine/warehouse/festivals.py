"""Festival reference tables in the warehouse: `festivals` and `festival_effects`.

The pure calendar/effects are built by `engine.signals.festivals` (which also loads the
shipped reference through `write_festivals`); this module only writes them (replacing what
was there, in one transaction) and reads them back in the same shape.
"""
from __future__ import annotations

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.sql import run_query

_INSERT_FESTIVAL = ("INSERT INTO festivals (name, date, festival_type, states, pre_days, "
                    "post_days, source) VALUES (?, ?, ?, ?, ?, ?, ?)")
_INSERT_EFFECT = "INSERT INTO festival_effects (name, category, multiplier) VALUES (?, ?, ?)"


def write_festivals(wh: Warehouse, calendar: pd.DataFrame, effects: pd.DataFrame,
                    years: str) -> int:
    """Replace the festivals and festival_effects tables with `calendar` and `effects`
    (shaped like engine.signals.festivals' festival_calendar() / festival_effects()),
    audited as the reference of `years`. Returns the number of festival occurrences
    written."""
    festival_rows = [
        (r.name, r.date.date(), r.festival_type, r.states, int(r.pre_days), int(r.post_days),
         r.source)
        for r in calendar.itertuples(index=False)
    ]
    effect_rows = [(r.name, r.category, float(r.multiplier))
                   for r in effects.itertuples(index=False)]
    with wh.transaction(touches=("festivals",)) as cur:
        cur.execute("DELETE FROM festival_effects")
        cur.execute("DELETE FROM festivals")
        if festival_rows:
            cur.executemany(_INSERT_FESTIVAL, festival_rows)
        if effect_rows:
            cur.executemany(_INSERT_EFFECT, effect_rows)
        wh.audit(cur, "system", "load_festival_reference",
                 f"{len(festival_rows)} festival occurrences {years}, "
                 f"{len(effect_rows)} category effects")
    return len(festival_rows)


def read_festivals(wh: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(calendar, effects) as stored, shaped like festival_calendar() / festival_effects()."""
    calendar = wh.query(
        "SELECT name, date, festival_type, states, pre_days, post_days, source "
        "FROM festivals ORDER BY date, name")
    calendar["date"] = pd.to_datetime(calendar["date"]).astype("datetime64[ns]")
    calendar[["pre_days", "post_days"]] = calendar[["pre_days", "post_days"]].astype("int64")
    for col in ("name", "festival_type", "states", "source"):
        calendar[col] = calendar[col].astype(object)
    effects = wh.query("SELECT name, category, multiplier FROM festival_effects "
                       "ORDER BY name, category")
    effects["multiplier"] = effects["multiplier"].astype(float)
    for col in ("name", "category"):
        effects[col] = effects[col].astype(object)
    return calendar.reset_index(drop=True), effects.reset_index(drop=True)


def has_festivals(wh: Warehouse) -> bool:
    return bool(run_query(wh, "SELECT count(*) AS n FROM festivals", [], "festivals").iloc[0, 0])
