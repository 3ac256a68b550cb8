"""Loading an upload into the warehouse: stage, validate, load good rows, quarantine bad
ones, record the batch; and rolling a batch back. One transaction per batch.

All the row work happens in DuckDB: the file is read as text (`read_csv` all-varchar,
`read_parquet` cast to text, or a registered frame for Excel) in one pass into a temp
table holding each row's typed values and reason code, and for bad rows only their raw
values as JSON (see ingest_sql.stage_select); good rows go to their table with
INSERT ... SELECT, bad rows to `quarantine` with their line number and raw values.
"""
from __future__ import annotations

import json
from functools import partial

import duckdb

from engine.ingest.errors import UnreadableFileError
from engine.ingest.mapping import ColumnMapping, fields
from engine.warehouse import ingest_competitor, ingest_local, ingest_plan
from engine.warehouse.db import Warehouse, bump_versions, constraint_errors
from engine.warehouse.ingest_report import (BLANK, DUPLICATE, TOTAL, already_loaded,
                                            quarantine, row_warnings, wanted_lines)
from engine.warehouse.ingest_sql import literal, stage_select, v
from engine.warehouse.ingest_stage import (StageSource, fill_raw, line_layout,
                                           mark_duplicates, number_lines, rank_formats,
                                           read_rejects, register_frame, source_sql,
                                           unregister_frame)
from engine.warehouse.sql import table_columns

_literal = literal
__all__ = ["StageSource", "load_batch", "record_batch", "find_loaded_batch"]

UNCATEGORISED = "Uncategorised"
_TEMPS = ("ingest_stage", "ingest_known_pins", "ingest_reason_text", "ingest_keys",
          "ingest_daily", "ingest_state_map", "ingest_new_skus", "ingest_raw",
          "ingest_thresholds", "ingest_dups", "ingest_dupcand", "ingest_repeats",
          "ingest_want", "ingest_linemap", "ingest_ordered", *ingest_plan.TEMPS, *ingest_competitor.TEMPS)


def load_batch(wh: Warehouse, src: StageSource, kind: str, mapping: ColumnMapping,
               batch: dict, known_pins: tuple[str, ...] | None, within=None,
               match=None) -> dict:
    """Load one upload in one transaction. `batch` holds batch_id, file_name, sha256,
    created_by, mapping (JSON text). Returns the counts and the report dict.
    `within(cur, batch_id)`, when given, runs inside the same transaction after the rows
    are loaded and quarantined (ingest_stage still holds them) and before the batch is
    recorded; it returns counts to add to the batch's (rows it set aside itself).
    `match(items, catalog)`: a competitor upload's item matcher (the pricing domain's,
    passed in by the caller; see ingest_competitor.match_new_items).

    A CSV that breaks the strict RFC-4180 parser (e.g. a bare carriage return inside a
    field) is retried once with the lenient parser; if that fails too, the file is
    reported as unreadable and nothing is written."""
    try:
        return _load_batch(wh, src, kind, mapping, batch, known_pins, strict=True,
                           within=within, match=match)
    except constraint_errors(wh) as exc:
        # Validation should have quarantined the row; say so rather than blame the file.
        raise UnreadableFileError(
            f"'{batch.get('file_name')}' was not loaded: a row passed validation but the "
            f"warehouse refused it ({_first_line(exc)}). Nothing was written; please report "
            "this file.") from exc
    except duckdb.Error as exc:
        if src.format != "csv":
            raise UnreadableFileError(f"'{batch.get('file_name')}' could not be read: "
                                      f"{_first_line(exc)}") from exc
        first = exc
    try:
        return _load_batch(wh, src, kind, mapping, batch, known_pins, strict=False,
                           within=within, match=match)
    except duckdb.Error as exc:
        raise UnreadableFileError(
            f"'{batch.get('file_name')}' is not a CSV file MicroPulse can split into rows "
            f"and columns ({_first_line(first)}). Open it in a spreadsheet and save it "
            "again as CSV.") from exc


