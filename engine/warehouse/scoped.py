"""Row-level scoping: a warehouse handle that can only see some PIN codes.

`ScopedWarehouse(base, pin_codes)` has the read interface of `Warehouse` (query, scalar,
cursor, data_version, count, tables, path, read_only ...). Each of its cursors sets
`search_path = 'temp.main'` - so names resolve ONLY in the connection's temp catalog -
and creates one TEMP VIEW per table (and view) of the warehouse:

- `plan_rows`                            -> rows for a PIN in the scope, for a city or state
                                           of one (per `locations`), or for every place
- `competitor_prices`                    -> rows for a PIN in the scope, or for the city of one
- a table with a `pin_code` column       -> only rows whose pin_code is in the scope
- `alerts` (PIN inside `details` JSON)   -> alerts of those PINs, plus alerts tied to no PIN
- users, auth_throttle, auth_client_throttle, auth_sessions, audit_log, quarantine, derived_results,
  live_accuracy, sales_events, assistant_turns,
  ingest_batches, api_keys -> no rows at all
- any other table                        -> its columns as they were when the view was made

So every query module in engine/warehouse/ is scoped without knowing about it, whether it
writes `sales_daily` or `main.sales_daily`, and it fails closed: a table created after
the views were made does not resolve at all, and a column added later is not in the
pass-through view. On such a Catalog/Binder error the cursor re-reads the catalog and,
if it changed, rebuilds its views and retries the statement once. Only a
catalog-qualified name (`<database>.sales_daily`) reaches a real table; `query`/`scalar`
refuse SQL that contains one (checked with DuckDB's parser), and the view definitions are
the only place that uses one. The scope is built from validated 6-digit PIN codes only,
so the parameter-free view DDL cannot be injected.

On PostgreSQL the views live in the session's `pg_temp` (search_path = pg_temp) and each
reads a session SQL function over the table (see `_pg_view_sql`: no dependency of the
table on a store user's session, same plan as a view); `main.t` is translated to the
search path, and a query naming any other schema is refused (checked with sqlglot).

Cursors are prepared once and pooled, so a query costs what it costs on the plain
warehouse (figures: benchmarks/bench_scoped.py). The handle is read-only
(`transaction()` raises PermissionDenied). `data_version()` includes the scope, so
`st.cache_data` entries keyed on it are never shared between a store user and anyone else.
"""
from __future__ import annotations

import hashlib
import json
import queue
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

from engine.warehouse.db import Warehouse, WarehouseError
from engine.warehouse.locations import is_valid_pin
from engine.warehouse.schema import TABLES

HIDDEN_TABLES = ("users", "auth_throttle", "audit_log", "quarantine", "ingest_batches",
                 "derived_results", "live_accuracy", "sales_events", "assistant_turns",
                 "api_keys", "auth_sessions", "auth_client_throttle")
_ALERTS_PIN = "json_extract_string(details, '$.pin_code')"
_POOL_SIZE = 8
# schemas a scoped PostgreSQL query may name: its own temporary views (`main` is DuckDB's
# word for the search path, which the translation drops) and the catalogs
_PG_SAFE = {"pg_temp", "main", "information_schema", "pg_catalog"}
# a table or column the scoping views do not know yet (DuckDB's errors, PostgreSQL's)
_UNKNOWN_NAME: tuple[type[Exception], ...] = (duckdb.CatalogException, duckdb.BinderException)
try:
    import psycopg.errors as _pg_errors

    _UNKNOWN_NAME += (_pg_errors.UndefinedTable, _pg_errors.UndefinedColumn)
except ImportError:      # pragma: no cover - psycopg is pinned in requirements.txt
    pass


class PermissionDenied(WarehouseError):
    """The signed-in user's role does not allow this; the message says what and why."""

    code = "forbidden"
    http_status = 403


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_scope_function(table: str) -> str:
    """The session function behind the PostgreSQL scoping view of `table`."""
    return "pg_temp." + _ident("mp_scope_" + table)


