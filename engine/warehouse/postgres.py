"""The PostgreSQL backend of the warehouse, for teams: several app and API processes on one
shared database (`MICROPULSE_DATABASE_URL=postgresql+psycopg://user:password@host/db`).

`PostgresWarehouse` is a `Warehouse` (same interface: query, scalar, cursor, transaction,
data_version, audit ...), so the engine, the pages and the API do not know which backend
they talk to. The queries of engine/warehouse/ are written once, in DuckDB's dialect, and
translated to PostgreSQL by sqlglot (parsed once per statement text and cached), with a
few rewrites of DuckDB functions PostgreSQL lacks (`arg_max`, `GROUP BY ALL`,
`SELECT * EXCLUDE`, ...; see `_rewrite`). A cursor speaks DuckDB's cursor protocol:
`execute(sql, params).df() / fetchone() / fetchall()`, `register(name, frame)` (a frame
copied into a session temp table with COPY), `unregister(name)`.

Connections come from SQLAlchemy's pool (psycopg 3 underneath). Each warehouse lives in a
PostgreSQL schema: `MICROPULSE_DATABASE_SCHEMA`, else `micropulse` for the default
warehouse and `mp_<digest of the warehouse name>` for any other one (so tests, or two
demo warehouses, share one server without seeing each other).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import re
import sys
import threading
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import duckdb
import psycopg
import sqlglot
from sqlalchemy.exc import DBAPIError
from sqlglot import exp

from engine.warehouse import migrate, pgmirror
from engine.warehouse.db import (DEFAULT_PATH, DiskFullError, Warehouse, WarehouseBusyError,
                                 WarehouseError, default_path, stamp_schema)

log = logging.getLogger("micropulse.warehouse")
URL_ENV = "MICROPULSE_DATABASE_URL"
SCHEMA_ENV = "MICROPULSE_DATABASE_SCHEMA"


class DatabaseUnreachableError(WarehouseError):
    """The PostgreSQL server named by MICROPULSE_DATABASE_URL does not answer."""

    code = "database_unreachable"
    http_status = 503


def database_url() -> str | None:
    """The shared database's SQLAlchemy URL, or None for the embedded DuckDB file."""
    url = os.environ.get(URL_ENV, "").strip()
    return url or None


def schema_for(path: Path) -> str:
    """The PostgreSQL schema that holds the warehouse named `path`."""
    if os.environ.get(SCHEMA_ENV):
        return os.environ[SCHEMA_ENV]
    # the repository's data/warehouse.duckdb, not default_path(): that follows
    # MICROPULSE_WAREHOUSE, and one warehouse name must map to one schema in every process
    # (the app named by the variable, a CLI run naming the same file with --warehouse)
    if path.expanduser().resolve() == DEFAULT_PATH.resolve():
        return "micropulse"
    return "mp_" + hashlib.sha256(str(path.expanduser().resolve()).encode()).hexdigest()[:16]


# ---- DuckDB SQL -> PostgreSQL -------------------------------------------------------------
def _aggregate_free(node: exp.Expression) -> bool:
    return not any(isinstance(n, (exp.AggFunc, exp.Window)) for n in node.walk())


def _times_one(amount: exp.Expression, unit: str) -> exp.Expression:
    """`amount` * INTERVAL '1 <unit>'."""
    one = exp.Interval(this=exp.Literal.string("1"), unit=exp.var(unit.upper()))
    return exp.Paren(this=exp.Mul(this=exp.Paren(this=amount.copy()), expression=one))


def _first_of(agg: exp.Expression) -> exp.Expression:
    """(agg)[1]: the first element of an ARRAY_AGG."""
    return exp.Bracket(this=exp.Paren(this=agg), expressions=[exp.Literal.number(1)],
                       offset=1)


def _not_null(*values: exp.Expression) -> exp.Where:
    conds = [exp.Not(this=exp.Is(this=v.copy(), expression=exp.Null())) for v in values]
    return exp.Where(this=exp.and_(*conds))


# Each rewrite takes one node of the parsed DuckDB tree and returns it (changed or not) or
# its replacement. Adding a DuckDB construct PostgreSQL lacks = one function + one entry in
# REWRITES.
def _rw_subquery_alias(node, ctx):
    """FROM (SELECT ...) needs an alias in PostgreSQL."""
    if isinstance(node, exp.Subquery) and not node.alias and isinstance(
            node.parent, (exp.From, exp.Join)):
        node.set("alias", exp.TableAlias(this=exp.to_identifier(f"_sq{next(ctx)}")))
    return node


