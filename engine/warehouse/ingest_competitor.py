"""Competitor price uploads, inside the batch transaction.

`prepare()` makes the look-ups a row is checked against (the warehouse's PIN codes and
cities) and returns the rules across a row's fields that staging checks after each field's
own rules; `load_competitor()` stores the accepted rows in `competitor_prices` and matches
every item name not seen before to a SKU (engine.pricing.competitor_match), remembering
the match in `competitor_matches`. Items seen before keep their stored match, so a match a
person confirmed or corrected is reused on every later upload.

Rules, each reported against a column the file has ('<field>|<code>'):
- an item name or code (`missing_item`);
- a PIN code or a city (`missing_place`); a PIN code of a store location or of the sales
  (`unknown_pin`), a city of a store location (`unknown_city`, any case);
- the field rules: a date not in the future, a positive price, in_stock as 1/0, yes/no,
  Y/N or true/false (blank = in stock; `bad_flag` otherwise).
Rows already stored (same competitor, item, place and day) are skipped as duplicates.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:            # pandas only where matching runs: a sales upload never loads it
    import pandas as pd

from engine.ingest.mapping import ColumnMapping
from engine.warehouse.ingest_plan import name_key, place_lookups, unknown_place_rules
from engine.warehouse.ingest_sql import v

TEMPS = ("ingest_comp_rows",)      # and ingest_plan's place look-ups (place_lookups)
FIELDS = ("competitor", "item_name", "item_code", "pin_code", "city", "date", "price",
          "in_stock")


def _exprs(mapping: ColumnMapping, alias: str = "") -> dict[str, str]:
    out = {}
    for f in FIELDS:
        if not mapping.source(f):
            out[f] = "NULL"
        elif f in ("competitor", "item_name", "item_code", "city"):
            out[f] = f"NULLIF(trim({alias}{v(f)}), '')"
        else:
            out[f] = f"{alias}{v(f)}"
    return out


def prepare(cur, mapping: ColumnMapping) -> list[tuple[str, str]]:
    place_lookups(cur)
    has, e = mapping.source, _exprs(mapping)

    def on(*candidates: str) -> str:
        return next(f for f in candidates if has(f))
    out = [(f"{e['item_name']} IS NULL AND {e['item_code']} IS NULL",
            f"{on('item_name', 'item_code')}|missing_item"),
           (f"{e['pin_code']} IS NULL AND {e['city']} IS NULL",
            f"{on('pin_code', 'city')}|missing_place")]
    return out + unknown_place_rules(e, has, ("pin_code", "city"))


def load_competitor(cur, bid: str, mapping: ColumnMapping, report: dict, match) -> int:
    """Store the accepted rows not already stored; match new items with `match` (see
    match_new_items); fill `report` with the date range and the matching counts."""
    e = _exprs(mapping, "s.")
    item_key = (f"coalesce({name_key(e['item_name'])}, 'code:' || {e['item_code']})")
    city = (f"coalesce((SELECT l.city FROM locations l WHERE l.pin_code = {e['pin_code']} "
            f"LIMIT 1), (SELECT c.city FROM ingest_plan_cities c WHERE c.key = "
            f"{name_key(e['city'])}), {e['city']})")
    cur.execute(
        "CREATE TEMP TABLE ingest_comp_rows AS SELECT ? AS batch_id, s.__mp_line AS row_no, "
        f"{e['competitor']} AS competitor, {e['item_name']} AS item_name, "
        f"{e['item_code']} AS item_code, {item_key} AS item_key, {e['pin_code']} AS pin_code, "
        f"{city} AS city, {e['date']} AS date, {e['price']} AS price, "
        f"coalesce({e['in_stock']} >= 0.5, TRUE) AS in_stock "
        "FROM ingest_stage s WHERE s.__mp_reason IS NULL", [bid])
    n = cur.execute(
        "INSERT INTO competitor_prices SELECT * FROM ingest_comp_rows r WHERE NOT EXISTS "
        "(SELECT 1 FROM competitor_prices p WHERE p.competitor = r.competitor AND "
        "p.item_key = r.item_key AND p.pin_code IS NOT DISTINCT FROM r.pin_code AND "
        "p.city IS NOT DISTINCT FROM r.city AND p.date = r.date)").fetchone()[0]
    report["matching"] = match_new_items(cur, bid, match)
    lo, hi = cur.execute("SELECT min(date), max(date) FROM competitor_prices WHERE batch_id = ?",
                         [bid]).fetchone()
    report.update(date_min=str(lo) if lo else None, date_max=str(hi) if hi else None)
    return int(n)


def store_feed(cur, bid: str, feed: pd.DataFrame, match) -> int:
    """Store a ready competitor frame (competitor, item_name, pin_code, city, date, price,
    in_stock: the demo's feed) under batch `bid` and match its new items with `match`."""
    cur.execute("DELETE FROM competitor_prices WHERE batch_id = ?", [bid])
    cur.register("ingest_comp_feed", feed.reset_index(drop=True))
    try:
        cur.execute(
            "INSERT INTO competitor_prices SELECT ?, row_number() OVER (), competitor, "
            f"item_name, NULL, {name_key('item_name')}, pin_code, city, CAST(date AS DATE), "
            "price, in_stock FROM ingest_comp_feed", [bid])
    finally:
        cur.unregister("ingest_comp_feed")
    match_new_items(cur, bid, match)
    return len(feed)


def match_new_items(cur, bid: str, match) -> dict:
    """Match the batch's items that have no stored match; return counts by status.
    `match(items, catalog)` is the pricing domain's matcher
    (engine.pricing.competitor_match.match_items), passed in: storage never imports a
    domain package."""
    import pandas as pd

    new = cur.execute(
        "SELECT item_key, any_value(item_name) AS item_name, any_value(item_code) AS "
        "item_code, median(price) AS price FROM competitor_prices WHERE batch_id = ? AND "
        "item_key NOT IN (SELECT item_key FROM competitor_matches) GROUP BY 1 ORDER BY 1",
        [bid]).df()
    known = int(cur.execute("SELECT count(DISTINCT item_key) FROM competitor_prices WHERE "
                            "batch_id = ?", [bid]).fetchone()[0]) - len(new)
    counts = {"items": int(len(new) + known), "remembered": known, "auto": 0, "review": 0,
              "none": 0}
    if new.empty:
        return counts
    catalog = cur.execute("SELECT sku_id, name, brand, mrp FROM skus").df()
    by_code = new[new["item_code"].isin(set(catalog["sku_id"]))]
    named = new[~new.index.isin(by_code.index) & new["item_name"].notna()]
    rows = [(k, nm, code, code, 1.0, "auto", "the feed's item code is our SKU id")
            for k, nm, code in by_code[["item_key", "item_name", "item_code"]].itertuples(
                index=False)]
    if len(named):
        m = match(named[["item_name", "price"]], catalog)
        m = named[["item_key", "item_name"]].merge(m, on="item_name", how="left")
        rows += [(r.item_key, r.item_name, r.sku_id if r.status == "auto" else None,
                  r.sku_id, float(r.confidence), r.status, r.why)
                 for r in m.itertuples(index=False)]
    rest = new[~new.index.isin(by_code.index) & new["item_name"].isna()]
    rows += [(k, None, None, None, 0.0, "none", "an item code that is not one of our SKU ids")
             for k in rest["item_key"]]
    frame = pd.DataFrame(rows, columns=["item_key", "item_name", "sku_id", "suggested_sku",
                                        "confidence", "status", "why"])
    cur.register("ingest_comp_matches", frame)
    try:
        cur.execute("INSERT INTO competitor_matches (item_key, item_name, sku_id, suggested_sku, "
                    "confidence, status, why) SELECT item_key, item_name, sku_id, "
                    "suggested_sku, confidence, status, why FROM ingest_comp_matches")
    finally:
        cur.unregister("ingest_comp_matches")
    for status in ("auto", "review", "none"):
        counts[status] = int((frame["status"] == status).sum())
    return counts