# What each upload kind writes besides the batch record (versions of data domains; db.DOMAINS).
KIND_DOMAINS = {"sales": ("uploads", "sales"), "catalog": ("uploads", "sales"),
                "inventory": ("uploads", "inventory"), "mandi": ("uploads", "mandi"),
                "plan": ("uploads", "plans"), "competitor": ("uploads", "competitors")}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _load_batch(wh: Warehouse, src: StageSource, kind: str, mapping: ColumnMapping,
                batch: dict, known_pins: tuple[str, ...] | None, strict: bool,
                within=None, match=None) -> dict:
    bid = batch["batch_id"]
    # only what this kind loads (and the upload bookkeeping): a plan or mandi upload leaves
    # the sales, forecasts and stock caches (elasticities, scenario inputs) as they were;
    # SKUs an upload creates bump the sales domain themselves (_create_unknown_skus)
    with wh.transaction(touches=KIND_DOMAINS[kind]) as cur, \
            ingest_local.stage_cursor(wh, cur, kind) as stage:
        # (on PostgreSQL the target session is new: connections holding temp tables are
        # never pooled again)
        _drop_temps(stage)
        if src.frame is not None:
            register_frame(stage, "ingest_frame", src.frame)
        if known_pins is not None:
            stage.execute("CREATE TEMP TABLE ingest_known_pins AS "
                          "SELECT DISTINCT unnest(?::VARCHAR[]) AS pin_code", [list(known_pins)])
        src_sql, params = source_sql(src, strict)
        formats = {f.name: rank_formats(stage, src_sql, params, mapping.source(f.name))
                   for f in fields(kind) if f.type == "date" and mapping.source(f.name)}
        today = stage.execute("SELECT current_date").fetchone()[0]
        row_rules = (ingest_plan.prepare(stage, mapping) if kind == "plan" else
                     ingest_competitor.prepare(stage, mapping) if kind == "competitor" else None)
        select = stage_select(kind, mapping, src_sql, formats, src.columns, today,
                              padded=src.padded, add_line=src.frame is None,
                              row_rules=row_rules)
        stage.execute(f"CREATE TEMP TABLE ingest_stage AS {select}", params)
        rejects = read_rejects(stage, src)
        layout = line_layout(stage, src, rejects)
        if layout.restage:      # rows out of the file's order: stage from a plain copy
            again, params = source_sql(src, strict, rejects="ingest_rejects_ordered")
            stage.execute(f"CREATE TEMP TABLE ingest_ordered AS {again}", params)
            stage.execute("DROP TABLE ingest_stage")
            stage.execute("CREATE TEMP TABLE ingest_stage AS " + stage_select(
                kind, mapping, "SELECT * FROM ingest_ordered", formats, src.columns, today,
                padded=src.padded, add_line=src.frame is None, row_rules=row_rules))
            stage.execute("DROP TABLE ingest_ordered")
            layout.base = stage.execute("SELECT min(rowid) FROM ingest_stage").fetchone()[0]
        # Blank rows and total rows have counts of their own (not 'a blank sku_id').
        stage.execute(f"UPDATE ingest_stage SET __mp_reason = '{BLANK}' WHERE __mp_blank")
        stage.execute(f"UPDATE ingest_stage SET __mp_reason = '{TOTAL}' "
                      "WHERE __mp_total IS NOT NULL")
        dups = mark_duplicates(stage, src, kind, mapping, strict)
        fill_raw(stage, src, mapping, strict)
        wanted_lines(stage, kind, mapping)
        which = "TRUE" if kind in ("plan", "competitor") else (   # their row_no
            "__mp_reason IS NOT NULL OR rowid IN (SELECT rid FROM ingest_want)")
        number_lines(stage, layout, which)
        # Line numbers are fixed; what follows may write rows in any order (faster).
        stage.execute("SET SESSION preserve_insertion_order = false")
        n_stage, n_bad, n_blank, n_total, n_dup, n_fixed = stage.execute(
            "SELECT count(*), count(*) FILTER (WHERE __mp_reason NOT IN "
            f"('{BLANK}', '{TOTAL}', '{DUPLICATE}')), "
            f"count(*) FILTER (WHERE __mp_reason = '{BLANK}'), "
            f"count(*) FILTER (WHERE __mp_reason = '{TOTAL}'), "
            f"count(*) FILTER (WHERE __mp_reason = '{DUPLICATE}'), "
            "count(*) FILTER (WHERE __mp_reason IS NULL AND __mp_pin_fixed) "
            "FROM ingest_stage").fetchone()
        issues = quarantine(stage, bid, kind, mapping, src, rejects, layout.empty)
        report: dict = {"issues": issues, "columns": mapping.accounting()}
        ingest_local.hand_over(stage, cur, bid, ("ingest_stage", *ingest_plan.TEMPS))
        loader = {"sales": _load_sales, "catalog": _load_catalog,
                  "inventory": _load_inventory, "mandi": _load_mandi,
                  "plan": ingest_plan.load_plan,
                  "competitor": partial(ingest_competitor.load_competitor, match=match)}[kind]
        loaded = loader(cur, bid, mapping, report)
        by_kind = {k: sum(r.kind == k for r in rejects) for k in ("malformed", "blank", "total")}
        xl_blank = len(src.blank_rows)
        counts = {
            "rows_read": (n_stage + len(rejects) + len(layout.empty) + len(src.long_lines)
                          + xl_blank),
            "rows_loaded": loaded,
            "rows_quarantined": n_bad + by_kind["malformed"] + len(src.long_lines),
            "duplicates_skipped": n_stage - n_bad - n_blank - n_total - loaded,
            "blank_lines": n_blank + by_kind["blank"] + len(layout.empty) + xl_blank,
            "total_rows": n_total + by_kind["total"]}
        already = counts["duplicates_skipped"] - n_dup
        if already:
            issues.append(already_loaded(kind, mapping, already))
        report["warnings"] = report.get("warnings", []) + row_warnings(
            stage, kind, mapping, src.unit, dups, layout)
        report["blank_lines"], report["total_rows"] = counts["blank_lines"], counts["total_rows"]
        report["duplicate_lines"] = int(n_dup)
        if "pin_code" in mapping.columns:
            report["pins_repaired"] = int(n_fixed)
        for key, n in (within(cur, bid) if within else {}).items():
            counts[key] += n
        _insert_batch(cur, batch, kind, counts, report, status="loaded")
        wh.audit(cur, batch.get("created_by"), f"ingest_{kind}",
                 json.dumps({"batch_id": bid, **counts}))
        _drop_temps(cur)
        if stage is not cur:
            _drop_temps(stage)
        if src.frame is not None:
            unregister_frame(stage, "ingest_frame")
    return {**counts, "batch_id": bid, "report": report}