def _rw_arg_max(node, ctx):
    """arg_max(x, key): x of the row with the largest key; as in DuckDB, rows whose x or
    key is NULL are ignored."""
    if not isinstance(node, (exp.ArgMax, exp.ArgMin)):
        return node
    order = exp.Ordered(this=node.expression.copy(), desc=isinstance(node, exp.ArgMax),
                        nulls_first=False)
    agg = exp.ArrayAgg(this=exp.Order(this=node.this.copy(), expressions=[order]))
    return _first_of(exp.Filter(this=agg, expression=_not_null(node.this, node.expression)))


def _rw_any_value(node, ctx):
    """any_value(x) (PostgreSQL 16 has it, 15 does not): a non-NULL x, as in DuckDB."""
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        node = node.this
    if not isinstance(node, exp.AnyValue):
        return node
    value = node.this.copy()
    return _first_of(exp.Filter(this=exp.ArrayAgg(this=value), expression=_not_null(value)))


def _rw_json_text(node, ctx):
    """JSON functions on a VARCHAR column (DuckDB casts implicitly; PostgreSQL does not)."""
    if isinstance(node, (exp.JSONExtract, exp.JSONExtractScalar)) and not (
            isinstance(node.this, exp.Cast) and node.this.to.is_type("json")):
        node.set("this", exp.Cast(this=node.this.copy(), to=exp.DataType.build("json")))
    return node


def _rw_unnest_series(node, ctx):
    """unnest(generate_series(...)): DuckDB's series is a list to unnest, PostgreSQL's is
    the rows themselves."""
    if not isinstance(node, (exp.Explode, exp.Unnest)):
        return node
    inner = node.this if isinstance(node, exp.Explode) else (
        node.expressions[0] if len(node.expressions) == 1 else None)
    if not isinstance(inner, exp.GenerateSeries):
        return node
    alias = node.args.get("alias")
    return exp.Table(this=inner, alias=alias.copy()) if alias else inner


def _rw_interval_amount(node, ctx):
    """to_days(n), INTERVAL (n) DAY -> (n) * INTERVAL '1 DAY' (PostgreSQL's INTERVAL takes
    a literal only)."""
    if isinstance(node, exp.ToDays):
        return _times_one(node.this, "DAY")
    if isinstance(node, exp.Interval) and node.this is not None and not isinstance(
            node.this, exp.Literal) and node.args.get("unit") is not None:
        return _times_one(node.this, node.args["unit"].name)
    return node


def _rw_group_by_all(node, ctx):
    """GROUP BY ALL -> GROUP BY the positions of the select items without an aggregate."""
    if isinstance(node, exp.Select):
        group = node.args.get("group")
        if group is not None and group.args.get("all"):
            keys = [exp.Literal.number(i + 1) for i, e in enumerate(node.expressions)
                    if _aggregate_free(e)]
            node.set("group", exp.Group(expressions=keys) if keys else None)
    return node


# ---- uploads ------------------------------------------------------------------------------
def _rw_param_is_null(node, ctx):
    """`? IS NULL` (an optional filter): PostgreSQL cannot type a lone parameter (a None
    has no type), so it is cast to text, which any value casts to."""
    if isinstance(node, exp.Is) and isinstance(node.this, exp.Placeholder) and isinstance(
            node.expression, exp.Null):
        node.set("this", exp.Cast(this=node.this.copy(), to=exp.DataType.build("text")))
    return node


def _rw_regexp_full_match(node, ctx):
    """regexp_full_match(text, pattern): the whole text matches -> text ~ '^(?:p)$'."""
    if isinstance(node, exp.RegexpFullMatch):
        whole = exp.DPipe(this=exp.DPipe(this=exp.Literal.string("^(?:"),
                                         expression=node.expression.copy()),
                          expression=exp.Literal.string(")$"))
        return exp.Paren(this=exp.RegexpLike(this=node.this.copy(),
                                             expression=exp.Paren(this=whole)))
    return node


