"""Plan uploads (planned prices and the promotion calendar), inside the batch transaction.

`prepare()` makes the look-ups a plan row is checked against (catalog SKUs and categories,
the warehouse's PIN codes, cities and states) and returns the rules across a row's fields
that staging checks after each field's own rules (ingest_sql.stage_select's `row_rules`).
`load_plan()` stores the accepted rows in `plan_rows` under the next plan version.

Rules, each reported against a column the file has ('<field>|<code>'):
- a SKU or a category (`missing_product`); a SKU must be in the catalog (`unknown_sku`,
  never created for a plan), a category among the catalog's (`unknown_category`, any case);
- an optional place: a PIN code of a store location or of the sales (`unknown_pin`), a
  city or a state of a store location (`unknown_city`, `unknown_state`; any case, state
  names normalised as for mandi files: 'NCT OF DELHI' -> Delhi);
- a day, or a range of at most 366 days (`missing_value`, `conflicting_dates`,
  `dates_reversed`, `range_too_long`); plan dates may be in the future;
- a price, a discount, a promotion type or a promotion kind column (`empty_plan_row`); a
  SKU's price at most its MRP (`price_above_mrp`);
- the yes/no promotion kind columns (feature, display, tpr) hold 0 or 1
  (`kind_not_yes_no`), and none of them is yes on a row whose promotion type is 'none'
  (`conflicting_promo_type`).

A row may plan several promotion kinds at once ('display + feature' in its promotion type,
and/or yes in its kind columns): `promo_type` is stored as their union in the
vocabulary's order joined by '+' ('price_cut+feature+display').
"""
from __future__ import annotations

from engine.ingest.mapping import MULTI_JOIN, MULTI_ORDER, ColumnMapping
from engine.warehouse.ingest_sql import literal, v

TEMPS = ("ingest_plan_skus", "ingest_plan_categories", "ingest_plan_pins",
         "ingest_plan_cities", "ingest_plan_states", "ingest_plan_ref")
MAX_RANGE_DAYS = 366
# Price and discount disagree when the price is further than this from MRP x (1 - d%):
# one rupee or 2% of the MRP, whichever is more.
MISMATCH_RUPEES, MISMATCH_SHARE = 1.0, 0.02
# the yes/no promotion kind columns and the promotion type each one plans
KIND_COLUMNS = {"tpr": "price_cut", "feature": "feature", "display": "display"}


def name_key(expr: str) -> str:
    """Case- and spacing-blind look-up key of a name ('  Tamil   NADU ' -> 'tamil nadu')."""
    return f"lower(regexp_replace(trim({expr}), '\\s+', ' ', 'g'))"


def place_lookups(cur) -> None:
    """Temp tables ingest_plan_pins (the PIN codes of store locations and sales) and
    ingest_plan_cities (case- and spacing-blind key -> the city as `locations` writes it);
    competitor uploads check their places against the same two."""
    cur.execute("CREATE TEMP TABLE ingest_plan_pins AS SELECT pin_code FROM locations UNION "
                "SELECT DISTINCT pin_code FROM sales_daily")
    cur.execute(f"CREATE TEMP TABLE ingest_plan_cities AS SELECT {name_key('city')} AS key, "
                "min(city) AS city FROM locations WHERE city IS NOT NULL GROUP BY 1")


def prepare(cur, mapping: ColumnMapping) -> list[tuple[str, str]]:
    """Create the look-up temp tables and return the row rules for this file's mapping."""
    from engine.warehouse.ingest_store import STATE_NAME_FIXES

    cur.execute("CREATE TEMP TABLE ingest_plan_skus AS SELECT sku_id, mrp FROM skus")
    cur.execute("CREATE TEMP TABLE ingest_plan_categories AS SELECT "
                f"{name_key('category')} AS key, min(category) AS category FROM skus GROUP BY 1")
    place_lookups(cur)
    states = [r[0] for r in cur.execute("SELECT DISTINCT state FROM locations WHERE state IS "
                                        "NOT NULL").fetchall()]
    keys = {" ".join(s.lower().split()): s for s in states}
    by_lower = {s.lower(): s for s in states}
    for alias, name in STATE_NAME_FIXES.items():        # 'orissa' -> Odisha, 'nct of delhi' -> Delhi
        if name.lower() in by_lower:
            keys.setdefault(alias, by_lower[name.lower()])
    cur.execute("CREATE TEMP TABLE ingest_plan_states AS SELECT unnest(?::VARCHAR[]) AS key, "
                "unnest(?::VARCHAR[]) AS state", [list(keys), list(keys.values())])
    return row_rules(mapping)