def _drop_temps(cur) -> None:
    for t in _TEMPS:
        cur.execute(f"DROP TABLE IF EXISTS {t}")


def record_batch(wh: Warehouse, batch: dict, kind: str, counts: dict, report: dict,
                 status: str) -> None:
    """A batch row on its own (a re-uploaded file, or a file that could not be read)."""
    with wh.transaction(touches=("uploads",)) as cur:
        _insert_batch(cur, batch, kind, counts, report, status)
        wh.audit(cur, batch.get("created_by"), f"ingest_{kind}_{status}",
                 json.dumps({"batch_id": batch["batch_id"], **counts}))


def _insert_batch(cur, batch: dict, kind: str, counts: dict, report: dict, status: str):
    cur.execute(
        "INSERT INTO ingest_batches (batch_id, kind, file_name, sha256, grain, rows_read, "
        "rows_loaded, rows_quarantined, duplicates_skipped, mapping, report, created_by, "
        "created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?)",
        [batch["batch_id"], kind, batch.get("file_name"), batch.get("sha256"),
         report.get("grain"), counts.get("rows_read", 0), counts.get("rows_loaded", 0),
         counts.get("rows_quarantined", 0), counts.get("duplicates_skipped", 0),
         batch.get("mapping"), json.dumps(report, default=str), batch.get("created_by"),
         status])


def find_loaded_batch(wh: Warehouse, sha256: str, kind: str) -> dict | None:
    """The live (not rolled back) batch that loaded a file with this sha256, if any."""
    cur = wh.cursor()
    try:
        row = cur.execute("SELECT batch_id, rows_read, created_at FROM ingest_batches "
                          "WHERE sha256 = ? AND kind = ? AND status = 'loaded' "
                          "ORDER BY created_at LIMIT 1", [sha256, kind]).fetchone()
    finally:
        cur.close()
    return None if row is None else dict(zip(("batch_id", "rows_read", "created_at"), row))