# ---- the engine's reads and writes --------------------------------------------------------
def _rw_main_schema(node, ctx):
    """table_schema = 'main' (DuckDB's default schema, named by catalog look-ups) -> the
    warehouse's own schema, current_schema()."""
    if isinstance(node, exp.Literal) and node.is_string and node.this == "main" and \
            isinstance(node.parent, (exp.EQ, exp.NEQ)):
        other = node.parent.this if node.parent.expression is node else node.parent.expression
        if isinstance(other, exp.Column) and other.name.lower() == "table_schema":
            return exp.CurrentSchema()
    return node


def _rw_main_table(node, ctx):
    """main.t: DuckDB's default schema is `main`; on PostgreSQL the warehouse's schema (or,
    for a store user's session, its scoping views) is the search path, so the name goes."""
    if isinstance(node, exp.Table) and not node.args.get("catalog") and \
            node.args.get("db") is not None and node.db.lower() == "main":
        node.set("db", None)
    return node


def _rw_string_split(node, ctx):
    """string_split(text, sep) -> string_to_array(text, sep) (PostgreSQL has no split)."""
    if isinstance(node, exp.Split):
        return exp.StringToArray(this=node.this.copy(), expression=node.expression.copy())
    return node


def _rw_range_of_times(node, ctx):
    """range(start, end, INTERVAL ...) (end excluded) -> a series up to 1 microsecond
    before end (sqlglot writes end - 1, which PostgreSQL has no operator for on times; for
    whole numbers end - 1 is right)."""
    if isinstance(node, exp.GenerateSeries) and node.args.get("is_end_exclusive") and \
            isinstance(node.args.get("step"), exp.Interval):
        tick = exp.Interval(this=exp.Literal.string("1"), unit=exp.var("MICROSECOND"))
        node.set("end", exp.Sub(this=exp.Paren(this=node.args["end"].copy()), expression=tick))
        node.set("is_end_exclusive", None)
    return node


# ---- pages and the API --------------------------------------------------------------------
def _rw_order_by_all(node, ctx):
    """ORDER BY ALL -> ORDER BY every select item's position, in the same direction."""
    if isinstance(node, exp.Select) and node.args.get("order") is not None:
        keys = node.args["order"].expressions
        if len(keys) == 1 and isinstance(keys[0].this, exp.Var) and \
                keys[0].this.name.upper() == "ALL":
            node.set("order", exp.Order(expressions=[
                exp.Ordered(this=exp.Literal.number(i + 1), desc=keys[0].args.get("desc"),
                            nulls_first=keys[0].args.get("nulls_first"))
                for i in range(len(node.expressions))]))
    return node


REWRITES = (_rw_subquery_alias, _rw_arg_max, _rw_any_value, _rw_json_text,
            _rw_unnest_series, _rw_interval_amount, _rw_group_by_all, _rw_param_is_null,
            _rw_regexp_full_match, _rw_main_schema, _rw_main_table, _rw_string_split,
            _rw_range_of_times, _rw_order_by_all)


def _rewrite(tree: exp.Expression) -> exp.Expression:
    """DuckDB constructs PostgreSQL has no word for, rewritten on the parsed tree."""
    aliases = iter(range(1, 1_000_000))

    def fix(node: exp.Expression) -> exp.Expression:
        for rewrite in REWRITES:
            node = rewrite(node, aliases)
        return node

    # a rewrite can return a node whose own children still need one: repeat until stable
    for _ in range(4):
        before = tree.sql(dialect="duckdb")
        tree = tree.transform(fix)
        if tree.sql(dialect="duckdb") == before:
            break
    return tree


# `?::VARCHAR[]`: sqlglot does not parse a cast of a placeholder; CAST(? AS ...) it does
_PARAM_CAST = re.compile(r"\?\s*::\s*([A-Za-z_][A-Za-z0-9_]*(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?"
                         r"(?:\[\])?)")


def parse(sql: str) -> list[exp.Expression | None]:
    """The statements of `sql` (DuckDB's dialect) as sqlglot trees."""
    return sqlglot.parse(_PARAM_CAST.sub(r"CAST(? AS \1)", sql), read="duckdb")


@lru_cache(maxsize=4096)
def statement(sql: str) -> tuple[str, str | None]:
    """`sql` in DuckDB's dialect as PostgreSQL text with psycopg placeholders, and the
    table its INSERT, UPDATE or DELETE writes (None for any other statement)."""
    trees = [t for t in parse(sql) if t is not None]
    written = None
    if len(trees) == 1 and isinstance(trees[0], (exp.Insert, exp.Update, exp.Delete)):
        target = trees[0].this
        table = target if isinstance(target, exp.Table) else target.find(exp.Table)
        written = table.name if table is not None else None
    return "; ".join(_rewrite(t).sql(dialect="postgres") for t in trees), written


