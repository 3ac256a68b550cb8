"""The DuckDB warehouse handle: connection, transactions, data versions.

This package is the only place in MicroPulse that speaks SQL. Every statement is
parameterised; identifiers that vary (table names) come from the fixed schema, never from
user input.

Data versions are kept per *domain* (what is stored: sales, forecasts, alerts...; see
DOMAINS). A write names the domains it touches (`transaction(touches=("alerts",))`) and
bumps only those; a cached result is keyed on `data_version(<the domains it reads>)`. So
acknowledging an alert or saving a scenario leaves elasticities, forecasts and map layers
cached, while a sales upload invalidates everything computed from sales. A write that names
nothing bumps every domain (the safe default).

Storage failures are warehouse errors of their own (`WarehouseStorageError`: `DiskFullError`,
`ReadOnlyStorageError`), raised with the operating system's reason whatever DuckDB or Python
wrapped it in, so no caller mistakes a full or read-only disk for a bad file. A failed write
keeps nothing (the transaction rolls back) and the error raised is the first one: a second
error from the ROLLBACK after a failed COMMIT never replaces it.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from engine.errors import MicroPulseError
from engine.warehouse import migrate
from engine.warehouse.schema import (SCHEMA_VERSION, TABLES, migrate_old_scenarios,
                                     upgrade_scenarios)

if TYPE_CHECKING:    # pandas is imported by DuckDB when a result is fetched as a frame
    import pandas as pd

log = logging.getLogger("micropulse.warehouse")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO_ROOT / "data" / "warehouse.duckdb"


class WarehouseError(MicroPulseError):
    """Base class for warehouse problems a user can act on: a sentence (`message`), a
    machine `code` and, when there is one, small JSON-able `evidence` (as the ingest
    errors carry). Unclassified ones are the server's fault (500)."""

    code = "warehouse_error"
    http_status = 500


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB write lock."""

    code = "warehouse_locked"
    http_status = 503


class WarehouseBusyError(WarehouseError):
    """Another write of this process is under way (only with transaction(wait=False))."""

    code = "warehouse_busy"
    http_status = 503


class WarehouseStorageError(WarehouseError):
    """The disk refused a write: it is full (or over a quota or file-size limit), or it is
    read-only. Never the user's file's fault; nothing of the failed write was kept.
    `evidence`: {"storage": code, "reason": the OS's words, "file": the file's name}."""

    code = "storage_error"
    http_status = 507

    def again(self) -> "WarehouseStorageError":
        """A fresh copy to raise once more (a raised exception keeps its traceback)."""
        return type(self)(self.message, self.evidence)


class DiskFullError(WarehouseStorageError):
    code = "disk_full"


class ReadOnlyStorageError(WarehouseStorageError):
    code = "read_only"
    http_status = 503


# errno / the OS's words (as DuckDB quotes them) -> the storage error they mean
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY_ERRNOS = {errno.EROFS}     # not EACCES: that may be a file the user cannot read
_FULL_WORDS = ("no space left on device", "disk quota exceeded", "file too large",
               "not enough space on the disk", "there is not enough space")
_READ_ONLY_WORDS = ("read-only file system", "permission denied", "access is denied",
                    "operation not permitted")
_QUOTED_FILE = re.compile(r'"([^"]+)"')


def storage_error(exc: BaseException, what: str = "this change could not be saved",
                  where: str = "the disk that holds the warehouse"
                  ) -> WarehouseStorageError | None:
    """The storage error `exc` (an OSError, a DuckDB error, or either wrapped in another
    exception) stands for, or None when it is no storage failure. `what` says what could
    not be done, `where` names the disk, in the sentence."""
    if isinstance(exc, WarehouseStorageError):
        return exc
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        found = _classify(cause)
        if found is not None:
            return _storage_sentence(*found, what=what, where=where)
        cause = cause.__cause__ or cause.__context__
    return None


def _classify(exc: BaseException) -> tuple[type, str, str] | None:
    """(error class, the OS's reason, the file's name) of one exception, or None."""
    if isinstance(exc, OSError) and exc.errno is not None:
        name = Path(str(exc.filename)).name if exc.filename else ""
        reason = exc.strerror or os.strerror(exc.errno)
        if exc.errno in _FULL_ERRNOS:
            return DiskFullError, reason, name
        if exc.errno in _READ_ONLY_ERRNOS:
            return ReadOnlyStorageError, reason, name
        return None
    if not isinstance(exc, (duckdb.Error, OSError)):
        return None
    text = str(exc)
    low = text.lower()
    quoted = _QUOTED_FILE.search(text)
    name = Path(quoted.group(1)).name if quoted else ""
    for words, cls in ((_FULL_WORDS, DiskFullError), (_READ_ONLY_WORDS, ReadOnlyStorageError)):
        for word in words:
            if word in low:
                start = low.index(word)
                return cls, text[start:start + len(word)], name
    return None


def _storage_sentence(cls: type, reason: str, name: str, what: str,
                      where: str) -> WarehouseStorageError:
    detail = reason + (f", writing {name}" if name else "")
    evidence = {"storage": cls.code, "reason": reason, "file": name or None}
    if cls is DiskFullError:
        return DiskFullError(
            f"Storage error: {where} is full ({detail}), so {what}. "
            "Nothing of it was written, and the data already in the warehouse is unchanged. "
            "This is not a problem with your data: free some space on that disk (or move "
            "the warehouse to a disk with room, MICROPULSE_WAREHOUSE) and try again.",
            evidence)
    return ReadOnlyStorageError(
        f"Storage error: {where} is read-only ({detail}), so {what}. "
        "Nothing was changed, and the warehouse can still be read. This is not a problem "
        "with your data: make the disk or folder writable for MicroPulse (e.g. remount it "
        "read-write) and try again.", evidence)


# domain -> the tables whose contents it versions. Derived results name the domains they read.
DOMAINS: dict[str, tuple[str, ...]] = {
    "sales": ("sales", "sales_daily", "skus", "locations"),
    "inventory": ("inventory",),
    "uploads": ("ingest_batches", "quarantine", "ingest_created_skus", "ingest_prior_skus",
                "ingest_prior_inventory", "sales_events"),
    "weather": ("weather",),
    "festivals": ("festivals", "festival_effects"),
    "mandi": ("mandi_prices", "mandis"),
    "forecasts": ("forecast_runs", "forecasts", "forecast_routing", "forecast_drivers",
                  "backtests"),
    "plans": ("plan_rows",),
    "competitors": ("competitor_prices", "competitor_matches"),
    "alerts": ("alerts", "alert_rules"),
    "scenarios": ("scenarios",),
    "demo": ("demo_truth",),
    "live_accuracy": ("live_accuracy",),
    "clusters": ("store_clusters",),
    "assistant": ("assistant_turns",),
}
VERSION_PREFIX = "version:"


def default_path() -> Path:
    """Warehouse file: $MICROPULSE_WAREHOUSE, else data/warehouse.duckdb in the repo."""
    env = os.environ.get("MICROPULSE_WAREHOUSE")
    return Path(env).expanduser() if env else DEFAULT_PATH


class Warehouse:
    """The warehouse: one interface, two backends. `Warehouse(path)` opens the embedded
    DuckDB file (this class: one process-wide connection that hands out a cursor per call,
    thread-safe), or, when MICROPULSE_DATABASE_URL names a PostgreSQL database, a
    `PostgresWarehouse` (engine/warehouse/postgres.py) with the same interface - as
    `pathlib.Path(...)` gives the platform's path class. A backend declares what it can do
    on the class: `multi_process` (several app/API processes may write at once)."""

    backend = "duckdb"
    multi_process = False
    # the database's own errors (a query it refused), for readers that turn them into a
    # WarehouseError (see database_errors)
    database_errors: tuple[type[Exception], ...] = (duckdb.Error,)
    # a row the database refused for a key or constraint (see constraint_errors)
    constraint_errors: tuple[type[Exception], ...] = (duckdb.ConstraintException,)

    def __new__(cls, path: str | Path | None = None, read_only: bool = False):
        return super().__new__(backend_class() if cls is Warehouse else cls)

    def __init__(self, path: str | Path | None = None, read_only: bool = False):
        self.path = Path(path) if path is not None else default_path()
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Why writes are refused when the warehouse was opened read-only (open_readable
        # sets it when the disk itself is read-only).
        self.read_only_reason: WarehouseStorageError | None = None
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:  # lock held by another process
            msg = str(exc)
            if "lock" in msg.lower():
                raise WarehouseLockedError(
                    f"The warehouse {self.path} is in use by another MicroPulse process "
                    "(the app or a command-line run). Close it, or wait for it to finish, "
                    "then try again."
                ) from exc
            problem = storage_error(exc, "the warehouse cannot be opened for writing")
            if problem is not None:
                raise problem from exc
            raise WarehouseError(f"Cannot open the warehouse {self.path}: {msg}") from exc
        self._write_lock = threading.RLock()
        if not read_only:
            try:
                self.apply_schema()
            except (duckdb.Error, OSError) as exc:
                problem = storage_error(exc, "the warehouse's schema could not be updated")
                if problem is None or not self._schema_is_current():
                    self._con.close()
                    if problem is not None:
                        raise problem from exc
                    raise
                # A full disk, but nothing to create: open, so reads work; every write
                # then fails with the storage error of what it tried to save.
                log.info("warehouse schema not rewritten: %s", problem)

    @classmethod
    def copy(cls, src: str | Path, dst: str | Path) -> Path:
        """Copy the warehouse named `src` to `dst` (a backup, or a scratch copy to try
        something on); `dst` is replaced. A DuckDB warehouse is a file (and its write-ahead
        log); close writers first."""
        src, dst = Path(src), Path(dst)
        shutil.copyfile(src, dst)
        wal, dst_wal = Path(str(src) + ".wal"), Path(str(dst) + ".wal")
        if wal.exists():
            shutil.copyfile(wal, dst_wal)
        elif dst_wal.exists():
            dst_wal.unlink()
        return dst

    @classmethod
    def open_readable(cls, path: str | Path | None = None) -> "Warehouse":
        """Open read-write, or read-only when the disk under the warehouse is read-only
        (a read-only mount, a folder MicroPulse may not write to): reads then work and
        every write raises that ReadOnlyStorageError."""
        try:
            return cls(path)
        except ReadOnlyStorageError as exc:
            wh = cls(path, read_only=True)
            wh.read_only_reason = storage_error(exc.__cause__ or exc,
                                                "changes cannot be saved") or exc
            log.info("warehouse opened read-only: %s", exc)
            return wh

    # ---- schema -------------------------------------------------------------------
    def apply_schema(self) -> None:
        """Create every table, column and index that does not exist yet (idempotent)."""
        with self._write_lock:
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")      # an upgrade applies whole or not at all
                upgrade_scenarios(cur)
                migrate.upgrade(cur, self.backend)    # Alembic revisions (migrate.py)
                migrate_old_scenarios(cur)
                stamp_schema(cur)
                cur.execute("COMMIT")
            except BaseException as exc:
                _rollback(cur, exc)
                raise
            finally:
                cur.close()

    def _schema_is_current(self) -> bool:
        """Every table of the schema exists and the stored schema version is this one."""
        try:
            cur = self._con.cursor()
            try:
                have = {r[0] for r in cur.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'main'").fetchall()}
                row = cur.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                                  ).fetchone()
            finally:
                cur.close()
        except duckdb.Error:
            return False
        return set(TABLES) <= have and row is not None and row[0] == str(SCHEMA_VERSION)

    def schema_version(self) -> int:
        return int(self.scalar("SELECT value FROM meta WHERE key = 'schema_version'"))

    def tables(self) -> list[str]:
        return self.query("SELECT table_name FROM information_schema.tables "
                          "WHERE table_schema = 'main' ORDER BY 1")["table_name"].tolist()

    # ---- reads --------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def query(self, sql: str, params: list | tuple | dict | None = None) -> pd.DataFrame:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def scalar(self, sql: str, params: list | tuple | None = None):
        cur = self.cursor()
        try:
            row = cur.execute(sql, params or []).fetchone()
            return None if row is None else row[0]
        finally:
            cur.close()

    def data_version(self, *domains: str) -> str:
        """A string that changes whenever data of `domains` is written (every domain when
        none is named); caches key their results on it. Unknown domains are an error, so a
        typo cannot silently pin a cache forever."""
        wanted = _check_domains(domains) or tuple(DOMAINS)
        rows = self.query("SELECT key, value FROM meta WHERE key LIKE 'version:%'")
        got = dict(zip(rows["key"], rows["value"]))
        parts = ",".join(f"{d}={got.get(VERSION_PREFIX + d, '0')}" for d in wanted)
        return f"{self.tag}:{parts}"

    @property
    def tag(self) -> str:
        """A short, stable name for this warehouse file in cache keys (not its path, which
        must not reach users)."""
        return hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]

    def size_bytes(self) -> int:
        """What the warehouse takes on disk: the DuckDB file and its write-ahead log."""
        return sum(p.stat().st_size for p in (self.path, Path(str(self.path) + ".wal"))
                   if p.exists())

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise WarehouseError(f"Unknown table {table!r}")
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    # ---- writes -------------------------------------------------------------------
    @contextmanager
    def transaction(self, touches: tuple[str, ...] | None = None, wait: bool = True,
                    what: str = "changes") -> Iterator[duckdb.DuckDBPyConnection]:
        """One writer transaction: everything inside commits together or not at all.

        `touches` names the data domains the write changes (see DOMAINS); their versions
        are bumped inside the same transaction, so a reader never sees new data under an
        old version. None bumps every domain; () bumps none (bookkeeping that no cache
        reads: sign-in counters, API keys, stored derived results). `wait=False` raises
        WarehouseBusyError at once when another write of this process is under way
        (for optional writes that a reader makes, which must never wait for a writer).
        `what` names what is being written, for the read-only refusal.
        """
        if self.read_only:
            if self.read_only_reason is not None:
                raise self.read_only_reason.again()
            raise WarehouseError(f"This warehouse was opened read-only; {what} cannot be "
                                 "written. Open it read-write.")
        domains = tuple(DOMAINS) if touches is None else _check_domains(touches)
        if not self._write_lock.acquire(blocking=wait):
            raise WarehouseBusyError("Another write to the warehouse is under way.")
        try:
            cur = self.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                yield cur
                if domains:
                    bump_versions(cur, domains)
                cur.execute("COMMIT")
            except BaseException as exc:
                _rollback(cur, exc)
                problem = storage_error(exc) if isinstance(exc, Exception) else None
                if problem is not None and problem is not exc:
                    raise problem from exc
                raise
            finally:
                cur.close()
        finally:
            self._write_lock.release()

    def audit(self, cur: duckdb.DuckDBPyConnection, actor: str | None, action: str,
              details: str | dict | None = None, at: datetime | None = None) -> None:
        """Append to audit_log inside the caller's transaction (`details` a JSON text or a
        dict to encode; `at` defaults to now)."""
        if isinstance(details, dict):
            details = json.dumps(details, sort_keys=True, default=str)
        cur.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?)",
                    [at or datetime.now(), actor, action, details])

    def close(self) -> None:
        """Close the connection. A checkpoint that fails on a full or read-only disk is
        logged, not raised: committed data is safe in the write-ahead log, which the next
        open replays, and an error here must not replace the one that ended the run."""
        try:
            self._con.close()
        except (duckdb.Error, OSError) as exc:
            if storage_error(exc) is None:
                raise
            log.warning("warehouse closed without a checkpoint: %s", exc)


def stamp_schema(cur) -> None:
    """Record the schema version and create the data-version counters a new warehouse
    lacks (inside the caller's schema transaction)."""
    cur.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value", [str(SCHEMA_VERSION)])
    for domain in DOMAINS:
        cur.execute("INSERT INTO meta VALUES (?, '0') ON CONFLICT (key) DO NOTHING",
                    [VERSION_PREFIX + domain])


def backend_class() -> type[Warehouse]:
    """The configured backend: PostgreSQL when MICROPULSE_DATABASE_URL is set, else the
    embedded DuckDB file."""
    if os.environ.get("MICROPULSE_DATABASE_URL", "").strip():
        from engine.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse
    return Warehouse


def database_errors(wh) -> tuple[type[Exception], ...]:
    """The errors the database behind `wh` (a Warehouse, or a scoped view of one) raises
    for a query it refuses."""
    return getattr(wh, "base", wh).database_errors


def constraint_errors(wh) -> tuple[type[Exception], ...]:
    """The errors the database behind `wh` raises for a row that breaks a key or
    constraint."""
    return getattr(wh, "base", wh).constraint_errors


def copy_warehouse(src: str | Path, dst: str | Path) -> Path:
    """Copy warehouse `src` to `dst` on the configured backend (see Warehouse.copy)."""
    return backend_class().copy(src, dst)


def bump_versions(cur: duckdb.DuckDBPyConnection, domains: tuple[str, ...]) -> None:
    """Bump `domains` inside the caller's open transaction (for a write that learns only
    part-way through what it touched, e.g. an upload that creates catalog rows)."""
    cur.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
                "WHERE key IN (SELECT unnest(CAST(? AS VARCHAR[])))",
                [[VERSION_PREFIX + d for d in _check_domains(domains)]])


def _check_domains(domains) -> tuple[str, ...]:
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown data domain(s) {unknown}; known: {sorted(DOMAINS)}")
    return tuple(domains)


def _rollback(cur: duckdb.DuckDBPyConnection, first: BaseException) -> None:
    """Roll back after `first` failed. A failed COMMIT has already ended the transaction,
    so a second error from ROLLBACK ("no transaction is active") must not replace the
    first one, which is the one that says what went wrong."""
    try:
        cur.execute("ROLLBACK")
    except Exception:   # noqa: BLE001 - any backend's "no transaction is active"
        pass


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
