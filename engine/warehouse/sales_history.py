"""Sales (`sales_daily`) row by row, for the models: the forecast's history (read,
partitioned, exported as Parquet, and the whole-file sums a partitioned run judges data gaps
and chain-wide promotions on), the pricing panel and shelf prices, the alert rules' and the
reorder plan's windows, and the Forecast page's history of a selection. Every statement is
parameterised; nothing here does maths."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from engine.warehouse.db import Warehouse
from engine.warehouse.sql import (Filters, Selection, in_clause, pairs_join, selection_where,
                                  table_columns)


# Optional sales_daily columns the estimator uses as controls when a warehouse has them.
OPTIONAL_SALES_COLUMNS = ("unit_cost", "feature", "display", "tpr")


def sales_history(wh: Warehouse, sku_ids: list[str] | None = None,
                  last_days: int | None = None) -> pd.DataFrame:
    """sales_daily rows: sku_id, pin_code, date, quantity, revenue, price, regular_price,
    promo, and whichever of unit_cost, feature, display, tpr the table has; only the
    `last_days` days up to the last sales date when given."""
    extra, params = in_clause("sku_id", sku_ids)
    if last_days is not None:
        extra += (" AND date > (SELECT max(date) FROM sales_daily) - "
                  f"INTERVAL {int(last_days)} DAY")
    present = set(table_columns(wh, "sales_daily"))
    optional = "".join(f", {c}" for c in OPTIONAL_SALES_COLUMNS if c in present)
    return wh.query(
        "SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, quantity, revenue, "
        f"price, regular_price, promo{optional} FROM sales_daily WHERE quantity >= 0" + extra
        + " ORDER BY sku_id, pin_code, date", params)


def line_prices(wh: Warehouse, sku_ids: list[str] | None = None) -> pd.DataFrame:
    """Today's shelf price per SKU x PIN: the regular price (else the price) on the line's
    last sale day. Columns sku_id, pin_code, line_price."""
    extra, params = in_clause("sku_id", sku_ids)
    return wh.query(
        "SELECT sku_id, pin_code, arg_max(coalesce(regular_price, price), date) AS line_price "
        "FROM sales_daily WHERE coalesce(regular_price, price) > 0" + extra
        + " GROUP BY sku_id, pin_code ORDER BY sku_id, pin_code", params)


def regular_prices(wh: Warehouse, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Per (sku_id, pin_code) in `pairs`: the last known regular price (else the last price
    paid) and the SKU's category (arg_max skips the days without a price)."""
    skus, pins = [p[0] for p in pairs], [p[1] for p in pairs]
    return wh.query(f"""
        SELECT s.sku_id, s.pin_code,
               arg_max(coalesce(s.regular_price, s.price), s.date) AS regular_price,
               any_value(k.category) AS category
        FROM sales_daily s {pairs_join("s")}
        LEFT JOIN skus k ON k.sku_id = s.sku_id
        GROUP BY 1, 2""", [skus, pins])


def _history_sql(cutoff=None) -> tuple[str, list]:
    sql = ("SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, quantity, price, "
           "regular_price, coalesce(promo, FALSE) AS promo, feature, display, tpr "
           "FROM sales_daily")
    params: list = []
    if cutoff is not None:
        sql += " WHERE date <= ?"
        params.append(pd.Timestamp(cutoff).date())
    return sql, params


def read_history(wh: Warehouse, cutoff=None) -> pd.DataFrame:
    """sales_daily up to `cutoff` (inclusive; all when None) in the model's long shape,
    with the promotion kinds (feature, display, tpr: 0..1, NULL when not recorded)."""
    sql, params = _history_sql(cutoff)
    return wh.query(sql + " ORDER BY sku_id, pin_code, date", params)


_SERIES_PLACE = ("FROM ({history}) h LEFT JOIN skus k USING (sku_id) "
                 "LEFT JOIN locations l USING (pin_code)")


def history_cells(wh: Warehouse, cutoff=None) -> pd.DataFrame:
    """The history up to `cutoff` by category x state x city (NULL-safe text keys, ''
    where the catalogue or the PIN directory has no value): series, rows, first and last
    date - what a distributed run partitions on."""
    sql, params = _history_sql(cutoff)
    return wh.query(
        "SELECT coalesce(k.category, '') AS category, coalesce(l.state, '') AS state, "
        "coalesce(l.city, '') AS city, count(DISTINCT (h.sku_id, h.pin_code)) AS n_series, "
        "count(*) AS n_rows, min(h.date) AS first_date, max(h.date) AS last_date "
        + _SERIES_PLACE.format(history=sql) + " GROUP BY ALL ORDER BY 1, 2, 3", params)