def translate(sql: str) -> str:
    """`sql` in DuckDB's dialect, as PostgreSQL text with psycopg placeholders."""
    return statement(sql)[0]


# ---- results as DuckDB would give them ----------------------------------------------------
_DATE_OIDS = {1082, 1114, 1184}       # date, timestamp, timestamptz
_INT_OIDS = {20, 21, 23}
_FLOAT_OIDS = {700, 701, 1700}        # real, double, numeric
_BOOL_OIDS = {16}


def _frame(rows: list[tuple], description) -> "pd.DataFrame":
    import numpy as np
    import pandas as pd

    names = [d.name for d in description]
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    data = {}
    for i, (name, values) in enumerate(zip(names, cols)):
        oid = description[i].type_code
        values = list(values)
        if oid in _DATE_OIDS:
            ser = pd.to_datetime(pd.Series(values, dtype=object), utc=oid == 1184)
            if oid == 1184:
                ser = ser.dt.tz_localize(None)
            ser = ser.astype("datetime64[us]")
        elif oid in _FLOAT_OIDS:
            ser = pd.Series([np.nan if v is None else float(v) for v in values],
                            dtype="float64")
        elif oid in _INT_OIDS:
            ser = pd.Series(values, dtype="Int64" if None in values else "int64")
        elif oid in _BOOL_OIDS:
            ser = pd.Series(values, dtype="boolean" if None in values else "bool")
        else:
            ser = pd.Series(values, dtype=object)
        data[name] = ser
    frame = pd.DataFrame(data)
    frame.columns = names
    return frame


def _param(value):
    """A parameter psycopg can send: numpy scalars and NaN/NaT become Python values, a dict
    JSON text. (numpy and pandas are only looked at when loaded: a command that never
    imports them, such as the upload command, does not get them from here.)"""
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if pd is not None:
        if value is pd.NaT:
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        if isinstance(value, pd.Series):
            return [_param(v) for v in value]
    if isinstance(value, (list, tuple)) or (np is not None and isinstance(value, np.ndarray)):
        return [_param(v) for v in value]
    if isinstance(value, dict):     # DuckDB takes it as a STRUCT; we store JSON text
        return json.dumps(value, sort_keys=True, default=str)
    return value


_PG_TYPES = {"b": "BOOLEAN", "i": "BIGINT", "u": "BIGINT", "f": "DOUBLE PRECISION",
             "M": "TIMESTAMP", "m": "INTERVAL"}


def _column_type(series) -> str:
    import numpy as np

    kind = series.dtype.kind
    if kind in _PG_TYPES:
        return _PG_TYPES[kind]
    sample = series.dropna()
    first = sample.iloc[0] if len(sample) else None
    if isinstance(first, bool):
        return "BOOLEAN"
    if isinstance(first, (int, np.integer)):
        return "BIGINT"
    if isinstance(first, (float, Decimal)):
        return "DOUBLE PRECISION"
    if isinstance(first, _dt.datetime):
        return "TIMESTAMP"
    if isinstance(first, _dt.date):
        return "DATE"
    return "TEXT"


_SESSION_STATEMENT = re.compile(r"\s*(SET\s|RESET\s|CREATE\s+(OR\s+REPLACE\s+)?TEMP)",
                                re.IGNORECASE)
_BEGIN = re.compile(r"\s*(BEGIN|START\s+TRANSACTION)\b", re.IGNORECASE)
_COMMIT = re.compile(r"\s*(COMMIT|END)\b", re.IGNORECASE)
_ROLLBACK = re.compile(r"\s*(ROLLBACK|ABORT)\b", re.IGNORECASE)

# A table whose committed rows changed by at least this many gets fresh planner statistics
# at once (ANALYZE: a sample of 30,000 rows whatever the table's size). Autovacuum would
# come a minute or more later; until then the planner takes a just-loaded table for empty
# and sorts where it should hash (the Overview's reads were 2x slower right after the demo
# loaded, benchmarks/bench_postgres_reads.py).
ANALYZE_AFTER_ROWS = 1000