# ---- per-kind loaders (each returns rows loaded; runs inside the batch transaction) --------
def _good(alias: str = "s") -> str:
    return f"{alias}.__mp_reason IS NULL"


def _create_unknown_skus(cur, bid: str, report: dict, sku_ids: str) -> None:
    """Create the SKUs named by the query `sku_ids` that the catalog does not have."""
    cur.execute(f"CREATE TEMP TABLE ingest_new_skus AS SELECT DISTINCT sku_id FROM ({sku_ids}) "
                f"AS t(sku_id) WHERE sku_id NOT IN (SELECT sku_id FROM skus)")
    new = [r[0] for r in cur.execute("SELECT sku_id FROM ingest_new_skus ORDER BY sku_id")
           .fetchall()]
    report["unknown_skus_created"] = len(new)
    report["unknown_skus"] = new[:50]
    if len(new):
        cur.execute("INSERT INTO skus (sku_id, category) SELECT sku_id, ? FROM ingest_new_skus",
                    [UNCATEGORISED])
        cur.execute("INSERT INTO ingest_created_skus SELECT ?, sku_id FROM ingest_new_skus",
                    [bid])
        bump_versions(cur, ("sales",))      # the catalog changed, whatever the upload kind


# Optional sales columns stored as they are (typed and validated by staging).
_KEPT = ("regular_price", "unit_cost", "feature", "display", "tpr")
_PROMO_KINDS = ("feature", "display", "tpr")


def _load_sales(cur, bid: str, mapping: ColumnMapping, report: dict) -> int:
    has = mapping.source
    txn = v("transaction_id") if has("transaction_id") else "NULL"
    store = v("store_id") if has("store_id") else "NULL"
    qty = v("quantity")
    if has("is_return"):
        qty = f"CASE WHEN {v('is_return')} THEN -abs({qty}) ELSE {qty} END"
    price = v("price") if has("price") else "NULL"
    if has("revenue"):
        price = f"COALESCE({price}, CASE WHEN {v('quantity')} <> 0 AND {v('revenue')} > 0 " \
                f"THEN abs({v('revenue')} / {v('quantity')}) END)"
    promo = v("promo") if has("promo") else _promo_from_flags(cur, mapping, report)
    kept = [c for c in _KEPT if has(c)]
    if has("transaction_id"):
        dup = (f"EXISTS (SELECT 1 FROM sales w WHERE w.transaction_id = s.{v('transaction_id')} "
               f"AND w.sku_id = s.{v('sku_id')})")
        if not cur.execute("SELECT EXISTS (SELECT 1 FROM sales WHERE transaction_id IS NOT "
                           "NULL)").fetchone()[0]:
            dup = "FALSE"       # no stored transaction ids: nothing to compare against
    else:
        dup = (f"EXISTS (SELECT 1 FROM sales w WHERE w.transaction_id IS NULL "
               f"AND w.sku_id = s.{v('sku_id')} AND w.pin_code = s.{v('pin_code')} "
               f"AND w.date = s.{v('date')} AND w.store_id IS NOT DISTINCT FROM {store} "
               f"AND w.batch_id IN (SELECT batch_id FROM ingest_batches WHERE kind = 'sales'))")
    loaded = cur.execute(
        f"INSERT INTO sales (transaction_id, batch_id, sku_id, pin_code, store_id, date, "
        f"quantity, price, promo{''.join(', ' + c for c in kept)}) SELECT {txn}, ?, "
        f"{v('sku_id')}, {v('pin_code')}, {store}, {v('date')}, {qty}, {price}, {promo}"
        f"{''.join(', ' + v(c) for c in kept)} FROM ingest_stage s WHERE {_good()} "
        f"AND NOT {dup}", [bid]).fetchone()[0]
    report["grain"] = _detect_grain(cur, bid, mapping)
    lo, hi = cur.execute(f"SELECT min({v('date')}), max({v('date')}) FROM ingest_stage "
                         f"WHERE __mp_reason IS NULL").fetchone()
    report["date_min"], report["date_max"] = (str(lo) if lo else None, str(hi) if hi else None)
    _add_batch_to_sales_daily(cur, bid, kept)
    # The loaded rows' SKUs, read from their (far fewer) SKU x PIN x day totals.
    _create_unknown_skus(cur, bid, report, "SELECT sku_id FROM ingest_daily")
    return int(loaded)