def _exprs(mapping: ColumnMapping, alias: str = "") -> dict[str, str]:
    """Each plan field's typed value in staging (columns prefixed with `alias`), or NULL
    when the file has no column; names trimmed, a blank name NULL."""
    out = {}
    for f in ("sku_id", "category", "pin_code", "city", "state", "date", "date_from",
              "date_to", "price", "discount_pct", "promo_type", "note", *KIND_COLUMNS):
        if not mapping.source(f):
            out[f] = "NULL"
        elif f in ("category", "city", "state"):
            out[f] = f"NULLIF(trim({alias}{v(f)}), '')"
        else:
            out[f] = f"{alias}{v(f)}"
    return out


def unknown_place_rules(e: dict, has, places: tuple[str, ...]) -> list[tuple[str, str]]:
    """Row rules for places the file names but the warehouse does not know: a PIN code
    not among the store / sales PINs, a city or state not among the store locations'
    (the lookups `place_lookups` makes). Shared by the plan and competitor uploads."""
    out = []
    if "pin_code" in places and has("pin_code"):
        out.append((f"{e['pin_code']} IS NOT NULL AND {e['pin_code']} NOT IN "
                    "(SELECT pin_code FROM ingest_plan_pins)", "pin_code|unknown_pin"))
    for place, table in (("city", "ingest_plan_cities"), ("state", "ingest_plan_states")):
        if place in places and has(place):
            out.append((f"{e[place]} IS NOT NULL AND {name_key(e[place])} NOT IN "
                        f"(SELECT key FROM {table})", f"{place}|unknown_{place}"))
    return out


def row_rules(mapping: ColumnMapping) -> list[tuple[str, str]]:
    """(condition, '<field>|<code>') in the order they are checked; every code is reported
    against a field the file maps (so every rejected row is quarantined with a sentence)."""
    has = mapping.source
    e = _exprs(mapping)

    def on(*candidates: str) -> str:
        return next(f for f in candidates if has(f))
    out = [(f"{e['sku_id']} IS NULL AND {e['category']} IS NULL",
            f"{on('sku_id', 'category')}|missing_product")]
    if has("sku_id"):
        out.append((f"{e['sku_id']} IS NOT NULL AND {e['sku_id']} NOT IN "
                    "(SELECT sku_id FROM ingest_plan_skus)", "sku_id|unknown_sku"))
    if has("category"):
        out.append((f"{e['category']} IS NOT NULL AND {name_key(e['category'])} NOT IN "
                    "(SELECT key FROM ingest_plan_categories)", "category|unknown_category"))
    out += unknown_place_rules(e, has, ("pin_code", "city", "state"))
    d, lo, hi = e["date"], e["date_from"], e["date_to"]
    ranged = has("date_from") and has("date_to")
    if has("date") and ranged:
        out.append((f"{d} IS NOT NULL AND ({lo} IS NOT NULL OR {hi} IS NOT NULL) AND "
                    f"({lo} IS DISTINCT FROM {d} OR {hi} IS DISTINCT FROM {d})",
                    "date|conflicting_dates"))
    out.append((f"{d} IS NULL AND {lo} IS NULL AND {hi} IS NULL",
                f"{on('date', 'date_from')}|missing_value"))
    if ranged:
        out += [(f"{d} IS NULL AND {lo} IS NULL", "date_from|missing_value"),
                (f"{d} IS NULL AND {hi} IS NULL", "date_to|missing_value"),
                (f"{d} IS NULL AND {lo} > {hi}", "date_to|dates_reversed"),
                (f"{d} IS NULL AND date_diff('day', {lo}, {hi}) >= {MAX_RANGE_DAYS}",
                 "date_to|range_too_long")]
    kinds = [k for k in KIND_COLUMNS if has(k)]
    for k in kinds:
        out.append((f"{e[k]} NOT IN (0, 1)", f"{k}|kind_not_yes_no"))
    out.append((" AND ".join(f"{e[f]} IS NULL" for f in ("price", "discount_pct", "promo_type",
                                                         *kinds)),
                f"{on('price', 'discount_pct', 'promo_type', *KIND_COLUMNS)}|empty_plan_row"))
    if has("promo_type") and kinds:
        out.append((f"{e['promo_type']} = 'none' AND ("
                    + " OR ".join(f"{e[k]} = 1" for k in kinds) + ")",
                    "promo_type|conflicting_promo_type"))
    if has("price") and has("sku_id"):
        out.append((f"{e['price']} > (SELECT k.mrp FROM ingest_plan_skus k "
                    f"WHERE k.sku_id = {e['sku_id']}) + 0.005", "price|price_above_mrp"))
    return out