# ---- pgapp: PostgreSQL failures a user can act on, as warehouse errors --------------------
class DatabaseBusyError(WarehouseBusyError):
    """Another session's change held a lock this statement needed for too long, or the two
    conflicted (a deadlock, a serialization failure): nothing of this change was kept and
    the same request will very likely succeed when tried again."""

    code = "database_busy"
    http_status = 503


# SQLSTATEs: transaction rollback (40xxx: serialization failure, deadlock), lock not
# available, query cancelled (lock_timeout / statement_timeout); server going away
_BUSY_STATES = ("55P03", "57014", "53200", "53300")   # + out of memory, too many connections
_DISK_FULL_STATE = "53100"
_GONE_STATES = ("57P01", "57P02", "57P03")


LOCK_TIMEOUT_ENV = "MICROPULSE_DATABASE_LOCK_TIMEOUT"


def lock_timeout_ms() -> int:
    """How long a statement waits for a lock another session holds before it gives up
    with DatabaseBusyError: $MICROPULSE_DATABASE_LOCK_TIMEOUT seconds, default 60 (a
    request never hangs behind another process's stuck change)."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip() or "60"
    try:
        seconds = float(raw)
    except ValueError:
        raise WarehouseError(f"{LOCK_TIMEOUT_ENV} must be a number of seconds (got "
                             f"{raw!r}).") from None
    if not 0 < seconds <= 3600:
        raise WarehouseError(f"{LOCK_TIMEOUT_ENV} must be between 0 and 3600 seconds (got "
                             f"{raw}).")
    return max(1, round(seconds * 1000))


WORK_MEM_ENV = "MICROPULSE_DATABASE_WORK_MEM"
_MEMORY = re.compile(r"^\d{1,7}\s*(kB|MB|GB)$")


def work_mem() -> str:
    """The memory one sort or hash of a query may use before it spills to disk:
    $MICROPULSE_DATABASE_WORK_MEM (PostgreSQL's units: kB, MB, GB), default 32MB. The
    server's default (4MB) sends the pages' aggregates over a year of daily sales to
    temporary files."""
    raw = os.environ.get(WORK_MEM_ENV, "").strip() or "32MB"
    if not _MEMORY.match(raw):
        raise WarehouseError(f"{WORK_MEM_ENV} must be an amount of memory such as 32MB or "
                             f"512kB (got {raw!r}).")
    return raw.replace(" ", "")


def _unreachable(exc: BaseException) -> DatabaseUnreachableError:
    """The driver's words name the server's host or socket folder: logged for the
    administrator, kept out of the sentence (it reaches API callers)."""
    log.warning("PostgreSQL unreachable: %s", _first_line(exc))
    return DatabaseUnreachableError(
        "The shared PostgreSQL database does not answer (check "
        f"{URL_ENV}, that the server is running and that this machine may connect), so "
        "nothing was read or changed; try again when it is back.")


def database_problem(exc: BaseException) -> WarehouseError | None:
    """The warehouse error a PostgreSQL failure anywhere in `exc`'s chain stands for (the
    server unreachable or gone, a lock or conflict with another session, its disk full),
    or None when it is none of those (a bug: the caller's 500)."""
    import psycopg

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, psycopg.Error):
            state = cause.sqlstate or ""
            if state.startswith("40") or state in _BUSY_STATES:
                return DatabaseBusyError(
                    "The shared database is busy: another user's change to the same data "
                    "was under way (a lock held too long, or two changes in conflict), so "
                    "nothing of this one was kept. Try again in a moment.",
                    {"sqlstate": state, "reason": _first_line(cause)})
            if state == _DISK_FULL_STATE:
                return DiskFullError(
                    "Storage error: the disk of the PostgreSQL database server is full "
                    f"({_first_line(cause)}), so this change could not be saved. Nothing "
                    "of it was written, and the data already in the database is unchanged. "
                    "This is not a problem with your data: ask the database's "
                    "administrator to free space on the server, then try again.",
                    {"storage": DiskFullError.code, "sqlstate": state,
                     "reason": _first_line(cause), "file": None})
            if state.startswith("08") or state in _GONE_STATES or (
                    not state and isinstance(cause, (psycopg.OperationalError,
                                                     psycopg.InterfaceError))):
                return _unreachable(cause)
            return None
        cause = getattr(cause, "orig", None) or cause.__cause__ or cause.__context__
    return None