def _tables(node):
    """(catalog, schema) of every table reference in a json_serialize_sql tree."""
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE":
            yield str(node.get("catalog_name") or ""), str(node.get("schema_name") or "")
        for value in node.values():
            yield from _tables(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tables(value)


@lru_cache(maxsize=4096)
def _names_a_schema(sql: str) -> bool:
    """PostgreSQL: does `sql` (DuckDB's dialect) name a database, or a schema other than
    its session's own views and the catalogs (or is it SQL the parser cannot read)?"""
    import sqlglot
    from sqlglot import exp

    from engine.warehouse.postgres import parse

    try:
        trees = parse(sql)
    except sqlglot.errors.SqlglotError:
        return True
    return any(t.args.get("catalog") or (t.args.get("db") and t.db.lower() not in _PG_SAFE)
               for tree in trees if tree is not None for t in tree.find_all(exp.Table))


class _Cursor:
    """A pooled DuckDB cursor, its views and the catalog signature they were built from."""

    def __init__(self, cur):
        self.cur, self.sig, self.views = cur, None, set()


class ScopedWarehouse:
    """A read-only view of `base` limited to `pin_codes` (see the module doc)."""

    def __init__(self, base: Warehouse, pin_codes):
        pins = tuple(sorted({str(p).strip() for p in pin_codes}))
        bad = [p for p in pins if not is_valid_pin(p)]
        if bad:
            raise PermissionDenied(f"{len(bad)} assigned PIN code(s) are not 6-digit PIN "
                                   f"codes (e.g. '{bad[0]}'); ask an administrator to fix "
                                   "your account.")
        self.base = base
        self.pin_scope: tuple[str, ...] = pins
        self.path: Path = base.path
        self.read_only = True
        self._pg = base.backend == "postgresql"
        # where the real tables are, and where the scoping views go
        self._catalog = str(base.scalar("SELECT current_database()"))
        self._schema = base.schema if self._pg else "main"
        self._home = (_ident(self._schema) if self._pg
                      else f"{_ident(self._catalog)}.main")
        self._temp = "pg_temp" if self._pg else "temp.main"
        self._in_list = ", ".join(f"'{p}'" for p in pins)  # validated digits only
        self._scope_tag = hashlib.sha256(",".join(pins).encode()).hexdigest()[:16]
        self._qualified = re.compile(
            r'(?<![\w"])("?)' + re.escape(self._catalog) + r'\1\s*\.', re.IGNORECASE)
        self._pool: queue.SimpleQueue[_Cursor] = queue.SimpleQueue()

    # ---- view management --------------------------------------------------------------------
    def _columns(self, cur) -> dict[str, list[tuple[str, str]]]:
        """(column, type) per table and view of the warehouse's schema, in column order."""
        if self._pg:
            rows = cur.execute_native(
                "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p') "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
                [self._schema]).fetchall()
        else:
            rows = cur.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = ? AND table_schema = ? "
                "ORDER BY table_name, ordinal_position",
                [self._catalog, self._schema]).fetchall()
        cols: dict[str, list[tuple[str, str]]] = {}
        for table, col, kind in rows:
            cols.setdefault(table, []).append((col, kind))
        return cols

    def _view_sql(self, columns: dict[str, list[tuple[str, str]]]) -> dict[str, list[str]]:
        """The statements that (re)create the scoping view of each table/view name of the
        warehouse's schema."""
        in_scope = f"IN ({self._in_list})" if self.pin_scope else None
        views = {}
        for name, typed in columns.items():
            cols = [c for c, _ in typed]
            src = f"{self._home}.{_ident(name)}"
            select = "*"
            if name in HIDDEN_TABLES:
                where = "FALSE"
            elif name == "plan_rows":
                where = self._plan_where(in_scope) if in_scope else "FALSE"
            elif name == "competitor_prices":
                where = self._city_where(in_scope) if in_scope else "FALSE"
            elif "pin_code" in cols:
                where = f"pin_code {in_scope}" if in_scope else "FALSE"
            elif name == "alerts":
                where = f"{_ALERTS_PIN} IS NULL" + (f" OR {_ALERTS_PIN} {in_scope}"
                                                    if in_scope else "")
            else:
                select, where = ", ".join(_ident(c) for c in cols), "TRUE"
            if self._pg:
                views[name] = self._pg_view_sql(name, typed, where)
            else:
                views[name] = [f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS "
                               f"SELECT {select} FROM {src} WHERE {where}"]
        return views

    def _pg_view_sql(self, name: str, typed: list[tuple[str, str]], where: str) -> list[str]:
        """PostgreSQL: the view reads a session SQL function that reads the table. A view
        over the table itself would make the table depend on every store user's session
        (no other process could drop the table or one of its columns while a store user is
        signed in); a function's body records no dependency, and PostgreSQL inlines it, so
        the plan is the one of a plain view (a filtered scan of the table)."""
        from engine.warehouse.postgres import translate

        cols = ", ".join(_ident(c) for c, _ in typed)
        body = translate(f"SELECT {cols} FROM {self._home}.{_ident(name)} WHERE {where}")
        returns = ", ".join(f"{_ident(c)} {kind}" for c, kind in typed)
        fn = _pg_scope_function(name)
        return [f"CREATE FUNCTION {fn}() RETURNS TABLE ({returns}) LANGUAGE sql STABLE "
                f"AS $mp_scope$ {body} $mp_scope$",
                f"CREATE TEMP VIEW {_ident(name)} AS SELECT * FROM {fn}()"]

    def _plan_where(self, in_scope: str) -> str:
        """A plan row applies to the scope when its PIN is in it, or (without a PIN) its
        city is the city of one of the scope's PIN codes, or (without a city either) its
        state is one of theirs or it names no place at all."""
        loc = f"{self._home}.locations"
        return (f"pin_code {in_scope} OR (pin_code IS NULL AND (city IN (SELECT city FROM "
                f"{loc} WHERE pin_code {in_scope}) OR (city IS NULL AND (state IS NULL OR "
                f"state IN (SELECT state FROM {loc} WHERE pin_code {in_scope})))))")

    def _city_where(self, in_scope: str) -> str:
        """A competitor price applies to the scope when its PIN is in it, or (priced for
        a city, no PIN) its city is the city of one of the scope's PIN codes."""
        loc = f"{self._home}.locations"
        return (f"pin_code {in_scope} OR (pin_code IS NULL AND city IN (SELECT city FROM "
                f"{loc} WHERE pin_code {in_scope}))")

    def _prepare(self, pc: _Cursor) -> bool:
        """(Re)build the cursor's views if the catalog changed; True if it did."""
        columns = self._columns(pc.cur)
        sig = tuple((t, tuple(c)) for t, c in sorted(columns.items()))
        if sig == pc.sig:
            return False
        if pc.sig is None:
            # names resolve only among the session's temporary views
            pc.cur.execute("SET search_path = pg_temp" if self._pg
                           else "SET search_path = 'temp.main'")
        views = self._view_sql(columns)
        if self._pg:
            # a function cannot change its result columns: drop each (and its view) first
            for gone in pc.views:
                pc.cur.execute_native(
                    f"DROP FUNCTION IF EXISTS {_pg_scope_function(gone)}() CASCADE")
            for ddl in views.values():
                for statement in ddl:
                    pc.cur.execute_native(statement)
        else:
            for gone in pc.views - set(views):
                pc.cur.execute(f"DROP VIEW IF EXISTS {self._temp}.{_ident(gone)}")
            for ddl in views.values():
                for statement in ddl:
                    pc.cur.execute(statement)
        pc.sig, pc.views = sig, set(views)
        return True

    def _new_cursor(self) -> _Cursor:
        pc = _Cursor(self.base.cursor())
        self._prepare(pc)
        return pc

    @contextmanager
    def _checkout(self):
        try:
            pc = self._pool.get_nowait()
        except queue.Empty:
            pc = self._new_cursor()
        try:
            yield pc
        except BaseException:
            pc.cur.close()  # a cursor that failed mid-statement is not reused
            raise
        if self._pool.qsize() < _POOL_SIZE:
            self._pool.put(pc)
        else:
            pc.cur.close()

    def _execute(self, sql: str, params, fetch):
        """Run `sql` on a pooled cursor and `fetch` the result; a table or column the views
        do not know yet triggers one rebuild-and-retry."""
        self._check_sql(sql)
        with self._checkout() as pc:
            try:
                return fetch(pc.cur.execute(sql, params or []))
            except _UNKNOWN_NAME:
                if not self._prepare(pc):
                    raise
                return fetch(pc.cur.execute(sql, params or []))

    def _check_sql(self, sql: str) -> None:
        """Refuse SQL that names the database catalog (`<db>.t`, `<db>.main.t`) or, on
        PostgreSQL, any schema (`<schema>.t`). A cheap text match first; when it hits (it
        also hits an alias that happens to share the catalog's name, e.g. `s.revenue` in
        s.duckdb), the parser decides."""
        if self._pg:
            self._check_pg_sql(sql)
            return
        if not self._qualified.search(sql):
            return
        with self._checkout() as pc:
            tree = json.loads(pc.cur.execute("SELECT json_serialize_sql(?)",
                                             [sql]).fetchone()[0])
        cat = self._catalog.lower()
        if tree.get("error") or any(
                c.lower() == cat or (not c and s.lower() == cat) for c, s in _tables(tree)):
            raise PermissionDenied("This query names the warehouse database directly, which "
                                   "would bypass PIN-code scoping; it is not allowed.")

    def _check_pg_sql(self, sql: str) -> None:
        if _names_a_schema(sql):
            raise PermissionDenied("This query names a database schema directly, which "
                                   "would bypass PIN-code scoping; it is not allowed.")

    # ---- the Warehouse read interface -------------------------------------------------------
    def cursor(self):
        """A new cursor with the scoping views in place (the caller closes it)."""
        return self._new_cursor().cur

    def query(self, sql: str, params: list | tuple | dict | None = None) -> pd.DataFrame:
        return self._execute(sql, params, lambda res: res.df())

    def scalar(self, sql: str, params: list | tuple | None = None):
        row = self._execute(sql, params, lambda res: res.fetchone())
        return None if row is None else row[0]

    @property
    def scope_tag(self) -> str:
        """Names this PIN scope in cache keys (stable for the same set of PIN codes)."""
        return self._scope_tag

    def data_version(self, *domains: str) -> str:
        return f"{self.base.data_version(*domains)}|scope:{self._scope_tag}"

    def schema_version(self) -> int:
        return self.base.schema_version()

    def tables(self) -> list[str]:
        return self.base.tables()

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise WarehouseError(f"Unknown table {table!r}")
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    # ---- writes are not allowed -------------------------------------------------------------
    def _denied(self) -> PermissionDenied:
        return PermissionDenied("Store users can look at their PIN codes' data but cannot "
                                "change anything; ask a manager or analyst to do this.")

    @contextmanager
    def transaction(self, *args, **kwargs):
        raise self._denied()
        yield  # pragma: no cover - makes this a generator for @contextmanager

    def apply_schema(self) -> None:
        raise self._denied()

    def audit(self, cur, actor, action, details=None, at=None) -> None:
        raise self._denied()

    def close(self) -> None:
        """Close the pooled cursors (the shared base connection stays open)."""
        while True:
            try:
                self._pool.get_nowait().cur.close()
            except queue.Empty:
                return
