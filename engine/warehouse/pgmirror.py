"""The pages' analytical reads of a PostgreSQL warehouse, answered in process by DuckDB.

A row store scans a year of daily sales row by row: on the default demo (1.7 million
`sales_daily` rows) the Overview's KPIs took 520 ms on PostgreSQL against 70 ms on the
DuckDB file (benchmarks/bench_postgres_reads.py). Those reads are aggregates over a few
tables that change only when data is uploaded or a forecast run is saved, so each app or
API process keeps a DuckDB copy of them (`MIRRORED`) and answers a plain read of those
tables there; the queries are written in DuckDB's dialect anyway.

- *Fresh by data version.* Every read first reads the data versions of the domains its
  tables belong to (one small query on `meta`, which every commit that writes those
  tables bumps in the same transaction). A copy older than the database's is refreshed
  before the read: the tables are streamed out with COPY inside one REPEATABLE READ
  snapshot, together with the versions they belong to, and replace the copy in one DuckDB
  transaction. A read never sees data older than the last commit it could have seen on
  PostgreSQL. A write made through this process also marks its tables' domains stale.
- *Only what it can answer alike.* A single SELECT whose tables all belong to `MIRRORED`;
  anything else (a write, another table, a read inside a write transaction, a store
  user's scoped session) goes to PostgreSQL as before.
- *Where it lives.* A DuckDB file in a temporary folder of this process (its buffer
  manager spills to it, so the copy is not bound by memory), deleted when the warehouse
  closes. `MICROPULSE_DATABASE_READ_COPY=off` sends every read to PostgreSQL, and a domain
  whose tables hold more than `MICROPULSE_DATABASE_READ_COPY_MAX_ROWS` rows is read there.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import weakref
from functools import lru_cache

import duckdb
from sqlglot import exp

from engine.warehouse.db import DOMAINS, VERSION_PREFIX, WarehouseError
from engine.warehouse.schema import TABLES

log = logging.getLogger("micropulse.warehouse")
COPY_ENV = "MICROPULSE_DATABASE_READ_COPY"
MAX_ROWS_ENV = "MICROPULSE_DATABASE_READ_COPY_MAX_ROWS"
NOT_COPIED = object()  # the copy does not answer (see PostgresWarehouse.query)

# the tables the pages aggregate, by data domain (db.DOMAINS): the raw `sales` rows and
# the other domains' tables stay on PostgreSQL only
MIRRORED: dict[str, tuple[str, ...]] = {
    "sales": ("sales_daily", "skus", "locations"),
    "forecasts": DOMAINS["forecasts"],
}
TABLE_DOMAIN = {table: domain for domain, tables in MIRRORED.items() for table in tables}


def enabled() -> bool:
    raw = os.environ.get(COPY_ENV, "").strip().lower() or "on"
    if raw not in ("on", "off"):
        raise WarehouseError(f"{COPY_ENV} must be on or off (got {raw!r}).")
    return raw == "on"


def max_rows() -> int:
    """The most rows (planner estimate) one domain's tables may hold to be copied:
    $MICROPULSE_DATABASE_READ_COPY_MAX_ROWS, default 20,000,000 (about 1 GB of disk in the
    temporary folder and a minute to copy); bigger ones are read on PostgreSQL."""
    raw = os.environ.get(MAX_ROWS_ENV, "").strip().replace(",", "").replace("_", "")
    if not raw:
        return 20_000_000
    if not raw.isdigit():
        raise WarehouseError(f"{MAX_ROWS_ENV} must be a whole number of rows (got {raw!r}).")
    return int(raw)


@lru_cache(maxsize=4096)
def tables_read(sql: str) -> frozenset[str] | None:
    """The tables a single SELECT (DuckDB's dialect) reads; None for any other statement
    or one that names a table of another schema."""
    from engine.warehouse.postgres import parse

    try:
        trees = [t for t in parse(sql) if t is not None]
    except Exception:   # noqa: BLE001 - anything sqlglot cannot read goes to PostgreSQL
        return None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        return None
    tree = trees[0]
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    names = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):      # range(...), a table function
            continue
        if table.catalog or (table.db and table.db.lower() != "main"):
            return None
        if table.name in ctes and not table.db:
            continue
        names.add(table.name)
    return frozenset(names)


@lru_cache(maxsize=None)
def _columns(table: str) -> tuple[tuple[str, str], ...]:
    """`table`'s columns and DuckDB types, as schema.py declares them."""
    con = duckdb.connect()
    try:
        con.execute(TABLES[table])
        return tuple((r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall())
    finally:
        con.close()


class ReadCopy:
    """The in-process DuckDB copy of one PostgreSQL warehouse's `MIRRORED` tables."""

    def __init__(self, wh):
        self._wh = wh
        self._folder = tempfile.mkdtemp(prefix="micropulse-readcopy-")
        # removed when the copy is garbage-collected or the process exits, even when the
        # warehouse is never closed (a page's cached warehouse, a script that just ends)
        self._remove_folder = weakref.finalize(self, shutil.rmtree, self._folder, True)
        self._con = duckdb.connect(os.path.join(self._folder, "copy.duckdb"))
        self._have: dict[str, str] = {}          # domain -> version the copy holds
        self._too_big: dict[str, str] = {}       # domain -> version found over max_rows()
        self._max_rows = max_rows()
        self._lock = threading.Lock()
        self.refreshes = 0                       # how many times a domain was copied

    @staticmethod
    def answers(sql: str) -> bool:
        """Whether `sql` is a plain read of the copied tables only."""
        names = tables_read(sql)
        return bool(names) and names <= TABLE_DOMAIN.keys()

    def run(self, sql: str, params, fetch):
        """`fetch(cursor)` after the SELECT `sql` (which `answers`) ran over a copy at least
        as new as the database's last commit; NOT_COPIED when its tables are over the row
        limit (the caller reads PostgreSQL)."""
        domains = sorted({TABLE_DOMAIN[t] for t in tables_read(sql)})
        versions = self._versions(domains)
        if any(self._too_big.get(d) == v for d, v in versions.items()):
            return NOT_COPIED
        if any(self._have.get(d) != v for d, v in versions.items()):
            with self._lock:
                stale = [d for d, v in self._versions(domains).items()
                         if self._have.get(d) != v]
                if stale and not self._refresh(stale):
                    return NOT_COPIED
        cur = self._con.cursor()
        try:
            return fetch(cur.execute(sql, params or []))
        finally:
            cur.close()

    def forget(self, tables) -> None:
        """Tables this process has just written: their domains are copied again on the
        next read (a write that bumps no version still shows)."""
        for table in tables:
            self._have.pop(TABLE_DOMAIN.get(table), None)

    def _versions(self, domains: list[str], cur=None) -> dict[str, str]:
        keys = [VERSION_PREFIX + d for d in domains]
        own = cur is None
        cur = cur or self._wh.cursor()
        try:
            got = dict(cur.execute("SELECT key, value FROM meta WHERE key IN "
                                   "(SELECT unnest(CAST(? AS VARCHAR[])))", [keys]).fetchall())
        finally:
            if own:
                cur.close()
        return {d: got.get(VERSION_PREFIX + d, "0") for d in domains}

    def _refresh(self, domains: list[str]) -> bool:
        """Copy `domains`' tables again; False (nothing copied) when one is over the row
        limit."""
        tables = [t for d in domains for t in MIRRORED[d]]
        cur = self._wh.cursor()
        try:
            with cur.snapshot():      # the rows and the versions they belong to agree
                versions = self._versions(domains, cur)
                over = [d for d in domains if self._rows(cur, MIRRORED[d]) > self._max_rows]
                if over:
                    self._too_big.update({d: versions[d] for d in over})
                    log.info("read copy: %s over %s rows, read on PostgreSQL", over,
                             self._max_rows)
                    return False
                for table in tables:
                    cur.copy_out(table, [c for c, _ in _columns(table)], self._csv(table))
        finally:
            cur.close()
        con = self._con.cursor()
        try:
            con.execute("BEGIN TRANSACTION")
            for table in tables:
                types = ", ".join(f"'{c}': '{t}'" for c, t in _columns(table))
                con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv("
                            f"'{self._csv(table)}', columns = {{{types}}}, header = false, "
                            "nullstr = '\\N', quote = '\"', escape = '\"', "
                            "auto_detect = false)")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()
            for table in tables:
                os.remove(self._csv(table))
        self._have.update(versions)
        self.refreshes += len(domains)
        log.info("read copy of %s refreshed (%s)", ", ".join(tables), versions)
        return True

    @staticmethod
    def _rows(cur, tables) -> float:
        """The planner's row estimate of `tables` together (kept fresh after big commits,
        see postgres.ANALYZE_AFTER_ROWS)."""
        return float(cur.execute(
            "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) FROM pg_class c JOIN "
            "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relname IN (SELECT unnest(CAST(? AS VARCHAR[])))", [list(tables)]
        ).fetchone()[0])

    def _csv(self, table: str) -> str:
        return os.path.join(self._folder, f"{table}.csv")

    def close(self) -> None:
        try:
            self._con.close()
        finally:
            self._remove_folder()
