"""Competitor prices and their matches to our SKUs (`competitor_prices`,
`competitor_matches`), one function per question.

A stored price counts for a SKU when its item's match is `auto` (matched at or above the
auto-accept confidence), `confirmed` or `corrected` (a person decided). On a store user's
scoped handle (scoped.py) only prices for their PIN codes or their PINs' cities are visible,
and our own prices and units come from their PINs only.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from engine.errors import MicroPulseError

if TYPE_CHECKING:
    from engine.warehouse.db import Warehouse

USED = "('auto', 'confirmed', 'corrected')"
_MATCHED = (f"SELECT p.*, m.sku_id, m.confidence, m.status FROM competitor_prices p "
            f"JOIN competitor_matches m USING (item_key) WHERE m.status IN {USED}")
REVIEW_COLUMNS = ["item_key", "item_name", "status", "sku_id", "suggested_sku",
                  "suggested_name", "confidence", "why", "competitors", "rows", "latest_price",
                  "latest_date"]


class CompetitorMatchError(MicroPulseError, ValueError):
    """A match decision that cannot be stored (unknown item or SKU); `code` says which."""

    code = "competitor_match_error"

    def __init__(self, message: str, code: str, evidence: list | None = None):
        super().__init__(message, evidence or [], code=code)


def match_summary(wh: Warehouse) -> dict:
    """Counts of stored items by match status, and of stored price rows."""
    df = wh.query("SELECT status, count(*) AS n FROM competitor_matches GROUP BY 1")
    out = {s: 0 for s in ("auto", "review", "none", "confirmed", "corrected", "rejected")}
    out.update({r.status: int(r.n) for r in df.itertuples()})
    out["rows"] = int(wh.scalar("SELECT count(*) FROM competitor_prices") or 0)
    return out


def review_list(wh: Warehouse, limit: int = 500,
                statuses: tuple[str, ...] = ("review",)) -> pd.DataFrame:
    """Items of the given match statuses (default: waiting for a person), most-listed
    first: the status, the SKU in use (sku_id), the suggested SKU and its name, the
    confidence and why, who lists it, how many price rows, the latest price and day.
    Columns REVIEW_COLUMNS."""
    return wh.query(
        "SELECT m.item_key, m.item_name, m.status, m.sku_id, m.suggested_sku, "
        "coalesce(k.name, s.name) AS suggested_name, "
        "m.confidence, m.why, string_agg(DISTINCT p.competitor, ', ') AS competitors, "
        "count(p.item_key) AS rows, arg_max(p.price, p.date) AS latest_price, "
        "max(p.date) AS latest_date FROM competitor_matches m "
        "JOIN competitor_prices p USING (item_key) LEFT JOIN skus k ON k.sku_id = m.sku_id "
        "LEFT JOIN skus s ON s.sku_id = m.suggested_sku WHERE list_contains(?, m.status) "
        "GROUP BY ALL ORDER BY bool_or(m.status = 'review') DESC, rows DESC, m.confidence DESC, "
        "m.item_key LIMIT ?", [list(statuses), limit])


def decide_match(wh: Warehouse, item_key: str, sku_id: str | None, user: str | None) -> str:
    """A person's decision on an item: `sku_id` the SKU it is (confirmed when it is the
    suggestion, else corrected), None when it is not one of ours (rejected). Remembered:
    later uploads of the same item reuse it. Returns the stored status."""
    with wh.transaction(touches=("competitors",)) as cur:
        row = cur.execute("SELECT suggested_sku FROM competitor_matches WHERE item_key = ?",
                          [item_key]).fetchone()
        if row is None:
            raise CompetitorMatchError(f"No competitor item called {item_key!r} is stored; "
                                       "upload its prices first.", "unknown_item", [item_key])
        if sku_id is not None and not cur.execute("SELECT count(*) FROM skus WHERE sku_id = ?",
                                                  [sku_id]).fetchone()[0]:
            raise CompetitorMatchError(f"{sku_id!r} is not a SKU in the catalog; pick one of "
                                       "our SKUs or mark the item as not ours.",
                                       "unknown_sku", [sku_id])
        status = "rejected" if sku_id is None else (
            "confirmed" if sku_id == row[0] else "corrected")
        cur.execute("UPDATE competitor_matches SET sku_id = ?, status = ?, decided_by = ?, "
                    "decided_at = now() WHERE item_key = ?", [sku_id, status, user, item_key])
        wh.audit(cur, user, "competitor_match",
                 json.dumps({"item_key": item_key, "sku_id": sku_id, "status": status}))
    return status


def matched_prices(wh: Warehouse, sku_ids: list[str] | None = None) -> pd.DataFrame:
    """Every stored competitor price of a matched item: competitor, item_name, sku_id,
    pin_code (None: city-wide), city, date, price, in_stock, confidence, status."""
    return wh.query(
        "SELECT competitor, item_name, sku_id, pin_code, city, date, price, in_stock, "
        f"confidence, status FROM ({_MATCHED}) WHERE ? IS NULL OR list_contains(?, sku_id) "
        "ORDER BY sku_id, city, date, competitor", [sku_ids, sku_ids])


def weekly_index(wh: Warehouse, since=None) -> pd.DataFrame:
    """Per SKU x city x week (Monday) where both we and a competitor have a price: our
    average selling price and units (sales_daily at that city's PINs), the competitors'
    average and cheapest in-stock price and who was cheapest. Columns sku_id, name,
    category, city, week, our_price, units, competitor_price, cheapest_price,
    cheapest_competitor, competitors."""
    return wh.query(
        "WITH c AS (SELECT sku_id, city, date_trunc('week', date) AS week, competitor, "
        f"avg(price) AS price FROM ({_MATCHED}) WHERE in_stock AND (? IS NULL OR date >= ?) "
        "GROUP BY ALL), cw AS (SELECT sku_id, city, week, avg(price) AS competitor_price, "
        "min(price) AS cheapest_price, arg_min(competitor, price) AS cheapest_competitor, "
        "count(*) AS competitors FROM c GROUP BY ALL), o AS (SELECT s.sku_id, l.city, "
        "date_trunc('week', s.date) AS week, sum(s.price * s.quantity) / nullif(sum("
        "s.quantity), 0) AS our_price, sum(s.quantity) AS units FROM sales_daily s JOIN "
        "locations l USING (pin_code) WHERE s.price IS NOT NULL AND (? IS NULL OR s.date >= ?) "
        "AND s.sku_id IN (SELECT sku_id FROM cw) GROUP BY ALL) "
        "SELECT o.sku_id, k.name, k.category, o.city, CAST(o.week AS DATE) AS week, "
        "o.our_price, o.units, cw.competitor_price, cw.cheapest_price, "
        "cw.cheapest_competitor, cw.competitors FROM o JOIN cw USING (sku_id, city, week) "
        "JOIN skus k USING (sku_id) WHERE o.our_price > 0 ORDER BY 1, 4, 5",
        [since, since, since, since])


def cheapest_by_sku(wh: Warehouse, days: int = 28) -> pd.DataFrame:
    """Per SKU, the cheapest competitor now: each competitor's median in-stock price on its
    latest day in the last `days` days of competitor data (across the places it prices),
    the lowest of those. Columns sku_id, cheapest_price, cheapest_competitor, competitors,
    observed (that competitor's day)."""
    return wh.query(
        f"WITH m AS ({_MATCHED}), recent AS (SELECT * FROM m WHERE in_stock AND date > "
        "(SELECT max(date) FROM m) - CAST(? AS INTEGER)), last AS (SELECT sku_id, competitor, "
        "max(date) AS observed FROM recent GROUP BY ALL), per AS (SELECT r.sku_id, "
        "r.competitor, l.observed, median(r.price) AS price FROM recent r JOIN last l ON "
        "l.sku_id = r.sku_id AND l.competitor = r.competitor AND r.date = l.observed "
        "GROUP BY ALL) SELECT sku_id, min(price) AS cheapest_price, arg_min(competitor, "
        "price) AS cheapest_competitor, count(*) AS competitors, arg_min(observed, price) "
        "AS observed FROM per GROUP BY 1 ORDER BY 1", [days])


def undercut_checks(wh: Warehouse, lookback_days: int, end=None) -> pd.DataFrame:
    """Per SKU x PIN that sold in the `lookback_days` days up to `end` (default: the newest
    sales day): our average
    selling price and units there, and the cheapest in-stock competitor price for that PIN
    (priced for the PIN, or city-wide for its city) on the competitors' latest day in the
    window. Columns sku_id, name, mrp, pin_code, city, our_price, units, days,
    competitor_price, competitor, observed."""
    return wh.query(
        "WITH last AS (SELECT coalesce(CAST(? AS DATE), max(date)) AS d FROM sales_daily), "
        "o AS (SELECT s.sku_id, s.pin_code, l.city, sum(s.price * s.quantity) / nullif(sum(s.quantity), 0) AS "
        "our_price, sum(s.quantity) AS units, count(DISTINCT s.date) AS days FROM "
        "sales_daily s JOIN locations l USING (pin_code), last WHERE s.date > last.d - "
        "CAST(? AS INTEGER) AND s.date <= last.d AND s.price IS NOT NULL GROUP BY ALL), "
        f"m AS (SELECT * FROM ({_MATCHED}), last WHERE in_stock AND date > last.d - "
        "CAST(? AS INTEGER) AND date <= last.d), latest AS (SELECT sku_id, competitor, "
        "coalesce(pin_code, city) AS place, max(date) AS observed FROM m GROUP BY ALL), cp AS (SELECT m.sku_id, "
        "m.competitor, m.pin_code, m.city, m.date AS observed, m.price FROM m JOIN latest t "
        "ON t.sku_id = m.sku_id AND t.competitor = m.competitor AND t.place = "
        "coalesce(m.pin_code, m.city) AND t.observed = m.date) "
        "SELECT o.sku_id, k.name, k.mrp, o.pin_code, o.city, o.our_price, o.units, o.days, "
        "min(cp.price) AS competitor_price, arg_min(cp.competitor, cp.price) AS competitor, "
        "arg_min(cp.observed, cp.price) AS observed FROM o JOIN cp ON cp.sku_id = o.sku_id "
        "AND (cp.pin_code = o.pin_code OR (cp.pin_code IS NULL AND cp.city = o.city)) "
        "JOIN skus k ON k.sku_id = o.sku_id WHERE o.our_price > 0 GROUP BY ALL "
        "ORDER BY 1, 4", [end, lookback_days, lookback_days])


def competitor_price_panel(wh: Warehouse) -> pd.DataFrame:
    """Per SKU x city x day with a matched in-stock price: the cheapest competitor price
    (the input of the competitive cross-elasticity). Columns sku_id, city, date, price."""
    return wh.query(f"SELECT sku_id, city, date, min(price) AS price FROM ({_MATCHED}) "
                    "WHERE in_stock GROUP BY ALL ORDER BY 1, 2, 3")