def export_history(wh: Warehouse, cutoff, folder, cells: pd.DataFrame) -> None:
    """Write the history up to `cutoff` as Parquet under `folder`, one directory per
    partition (`part=K`, from `cells`: category, state, city -> part), in read_history's
    columns. DuckDB streams it from the warehouse; on PostgreSQL each partition is read
    through the warehouse interface and written with pyarrow. No process holds the whole
    history."""
    sql, params = _history_sql(cutoff)
    select = ("SELECT h.*, c.part " + _SERIES_PLACE.format(history=sql)
              + " JOIN micropulse_partition_cells c ON c.category = coalesce(k.category, '') "
              "AND c.state = coalesce(l.state, '') AND c.city = coalesce(l.city, '')")
    cur = wh.cursor()
    try:
        cur.register("micropulse_partition_cells", cells[["category", "state", "city", "part"]])
        if wh.backend == "duckdb":
            target = str(folder).replace("'", "''")
            cur.execute(f"COPY ({select}) TO '{target}' "
                        "(FORMAT PARQUET, PARTITION_BY (part), OVERWRITE_OR_IGNORE)", params)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        for part in sorted(cells["part"].unique()):
            rows = cur.execute(select + " WHERE c.part = ?", [*params, int(part)]).df()
            if rows.empty:
                continue
            place = Path(folder) / f"part={int(part)}"
            place.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pandas(rows.drop(columns=["part"]),
                                                preserve_index=False),
                           place / "data_0.parquet")
    finally:
        cur.close()


PROMO_KINDS = ("feature", "display", "tpr")


def _whole_file_queries(source: str) -> dict[str, str]:
    """The three queries of whole_file_sums over `source` (a relation with sku_id,
    pin_code, date, price, promo and the promotion kinds; one row per series x day)."""
    kind = {k: f"least(greatest(coalesce({k}, 0), 0), 1)" for k in PROMO_KINDS}
    return {
        "pins": f"SELECT pin_code, date, count(*) AS rows FROM {source} s "
                "GROUP BY ALL ORDER BY pin_code, date",
        "promotions": "SELECT sku_id, date, count(*) AS rows, count(*) FILTER (WHERE promo) "
                      "AS promoted, coalesce(sum(price) FILTER (WHERE promo), 0) AS paid, "
                      "count(price) FILTER (WHERE promo) AS paid_rows, "
                      + ", ".join(f"coalesce(sum({e}) FILTER (WHERE promo), 0) AS {k}"
                                  for k, e in kind.items())
                      + f" FROM {source} s GROUP BY ALL HAVING count(*) FILTER (WHERE promo) > 0"
                      " ORDER BY sku_id, date",
        "share_kinds": "SELECT " + ", ".join(f"min(date) FILTER (WHERE {e} NOT IN (0, 1)) AS {k}"
                                             for k, e in kind.items()) + f" FROM {source} s"}


def whole_file_sums(source, cutoff=None) -> dict:
    """The per-day sums of a whole sales history that the forecast's data-gap and
    chain-wide promotion rules read (engine.forecast.features.WholeFile), so that a run
    split into partitions judges them on the whole file without any partition holding
    it: `pins` (pin_code, date, rows: the series with a row that day), `promotions` (per
    sku_id x date with a promoted row: rows, promoted, paid (sum of the promoted rows'
    prices), paid_rows (those with a price) and the sum of each promotion kind over the
    promoted rows, a kind read as 0..1 and 0 when not recorded), `share_kinds` (each
    kind's first date with a value other than 0 or 1: from then on it is a share, not a
    yes/no flag; NaT: never). `source`: a Warehouse (sales_daily up to `cutoff`) or a
    history frame (one row per series x day, as features.normalize_history returns; no
    price or promotion columns: none recorded), which DuckDB reads in memory."""
    if isinstance(source, Warehouse):
        sql, params = _history_sql(cutoff)
        queries = _whole_file_queries(f"({sql})")
        out = {name: source.query(q, params) for name, q in queries.items()}
    else:
        import duckdb

        absent = {"price": "NULL::DOUBLE", "promo": "FALSE",
                  **{k: "NULL::DOUBLE" for k in PROMO_KINDS}}    # columns it may not have
        relation = ("(SELECT sku_id, pin_code, date, "
                    + ", ".join(c if c in source else f"{v} AS {c}" for c, v in absent.items())
                    + " FROM micropulse_history"
                    + ("" if cutoff is None else
                       f" WHERE date <= TIMESTAMP '{pd.Timestamp(cutoff).isoformat()}'") + ")")
        con = duckdb.connect()
        try:
            con.register("micropulse_history", source)
            out = {name: con.execute(q).df() for name, q in
                   _whole_file_queries(relation).items()}
        finally:
            con.close()
    for name in ("pins", "promotions"):
        out[name]["date"] = pd.to_datetime(out[name]["date"]).astype("datetime64[ns]")
    row = out["share_kinds"].iloc[0] if len(out["share_kinds"]) else {}
    out["share_kinds"] = {k: pd.Timestamp(row[k]) if k in row and pd.notna(row[k]) else pd.NaT
                          for k in PROMO_KINDS}
    return out