def _next_version(cur) -> int:
    """1 + the highest plan version ever given (kept in `meta`, so a rolled-back version's
    number is never reused)."""
    cur.execute("INSERT INTO meta VALUES ('plan_version', '0') ON CONFLICT (key) DO NOTHING")
    last = cur.execute("SELECT greatest((SELECT CAST(value AS BIGINT) FROM meta WHERE key = "
                       "'plan_version'), (SELECT coalesce(max(plan_version), 0) FROM "
                       "plan_rows))").fetchone()[0]
    cur.execute("UPDATE meta SET value = ? WHERE key = 'plan_version'", [str(last + 1)])
    return int(last) + 1


def load_plan(cur, bid: str, mapping: ColumnMapping, report: dict) -> int:
    """Store the accepted rows under a new plan version; record in `report` the version,
    the date range, which columns set promo_type on rows without one, and warnings."""
    good = "s.__mp_reason IS NULL"
    n = cur.execute(f"SELECT count(*) FROM ingest_stage s WHERE {good}").fetchone()[0]
    report["plan_version"] = None
    if not n:
        return 0
    version = _next_version(cur)
    e = _exprs(mapping, "s.")
    # The SKU's reference price: its MRP, else its latest regular price in sales_daily.
    cur.execute(
        "CREATE TEMP TABLE ingest_plan_ref AS SELECT k.sku_id, coalesce(k.mrp, r.regular) "
        "AS ref FROM ingest_plan_skus k LEFT JOIN (SELECT sku_id, arg_max(regular_price, "
        "date) AS regular FROM sales_daily WHERE regular_price IS NOT NULL GROUP BY 1) r "
        f"USING (sku_id) WHERE k.sku_id IN (SELECT {e['sku_id']} FROM ingest_stage s "
        f"WHERE {good})")
    price, disc = e["price"], e["discount_pct"]
    by_disc = f"coalesce({disc} > 0, FALSE)"
    by_price = f"coalesce({price} < r.ref - 0.005, FALSE)"
    promo = (f"coalesce({_combined_type(mapping, e)}, CASE WHEN {by_disc} OR {by_price} "
             "THEN 'price_cut' ELSE 'none' END)")

    def canonical(field: str, table: str) -> str:
        return (f"(SELECT c.{field} FROM {table} c WHERE c.key = {name_key(e[field])})"
                if mapping.source(field) else "NULL")
    cur.execute(
        "INSERT INTO plan_rows (batch_id, plan_version, row_no, sku_id, category, pin_code, "
        "city, state, date_from, date_to, price, discount_pct, promo_type, note) "
        f"SELECT ?, ?, s.__mp_line, {e['sku_id']}, "
        f"{canonical('category', 'ingest_plan_categories')}, {e['pin_code']}, "
        f"{canonical('city', 'ingest_plan_cities')}, "
        f"{canonical('state', 'ingest_plan_states')}, coalesce({e['date']}, {e['date_from']}), "
        f"coalesce({e['date']}, {e['date_to']}), {price}, {disc}, {promo}, {e['note']} "
        f"FROM ingest_stage s LEFT JOIN ingest_plan_ref r ON r.sku_id = {e['sku_id']} "
        f"WHERE {good}", [bid, version])
    lo, hi = cur.execute("SELECT min(date_from), max(date_to) FROM plan_rows WHERE batch_id = ?",
                         [bid]).fetchone()
    report.update(plan_version=version, date_min=str(lo), date_max=str(hi))
    blank = f"{_combined_type(mapping, e)} IS NULL AND {good}"
    n_disc, n_price = cur.execute(
        f"SELECT count(*) FILTER (WHERE {by_disc}), count(*) FILTER (WHERE NOT {by_disc} "
        f"AND {by_price}) FROM ingest_stage s LEFT JOIN ingest_plan_ref r "
        f"ON r.sku_id = {e['sku_id']} WHERE {blank}").fetchone()
    report["promo_type_from"] = [mapping.source(f) for f, k in
                                 (("discount_pct", n_disc), ("price", n_price)) if k]
    report["promo_type_inferred"] = int(n_disc + n_price)
    report["warnings"] = _mismatch_warnings(cur, e, good) if mapping.source("price") and \
        mapping.source("discount_pct") else []
    return int(n)