def _typed_errors(method):
    """Decorate a PgCursor method: a PostgreSQL failure a user can act on leaves it as the
    warehouse error it stands for (see `database_problem`), the driver's error chained."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except WarehouseError:
            raise
        except Exception as exc:
            problem = database_problem(exc)
            if problem is None:
                raise
            raise problem from exc
    return wrapper


def _with_placeholders(text: str) -> str:
    """Translated SQL sent with parameters: a literal % (LIKE 'version:%') is doubled, the
    placeholders (%s, %(name)s) are kept."""
    return text.replace("%", "%%").replace("%%s", "%s").replace("%%(", "%(")


class PgCursor:
    """One pooled PostgreSQL connection behind DuckDB's cursor protocol."""

    @_typed_errors
    def __init__(self, wh: "PostgresWarehouse"):
        self._committed = wh.committed
        self._raw = wh.engine.raw_connection()
        self._raw.driver_connection.autocommit = True
        self._cur = self._raw.driver_connection.cursor()
        self._registered: set[str] = set()
        # a SET or a temporary view changes the session: such a connection is closed, not
        # handed back to the pool, so no other caller ever inherits it (PIN scoping)
        self._session_changed = False
        self._in_transaction = False
        self._changed_rows: dict[str, int] = {}    # table -> rows written, not yet analysed

    # the DuckDB cursor protocol ------------------------------------------------------
    @_typed_errors
    def execute(self, sql: str, params=None) -> "PgCursor":
        text, written = statement(sql)
        if _SESSION_STATEMENT.match(text):
            self._session_changed = True
        if params:
            if isinstance(params, dict):
                params = {k: _param(v) for k, v in params.items()}
            else:
                params = [_param(v) for v in params]
            self._cur.execute(_with_placeholders(text), params)
        else:
            self._cur.execute(text)
        self._after(text, written)
        return self

    def _after(self, text: str, written: str | None) -> None:
        """Count the rows a statement wrote per table; when they are committed, refresh
        the statistics of the tables that changed by ANALYZE_AFTER_ROWS rows or more."""
        if written and written not in self._registered and self._cur.rowcount > 0:
            self._changed_rows[written] = self._changed_rows.get(written, 0) + self._cur.rowcount
        if _BEGIN.match(text):
            self._in_transaction = True
        elif _COMMIT.match(text):
            self._in_transaction = False
        elif _ROLLBACK.match(text):
            self._in_transaction = False
            self._changed_rows.clear()
        if not self._in_transaction and self._changed_rows:
            changed, self._changed_rows = self._changed_rows, {}
            self._committed(changed)
            tables = sorted(t for t, n in changed.items() if n >= ANALYZE_AFTER_ROWS)
            if tables:
                self._analyze(tables)

    def _analyze(self, tables: list[str]) -> None:
        """Fresh planner statistics for `tables` (after their change was committed; a
        failure here loses nothing, autovacuum will do it later)."""
        try:
            self._cur.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))
        except psycopg.Error as exc:
            log.warning("ANALYZE of %s after a commit failed: %s", tables, _first_line(exc))

    def complete(self) -> "PgCursor":
        """DuckDB's 'finish the pending result'; psycopg has fetched it already."""
        return self

    @_typed_errors
    def executemany(self, sql: str, seq) -> "PgCursor":
        text, written = statement(sql)
        self._cur.executemany(_with_placeholders(text), [[_param(v) for v in row] for row in seq])
        self._after(text, written)
        return self

    def fetchone(self):
        if self._cur.description:
            return self._cur.fetchone()
        # ---- pgingest: INSERT/UPDATE/DELETE give their row count, as DuckDB's do ----
        return (self._cur.rowcount,) if self._cur.rowcount >= 0 else None

    def fetchall(self) -> list[tuple]:
        return self._cur.fetchall() if self._cur.description else []

    def df(self):
        if not self._cur.description:
            import pandas as pd

            return pd.DataFrame()
        return _frame(self._cur.fetchall(), self._cur.description)

    fetchdf = df

    @property
    def description(self):
        return self._cur.description

    @_typed_errors
    def register(self, name: str, frame) -> "PgCursor":
        """Make `frame` readable as table `name` on this cursor (a session temp table)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"not a plain table name: {name!r}")
        if not hasattr(frame, "reset_index"):      # an Arrow table
            frame = frame.to_pandas()
        frame = frame.reset_index(drop=True)
        cols = ", ".join(f'"{c}" {_column_type(frame[c])}' for c in frame.columns)
        self._cur.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
        self._cur.execute(f'CREATE TEMP TABLE "{name}" ({cols})')
        if len(frame):
            names = ", ".join(f'"{c}"' for c in frame.columns)
            with self._cur.copy(f'COPY "{name}" ({names}) FROM STDIN') as copy:
                for row in frame.itertuples(index=False, name=None):
                    copy.write_row([_param(v) for v in row])
        self._registered.add(name)
        return self

    def unregister(self, name: str) -> "PgCursor":
        self._cur.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
        self._registered.discard(name)
        return self

    # ---- pgingest: bulk load of a CSV file (an upload's staged rows) ----------------
    @_typed_errors
    def copy_csv(self, table: str, columns: list[str], path: str) -> "PgCursor":
        """Append the rows of the CSV file `path` (no header, NULL written as \\N) to
        `table`'s `columns` with COPY, streamed in blocks."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(f"not a plain table name: {table!r}")
        names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        with open(path, "rb") as handle, self._cur.copy(
                f'COPY "{table}" ({names}) FROM STDIN (FORMAT csv, NULL \'\\N\')') as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        return self

    # ---- the read copy (pgmirror.py): one consistent snapshot, streamed out ----------
    @contextlib.contextmanager
    def snapshot(self):
        """A read-only REPEATABLE READ transaction: every read inside sees one snapshot."""
        self._cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield self
        finally:
            self._cur.execute("COMMIT")

    @_typed_errors
    def copy_out(self, table: str, columns: list[str], path: str) -> None:
        """Write `table`'s `columns` to the CSV file `path` (no header, NULL as \\N) with
        COPY, streamed in blocks."""
        names = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        with open(path, "wb") as out, self._cur.copy(
                f'COPY (SELECT {names} FROM "{table}") TO STDOUT (FORMAT csv, NULL \'\\N\')'
        ) as copy:
            for block in copy:
                out.write(block)

    def close(self) -> None:
        if self._raw is None:
            return
        try:
            if not self._session_changed:
                for name in list(self._registered):
                    self.unregister(name)
            self._cur.close()
        except Exception:   # noqa: BLE001 - a broken connection is not pooled again
            self._session_changed = True
        finally:
            if self._session_changed:
                self._raw.invalidate()   # closed for good
            else:
                self._raw.close()        # back to the pool
            self._raw = None

    # ---- pgapp: statements already in PostgreSQL's dialect --------------------------------
    @_typed_errors
    def execute_native(self, sql: str, params=None) -> "PgCursor":
        """Run `sql` as PostgreSQL text with psycopg placeholders (%s), untranslated: for
        the session objects PIN scoping builds (engine/warehouse/scoped.py), which DuckDB
        has no words for. The session counts as changed (never pooled again)."""
        self._session_changed = True
        self._cur.execute(sql, [_param(v) for v in params] if params else None)
        return self

    def __del__(self):
        # a cursor nobody closed (e.g. a pooled cursor of a scoped handle that was dropped)
        # is closed as close() would: a session with scoping views is never pooled again
        try:
            self.close()
        except Exception:   # noqa: BLE001 - interpreter shutdown; nothing to hand back
            pass


