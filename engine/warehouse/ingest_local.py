"""Where an upload's rows are staged and validated: the seam between the two backends.

An upload is read, typed, validated and quarantined by DuckDB SQL (read_csv /
read_parquet of the file, temp staging tables, rowid line numbers; see ingest_store).
On the DuckDB warehouse that SQL runs on the warehouse transaction's own cursor. On
PostgreSQL it runs, unchanged, on a process-local in-memory DuckDB connection (the
*stage*): the reference rows the checks read (store locations, the catalog, the PIN codes
with sales) are copied into it first, and once the file is staged its temp tables and
its quarantine rows are copied into the PostgreSQL transaction (the *target*) with COPY,
where the per-kind loaders insert the good rows. One code path validates on both
backends, and a failure anywhere rolls the PostgreSQL transaction back: nothing is kept.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

import duckdb

from engine.warehouse.ingest_sql import literal
from engine.warehouse.schema import TABLES

# what each kind's staging reads from the warehouse (ingest_plan.place_lookups, prepare):
# table -> the query whose rows the local copy holds
_REFERENCE = {
    "locations": "SELECT * FROM locations",
    "skus": "SELECT * FROM skus",
    "sales_daily": "SELECT DISTINCT pin_code FROM sales_daily",
}
REFERENCE_BY_KIND = {"plan": ("locations", "skus", "sales_daily"),
                     "competitor": ("locations", "skus", "sales_daily")}


def separate(wh) -> bool:
    """True when this warehouse cannot run DuckDB's file readers itself (PostgreSQL)."""
    return wh.backend != "duckdb"


@contextmanager
def stage_cursor(wh, cur, kind: str) -> Iterator:
    """The cursor to stage an upload of `kind` on: `cur` itself on DuckDB; on PostgreSQL
    a fresh in-memory DuckDB holding an empty `quarantine` table and the reference rows
    `kind` checks against, read through `cur` (inside the upload's transaction)."""
    if not separate(wh):
        yield cur
        return
    stage = duckdb.connect(":memory:")
    try:
        stage.execute(TABLES["quarantine"])
        for table in REFERENCE_BY_KIND.get(kind, ()):
            frame = cur.execute(_REFERENCE[table]).df()
            stage.register("ingest_reference", frame)
            stage.execute(f"CREATE TABLE {table} AS SELECT * FROM ingest_reference")
            stage.unregister("ingest_reference")
        yield stage
    finally:
        stage.close()


def hand_over(stage, cur, bid: str, tables: tuple[str, ...]) -> None:
    """Copy what staging produced into the target transaction: those of the stage's temp
    `tables` that exist (ingest_stage and the look-ups the loaders join) as session temp
    tables, and the batch's quarantine rows into `quarantine`. A no-op when both are one
    cursor."""
    if stage is cur:
        return
    temps = [r[0] for r in stage.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name IN "
        "(SELECT unnest(?::VARCHAR[])) ORDER BY 1", [list(tables)]).fetchall()]
    with tempfile.TemporaryDirectory(prefix="micropulse-ingest-") as folder:
        for table in temps:
            columns = stage.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"CREATE TEMP TABLE {table} ("
                        + ", ".join(f'"{c[0]}" {_portable_type(c[1])}' for c in columns) + ")")
            _copy(stage, cur, folder, table, f"SELECT * FROM {table}", [c[0] for c in columns])
        names = [c[0] for c in stage.execute("DESCRIBE quarantine").fetchall()]
        _copy(stage, cur, folder, "quarantine",
              f"SELECT * FROM quarantine WHERE batch_id = {literal(bid)}", names)


def _portable_type(duck_type: str) -> str:
    """A DuckDB column type both dialects spell alike (JSON and odd types as text)."""
    upper = duck_type.upper()
    if upper in ("JSON", "UUID") or upper.startswith("ENUM") or "[" in upper or upper.startswith(("STRUCT", "MAP")):
        return "VARCHAR"
    if upper in ("HUGEINT", "UHUGEINT", "UBIGINT"):
        return "DECIMAL(38, 0)"
    if upper in ("UINTEGER", "USMALLINT", "UTINYINT", "TINYINT"):
        return "BIGINT"
    return duck_type


def _copy(stage, cur, folder: str, table: str, select: str, columns: list[str]) -> None:
    """The rows of `select` (on the stage) appended to `table` (on the target) by COPY
    of a CSV DuckDB writes (NULL as \\N, so an empty text stays an empty text)."""
    path = os.path.join(folder, f"{table}.csv")
    stage.execute(f"COPY ({select}) TO '{path}' (FORMAT csv, HEADER false, NULLSTR '\\N')")
    cur.copy_csv(table, columns, path)
    os.remove(path)
