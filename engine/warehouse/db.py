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
"""
from __future__ import annotations

import hashlib
import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from engine.warehouse.schema import (INDEXES, MIGRATIONS, SCHEMA_VERSION, TABLES,
                                     migrate_old_scenarios, upgrade_scenarios)

if TYPE_CHECKING:    # pandas is imported by DuckDB when a result is fetched as a frame
    import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO_ROOT / "data" / "warehouse.duckdb"


class WarehouseError(Exception):
    """Base class for warehouse problems a user can act on."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB write lock."""


class WarehouseBusyError(WarehouseError):
    """Another write of this process is under way (only with transaction(wait=False))."""


# domain -> the tables whose contents it versions. Derived results name the domains they read.
DOMAINS: dict[str, tuple[str, ...]] = {
    "sales": ("sales", "sales_daily", "skus", "locations"),
    "inventory": ("inventory",),
    "uploads": ("ingest_batches", "quarantine", "ingest_created_skus", "ingest_prior_skus",
                "ingest_prior_inventory"),
    "weather": ("weather",),
    "festivals": ("festivals", "festival_effects"),
    "mandi": ("mandi_prices", "mandis"),
    "forecasts": ("forecast_runs", "forecasts", "forecast_routing", "forecast_drivers",
                  "backtests"),
    "plans": ("plan_rows",),
    "alerts": ("alerts", "alert_rules"),
    "scenarios": ("scenarios",),
    "demo": ("demo_truth",),
}
_VERSION_PREFIX = "version:"


def default_path() -> Path:
    """Warehouse file: $MICROPULSE_WAREHOUSE, else data/warehouse.duckdb in the repo."""
    env = os.environ.get("MICROPULSE_WAREHOUSE")
    return Path(env).expanduser() if env else DEFAULT_PATH


class Warehouse:
    """One process-wide DuckDB connection; hands out a cursor per call (thread-safe)."""

    def __init__(self, path: str | Path | None = None, read_only: bool = False):
        self.path = Path(path) if path is not None else default_path()
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
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
            raise WarehouseError(f"Cannot open the warehouse {self.path}: {msg}") from exc
        self._write_lock = threading.RLock()
        if not read_only:
            self.apply_schema()

    # ---- schema -------------------------------------------------------------------
    def apply_schema(self) -> None:
        """Create every table, column and index that does not exist yet (idempotent)."""
        with self._write_lock:
            cur = self._con.cursor()
            upgrade_scenarios(cur)
            for ddl in (*TABLES.values(), *MIGRATIONS):
                cur.execute(ddl)
            migrate_old_scenarios(cur)
            for ddl in INDEXES:
                cur.execute(ddl)
            cur.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                [str(SCHEMA_VERSION)],
            )
            for domain in DOMAINS:
                cur.execute("INSERT INTO meta VALUES (?, '0') ON CONFLICT (key) DO NOTHING",
                            [_VERSION_PREFIX + domain])
            cur.close()

    def schema_version(self) -> int:
        return int(self.scalar("SELECT value FROM meta WHERE key = 'schema_version'"))

    def tables(self) -> list[str]:
        return self.query("SELECT table_name FROM information_schema.tables "
                          "WHERE table_schema = 'main' ORDER BY 1")["table_name"].tolist()

    # ---- reads --------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    def query(self, sql: str, params: list | tuple | dict | None = None) -> pd.DataFrame:
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def scalar(self, sql: str, params: list | tuple | None = None):
        cur = self._con.cursor()
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
        parts = ",".join(f"{d}={got.get(_VERSION_PREFIX + d, '0')}" for d in wanted)
        return f"{self.tag}:{parts}"

    @property
    def tag(self) -> str:
        """A short, stable name for this warehouse file in cache keys (not its path, which
        must not reach users)."""
        return hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise WarehouseError(f"Unknown table {table!r}")
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    # ---- writes -------------------------------------------------------------------
    @contextmanager
    def transaction(self, touches: tuple[str, ...] | None = None, wait: bool = True
                    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """One writer transaction: everything inside commits together or not at all.

        `touches` names the data domains the write changes (see DOMAINS); their versions
        are bumped inside the same transaction, so a reader never sees new data under an
        old version. None bumps every domain; () bumps none (bookkeeping that no cache
        reads: sign-in counters, API keys, stored derived results). `wait=False` raises
        WarehouseBusyError at once when another write of this process is under way
        (for optional writes that a reader makes, which must never wait for a writer).
        """
        if self.read_only:
            raise WarehouseError("This warehouse was opened read-only; writes are not allowed.")
        domains = tuple(DOMAINS) if touches is None else _check_domains(touches)
        if not self._write_lock.acquire(blocking=wait):
            raise WarehouseBusyError("Another write to the warehouse is under way.")
        try:
            cur = self._con.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                if domains:
                    bump_versions(cur, domains)
                cur.execute("COMMIT")
            except BaseException as exc:
                _rollback(cur, exc)
                raise
            finally:
                cur.close()
        finally:
            self._write_lock.release()

    def audit(self, cur: duckdb.DuckDBPyConnection, actor: str | None, action: str,
              details: str | None = None) -> None:
        """Append to audit_log inside the caller's transaction."""
        cur.execute("INSERT INTO audit_log VALUES (now(), ?, ?, ?)", [actor, action, details])

    def close(self) -> None:
        self._con.close()


def bump_versions(cur: duckdb.DuckDBPyConnection, domains: tuple[str, ...]) -> None:
    """Bump `domains` inside the caller's open transaction (for a write that learns only
    part-way through what it touched, e.g. an upload that creates catalog rows)."""
    cur.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
                "WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                [[_VERSION_PREFIX + d for d in _check_domains(domains)]])


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
    except duckdb.Error:
        pass


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