def _promo_from_flags(cur, mapping: ColumnMapping, report: dict) -> str:
    """`promo` for a file without a promo column: any of its feature / display / tpr
    columns whose good values are all 0 or 1 (flags); columns holding fractions (shares
    such as display_share = 0.16) never set it. Records which columns it used."""
    mapped = [c for c in _PROMO_KINDS if mapping.source(c)]
    if not mapped:
        return "FALSE"
    binary = cur.execute(
        "SELECT " + ", ".join(f"coalesce(bool_and({v(c)} IN (0, 1)), FALSE)" for c in mapped)
        + f" FROM ingest_stage WHERE {_good('ingest_stage')}").fetchone()
    flags = [c for c, is_flag in zip(mapped, binary) if is_flag]
    report["promo_from"] = [mapping.source(c) for c in flags]
    if not flags:
        return "FALSE"
    return "coalesce(" + " OR ".join(f"{v(c)} = 1" for c in flags) + ", FALSE)"


def _detect_grain(cur, bid: str, mapping: ColumnMapping) -> str:
    if mapping.source("transaction_id"):
        return "transaction"
    n, keys, dows, dates = cur.execute(
        f"SELECT count(*), count(DISTINCT ({v('sku_id')}, {v('pin_code')}, {v('date')})), "
        f"count(DISTINCT extract(isodow FROM {v('date')})), count(DISTINCT {v('date')}) "
        f"FROM ingest_stage WHERE __mp_reason IS NULL").fetchone()
    if n > keys:
        return "transaction"
    from engine.ingest.mapping import normalise

    if normalise(mapping.source("date")).startswith("week") or (dows == 1 and dates > 1):
        return "weekly"
    return "daily"


_DAILY_COLUMNS = ("sku_id, pin_code, date, quantity, revenue, price, regular_price, promo, "
                  "unit_cost, feature, display, tpr")


def _daily_rows(source: str, kept=_KEPT) -> str:
    """sales_daily rows aggregated from the `sales` rows `s` that `source` selects (a
    WHERE clause after FROM sales s), named as sales_daily's columns. Of the optional columns, only those in
    `kept` are aggregated (the others are NULL in every selected row)."""
    def weighted(col: str) -> str:      # quantity-weighted mean, plain mean without units
        return (f"coalesce(sum(s.quantity * s.{col}) / nullif(sum(s.quantity) FILTER "
                f"(WHERE s.{col} IS NOT NULL), 0), avg(s.{col}))")

    regular = "coalesce(max(s.price) FILTER (WHERE NOT coalesce(s.promo, FALSE)), max(s.price))"
    if "regular_price" in kept:
        regular = f"coalesce(max(s.regular_price), {regular})"
    cost = weighted("unit_cost") if "unit_cost" in kept else "CAST(NULL AS DOUBLE)"
    kinds = [f"max(s.{c})" if c in kept else "CAST(NULL AS DOUBLE)" for c in _PROMO_KINDS]
    values = ["s.sku_id", "s.pin_code", "s.date", "sum(s.quantity)",
              "coalesce(sum(s.quantity * s.price), 0)", weighted("price"), regular,
              "bool_or(coalesce(s.promo, FALSE))", cost, *kinds]
    named = ", ".join(f"{value} AS {name}" for value, name
                      in zip(values, _DAILY_COLUMNS.split(", ")))
    return (f"SELECT {named} FROM sales s {source} GROUP BY s.sku_id, s.pin_code, s.date")


def refresh_sales_daily(cur) -> None:
    """Recompute sales_daily for the keys in temp table ingest_keys from `sales`."""
    cur.execute("DELETE FROM sales_daily USING ingest_keys k WHERE sales_daily.sku_id = "
                "k.sku_id AND sales_daily.pin_code = k.pin_code AND sales_daily.date = k.date")
    cur.execute(f"INSERT INTO sales_daily ({_DAILY_COLUMNS}) " + _daily_rows(
        "WHERE EXISTS (SELECT 1 FROM ingest_keys k WHERE s.sku_id = k.sku_id AND "
        "s.pin_code = k.pin_code AND s.date = k.date)"))