def _combined_type(mapping: ColumnMapping, e: dict) -> str:
    """The row's promotion type with the kinds its yes/no columns set added (NULL when
    neither says anything, or the columns say no and there is no type)."""
    kinds = [k for k in KIND_COLUMNS if mapping.source(k)]
    if not kinds:
        return e["promo_type"]
    order = "[" + ", ".join(literal(x) for x in MULTI_ORDER["promo_type"]) + "]"
    on = " OR ".join(f"(x = {literal(KIND_COLUMNS[k])} AND {e[k]} = 1)" for k in kinds)
    union = (f"NULLIF(array_to_string(list_filter({order}, lambda x: list_contains(string_split("
             f"coalesce({e['promo_type']}, ''), {literal(MULTI_JOIN)}), x) OR {on}), "
             f"{literal(MULTI_JOIN)}), '')")
    return union


def _mismatch_warnings(cur, e: dict, good: str) -> list[dict]:
    """Rows whose price and discount disagree with the SKU's MRP / regular price (the
    price is kept, and the two name the days' list price: engine.forecast.features
    reads the discount off it): one warning with the count and the first row."""
    price, disc = e["price"], e["discount_pct"]
    off = (f"abs({price} - r.ref * (1 - {disc} / 100)) > greatest({MISMATCH_RUPEES}, "
           f"{MISMATCH_SHARE} * r.ref)")
    n, line, p, d, ref = cur.execute(
        f"SELECT count(*), min(s.__mp_line), arg_min({price}, s.__mp_line), "
        f"arg_min({disc}, s.__mp_line), arg_min(r.ref, s.__mp_line) FROM ingest_stage s "
        f"JOIN ingest_plan_ref r ON r.sku_id = {e['sku_id']} WHERE {good} AND "
        f"{price} IS NOT NULL AND {disc} IS NOT NULL AND {off}").fetchone()
    if not n:
        return []
    return [{"code": "price_discount_mismatch", "count": int(n), "first_line": int(line),
             "sentence": (f"{n:,} {'row gives' if n == 1 else 'rows give'} a price and a "
                          f"discount that do not agree with "
                          f"the SKU's MRP or regular price, first at row {line}: price "
                          f"{p:g} with {d:g}% off a price of {ref:g} would be "
                          f"{ref * (1 - d / 100):.2f}. The price was kept, and the "
                          f"forecast reads the row as {d:g}% off a list price of "
                          f"{p / (1 - d / 100):.2f} for those days.")}]