def read_sales_window(wh: Warehouse, start, end) -> pd.DataFrame:
    """sales_daily rows dated start..end inclusive: sku_id, pin_code, date, quantity, price,
    promo."""
    return wh.query("SELECT sku_id, pin_code, CAST(date AS TIMESTAMP) AS date, quantity, price, "
                    "coalesce(promo, FALSE) AS promo FROM sales_daily WHERE date BETWEEN ? AND ? "
                    "ORDER BY sku_id, pin_code, date", [start, end])


def read_price_checks(wh: Warehouse, start, end) -> pd.DataFrame:
    """Priced sales dated start..end with the catalog's MRP and unit cost."""
    return wh.query("""
        SELECT s.sku_id, s.pin_code, CAST(s.date AS TIMESTAMP) AS date, s.quantity, s.price,
               k.name, k.mrp, k.unit_cost
        FROM sales_daily s JOIN skus k USING (sku_id)
        WHERE s.date BETWEEN ? AND ? AND s.price IS NOT NULL
        ORDER BY s.sku_id, s.pin_code, s.date""", [start, end])


def read_price_panel(wh: Warehouse, start, end) -> pd.DataFrame:
    """sales_daily with prices for elasticity estimation (start..end inclusive)."""
    return wh.query("""
        SELECT sku_id, pin_code, date, quantity, price, regular_price
        FROM sales_daily WHERE date BETWEEN ? AND ?""", [start, end])


def history_series(wh: Warehouse, sel: Selection, f: Filters, start: date | None = None,
                   end: date | None = None, grain: str = "D") -> pd.DataFrame:
    """date, quantity, revenue summed over the selection, one row per day from `start`
    (default: first sale) to `end` (default: last sale); days without sales are 0.
    Weekly data (grain 'W') keeps its week rows as stored."""
    where, params = selection_where(f, sel, "s.pin_code", "s.sku_id")
    if grain == "W":
        return wh.query(f"""
            SELECT CAST(s.date AS TIMESTAMP) AS date, sum(s.quantity) AS quantity,
                   sum(s.revenue) AS revenue
            FROM sales_daily s
            LEFT JOIN skus k ON k.sku_id = s.sku_id
            LEFT JOIN locations l ON l.pin_code = s.pin_code
            WHERE {where} AND s.date >= coalesce(CAST(? AS DATE), s.date)
              AND s.date <= coalesce(CAST(? AS DATE), s.date)
            GROUP BY 1 ORDER BY 1""", [*params, start, end])
    df = wh.query(f"""
        WITH s AS (
            SELECT s.date, sum(s.quantity) AS quantity, sum(s.revenue) AS revenue
            FROM sales_daily s
            LEFT JOIN skus k ON k.sku_id = s.sku_id
            LEFT JOIN locations l ON l.pin_code = s.pin_code
            WHERE {where} GROUP BY 1),
        span AS (SELECT coalesce(CAST(? AS DATE), min(date)) AS lo,
                        coalesce(CAST(? AS DATE), max(date)) AS hi FROM s)
        SELECT CAST(g.d AS TIMESTAMP) AS date, coalesce(s.quantity, 0) AS quantity,
               coalesce(s.revenue, 0) AS revenue
        FROM span, unnest(generate_series(span.lo, span.hi, INTERVAL 1 DAY)) AS g(d)
        LEFT JOIN s ON s.date = CAST(g.d AS DATE)
        WHERE span.lo IS NOT NULL
        ORDER BY 1""", [*params, start, end])
    return df