def _add_batch_to_sales_daily(cur, bid: str, kept: list[str]) -> None:
    """sales_daily for the SKU x PIN x days a new sales batch touches. The batch's rows are
    aggregated once (temp table ingest_daily, over the optional columns it has: `kept`);
    days no earlier row touched (most of them) are inserted from there, the others
    recomputed from all of `sales`."""
    cur.execute("CREATE TEMP TABLE ingest_daily AS " + _daily_rows("WHERE s.batch_id = ?", kept),
                [bid])
    same = "d.sku_id = k.sku_id AND d.pin_code = k.pin_code AND d.date = k.date"
    cur.execute("CREATE TEMP TABLE ingest_keys AS SELECT sku_id, pin_code, date FROM "
                f"ingest_daily d WHERE EXISTS (SELECT 1 FROM sales_daily k WHERE {same})")
    cur.execute(f"INSERT INTO sales_daily ({_DAILY_COLUMNS}) SELECT {_DAILY_COLUMNS} FROM "
                f"ingest_daily d WHERE NOT EXISTS (SELECT 1 FROM ingest_keys k WHERE {same})")
    if cur.execute("SELECT count(*) FROM ingest_keys").fetchone()[0]:
        refresh_sales_daily(cur)


def _upsert(cur, bid: str, table: str, keys: tuple[str, ...], mapping: ColumnMapping,
            always: dict[str, str], on_insert: dict[str, str]) -> int:
    """Insert-or-update `table` from the good staged rows. Blank cells never erase stored
    values; rows identical to what is stored are skipped (counted as duplicates). The
    rows an upload replaces are kept in ingest_prior_* so the batch can be rolled back.
    `always` columns are set on insert and update, `on_insert` ones only for new rows."""
    cols = [c for c in mapping.columns if c not in keys and c in _TABLE_COLS[table]]
    ints = {f.name for f in fields(mapping.kind) if f.type == "int"}

    def val(c):
        return f"CAST(round({v(c)}) AS BIGINT)" if c in ints else v(c)
    key_match = " AND ".join(f"t.{k} = s.{v(k)}" for k in keys)
    same = " AND ".join([key_match] + [f"({v(c)} IS NULL OR t.{c} IS NOT DISTINCT FROM {val(c)})"
                                       for c in cols])
    cur.execute(f"CREATE TEMP TABLE ingest_keys AS SELECT s.* FROM ingest_stage s WHERE "
                f"{_good()} AND NOT EXISTS (SELECT 1 FROM {table} t WHERE {same})")
    prior = f"ingest_prior_{table}"
    stored = table_columns(cur, table)
    cur.execute(f"INSERT INTO {prior} (replaced_by, existed, {', '.join(stored)}) SELECT ?, "
                f"TRUE, {', '.join('t.' + c for c in stored)} FROM {table} t WHERE EXISTS "
                f"(SELECT 1 FROM ingest_keys s WHERE {key_match})", [bid])
    key_sel = ", ".join(f"s.{v(k)}" for k in keys)
    cur.execute(f"INSERT INTO {prior} (replaced_by, existed, {', '.join(keys)}) SELECT ?, "
                f"FALSE, {key_sel} FROM ingest_keys s WHERE NOT EXISTS (SELECT 1 FROM {table} t "
                f"WHERE {key_match})", [bid])
    ins_cols = list(keys) + cols + list(always) + list(on_insert)
    sel = ([v(k) for k in keys] + [val(c) for c in cols] + list(always.values())
           + list(on_insert.values()))
    updates = ", ".join([f"{c} = COALESCE(excluded.{c}, {table}.{c})" for c in cols]
                        + [f"{c} = excluded.{c}" for c in always])
    conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    cur.execute(f"INSERT INTO {table} ({', '.join(ins_cols)}) SELECT {', '.join(sel)} "
                f"FROM ingest_keys ON CONFLICT ({', '.join(keys)}) {conflict}")
    return int(cur.execute("SELECT count(*) FROM ingest_keys").fetchone()[0])


_TABLE_COLS = {
    "skus": {"name", "category", "subcategory", "brand", "mrp", "unit_cost",
             "shelf_life_days", "unit_volume_l", "supplier"},
    "inventory": {"on_hand", "on_order", "lead_time_days", "moq", "case_pack",
                  "snapshot_date"},
}