class PostgresWarehouse(Warehouse):
    """The warehouse in a PostgreSQL schema (see the module doc)."""

    backend = "postgresql"
    multi_process = True
    # the driver's, SQLAlchemy's, and the in-process read copy's (pgmirror.py)
    database_errors = (psycopg.Error, DBAPIError, duckdb.Error)
    constraint_errors = (psycopg.errors.IntegrityError,)   # SQLSTATE class 23

    def __init__(self, path: str | Path | None = None, read_only: bool = False):
        from sqlalchemy import create_engine

        self.path = Path(path) if path is not None else default_path()
        self.read_only = read_only
        self.read_only_reason = None
        self.url = database_url()
        if not self.url:
            raise WarehouseError(f"{URL_ENV} is not set; it names the PostgreSQL database.")
        self.schema = schema_for(self.path)
        self.engine = create_engine(
            self.url, pool_size=8, max_overflow=16, pool_pre_ping=True,
            connect_args={"options": f"-c search_path={self.schema} "
                                     f"-c lock_timeout={lock_timeout_ms()} "
                                     f"-c work_mem={work_mem()}"})
        self._write_lock = threading.RLock()
        self._read_copy = None                 # pgmirror.ReadCopy, made at the first read
        self._read_copy_lock = threading.Lock()
        self._use_read_copy = pgmirror.enabled() and pgmirror.max_rows() > 0
        try:
            cur = self.cursor()
            cur.close()
        except DatabaseUnreachableError:
            raise
        except Exception as exc:   # noqa: BLE001 - any driver failure means no server
            raise _unreachable(exc) from exc
        if not read_only:
            self.apply_schema()

    @classmethod
    def copy(cls, src: str | Path, dst: str | Path) -> Path:
        """Copy the schema of warehouse `src` into the one of `dst` (replaced), table by
        table with its keys, defaults and indexes, in one transaction."""
        import psycopg
        from sqlalchemy.engine import make_url

        source, target = schema_for(Path(src)), schema_for(Path(dst))
        params = make_url(database_url()).set(drivername="postgresql")
        with psycopg.connect(params.render_as_string(hide_password=False)) as con:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE'", [source]).fetchall()]
            if not tables:
                raise WarehouseError(f"There is no warehouse {Path(src).name} to copy.")
            con.execute(f'DROP SCHEMA IF EXISTS "{target}" CASCADE')
            con.execute(f'CREATE SCHEMA "{target}"')
            for table in tables:
                con.execute(f'CREATE TABLE "{target}"."{table}" '
                            f'(LIKE "{source}"."{table}" INCLUDING ALL)')
                con.execute(f'INSERT INTO "{target}"."{table}" '
                            f'SELECT * FROM "{source}"."{table}"')
        return Path(dst)

    @property
    def tag(self) -> str:
        return hashlib.sha256(f"{self.url}|{self.schema}".encode()).hexdigest()[:12]

    def cursor(self) -> PgCursor:
        return PgCursor(self)

    # ---- reads: the pages' aggregates from the in-process copy (pgmirror.py) -----------
    def query(self, sql: str, params: list | tuple | dict | None = None) -> "pd.DataFrame":
        got = self._from_copy(sql, params, lambda cur: cur.df())
        return super().query(sql, params) if got is pgmirror.NOT_COPIED else got

    def scalar(self, sql: str, params: list | tuple | None = None):
        row = self._from_copy(sql, params, lambda cur: cur.fetchone())
        if row is pgmirror.NOT_COPIED:
            return super().scalar(sql, params)
        return None if row is None else row[0]

    def _from_copy(self, sql: str, params, fetch):
        """`fetch(cursor)` of `sql` over the read copy, or pgmirror.NOT_COPIED when the copy
        does not answer it (not a plain read of its tables, switched off, too many rows)."""
        if not self._use_read_copy or not pgmirror.ReadCopy.answers(sql):
            return pgmirror.NOT_COPIED
        with self._read_copy_lock:
            if self._read_copy is None:
                self._read_copy = pgmirror.ReadCopy(self)
            copy = self._read_copy
        try:
            return copy.run(sql, params, fetch)
        except psycopg.Error as exc:          # refreshing the copy reads the database
            problem = database_problem(exc)
            if problem is None:
                raise
            raise problem from exc

    def committed(self, tables) -> None:
        """Tables a commit of this process wrote (PgCursor): the read copy's are stale."""
        if self._read_copy is not None:
            self._read_copy.forget(tables)

    def apply_schema(self) -> None:
        """Bring the schema to the newest Alembic revision, in one transaction, under an
        advisory lock (two processes starting together do not race)."""
        with self._write_lock:
            cur = self.cursor()
            try:
                cur._cur.execute("SELECT pg_advisory_lock(hashtext(%s))", [self.schema])
                cur._cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                cur.execute("BEGIN TRANSACTION")
                try:
                    migrate.upgrade(cur, self.backend)    # Alembic revisions (migrate.py)
                    stamp_schema(cur)
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
            finally:
                cur._cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", [self.schema])
                cur.close()

    def tables(self) -> list[str]:
        return self.query("SELECT table_name FROM information_schema.tables "
                          "WHERE table_schema = ? ORDER BY 1", [self.schema]
                          )["table_name"].tolist()

    # pgengine: what `init` reports as the warehouse's size
    def size_bytes(self) -> int:
        """What the warehouse's schema takes on the server: its tables with their indexes."""
        return int(self.scalar(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? AND c.relkind = 'r'", [self.schema]))

    def close(self) -> None:
        if self._read_copy is not None:
            self._read_copy.close()
            self._read_copy = None
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