def _load_catalog(cur, bid: str, mapping: ColumnMapping, report: dict) -> int:
    if mapping.source("category"):
        # A blank category keeps the stored one, and a new SKU still needs one (the column
        # is NOT NULL, which PostgreSQL checks before ON CONFLICT updates the stored row).
        cur.execute(f"UPDATE ingest_stage SET {v('category')} = coalesce((SELECT k.category "
                    f"FROM skus k WHERE k.sku_id = ingest_stage.{v('sku_id')}), ?) "
                    f"WHERE {v('category')} IS NULL", [UNCATEGORISED])
        return _upsert(cur, bid, "skus", ("sku_id",), mapping, {}, {})
    return _upsert(cur, bid, "skus", ("sku_id",), mapping, {},
                   {"category": _literal(UNCATEGORISED)})


def _load_inventory(cur, bid: str, mapping: ColumnMapping, report: dict) -> int:
    _create_unknown_skus(cur, bid, report,
                         f"SELECT {v('sku_id')} FROM ingest_stage s WHERE {_good()}")
    return _upsert(cur, bid, "inventory", ("sku_id", "pin_code"), mapping,
                   {"batch_id": _literal(bid)}, {})


def _load_mandi(cur, bid: str, mapping: ColumnMapping, report: dict) -> int:
    has = mapping.source
    if has("state"):
        raw = [r[0] for r in cur.execute(f"SELECT DISTINCT {v('state')} FROM ingest_stage "
                                         f"WHERE {v('state')} IS NOT NULL").fetchall()]
        cur.execute("CREATE TEMP TABLE ingest_state_map AS SELECT unnest(?::VARCHAR[]) AS raw, "
                    "unnest(?::VARCHAR[]) AS state", [raw, [normalise_state(s) for s in raw]])
    state = ("(SELECT m.state FROM ingest_state_map m WHERE m.raw = s.__mp_v_state)"
             if has("state") else "NULL")
    opt = {c: (f"s.{v(c)}" if has(c) else "NULL") for c in
           ("district", "variety", "grade", "min_price", "max_price", "arrivals_tonnes")}
    dup = (f"EXISTS (SELECT 1 FROM mandi_prices w WHERE w.market = s.{v('market')} AND "
           f"w.commodity = s.{v('commodity')} AND w.date = s.{v('date')} AND "
           f"w.state IS NOT DISTINCT FROM {state} AND "
           f"w.district IS NOT DISTINCT FROM {opt['district']} AND "
           f"w.variety IS NOT DISTINCT FROM {opt['variety']} AND "
           f"w.grade IS NOT DISTINCT FROM {opt['grade']})")
    loaded = cur.execute(
        f"INSERT INTO mandi_prices (market, state, district, commodity, variety, grade, date, "
        f"min_price, max_price, modal_price, arrivals_tonnes, batch_id) SELECT "
        f"s.{v('market')}, {state}, {opt['district']}, s.{v('commodity')}, {opt['variety']}, "
        f"{opt['grade']}, s.{v('date')}, {opt['min_price']}, {opt['max_price']}, "
        f"s.{v('modal_price')}, {opt['arrivals_tonnes']}, ? FROM ingest_stage s "
        f"WHERE {_good()} AND NOT {dup}", [bid]).fetchone()[0]
    lo, hi = cur.execute(f"SELECT min({v('date')}), max({v('date')}) FROM ingest_stage "
                         f"WHERE __mp_reason IS NULL").fetchone()
    report["date_min"], report["date_max"] = (str(lo) if lo else None, str(hi) if hi else None)
    return int(loaded)


STATE_NAME_FIXES = {"nct of delhi": "Delhi", "delhi": "Delhi", "orissa": "Odisha",
              "pondicherry": "Puducherry", "uttaranchal": "Uttarakhand",
              "chattisgarh": "Chhattisgarh", "jammu and kashmir": "Jammu and Kashmir"}


def normalise_state(name: str) -> str:
    """Agmarknet's 'NCT OF DELHI' / 'UTTAR PRADESH' -> 'Delhi' / 'Uttar Pradesh'."""
    from engine.textfmt import title_case      # pandas: not on the plain upload path

    key = " ".join(str(name).lower().split())
    return STATE_NAME_FIXES.get(key) or title_case(str(name).strip())
