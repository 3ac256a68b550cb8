"""The DuckDB warehouse handle: connection, transactions, data version.

This package is the only place in MicroPulse that speaks SQL. Every statement is
parameterised; identifiers that vary (table names) come from the fixed schema, never from
user input.
"""
from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from engine.warehouse.schema import INDEXES, MIGRATIONS, SCHEMA_VERSION, TABLES

if TYPE_CHECKING:    # pandas is imported by DuckDB when a result is fetched as a frame
    import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = REPO_ROOT / "data" / "warehouse.duckdb"


class WarehouseError(Exception):
    """Base class for warehouse problems a user can act on."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB write lock."""


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
            for ddl in (*TABLES.values(), *MIGRATIONS):
                cur.execute(ddl)
            for ddl in INDEXES:
                cur.execute(ddl)
            cur.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                [str(SCHEMA_VERSION)],
            )
            cur.execute(
                "INSERT INTO meta VALUES ('data_version', '0') ON CONFLICT (key) DO NOTHING"
            )
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

    def data_version(self) -> str:
        """Changes whenever data is written; pages key their caches on it."""
        version = self.scalar("SELECT value FROM meta WHERE key = 'data_version'")
        return f"{self.path}:{version}"

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise WarehouseError(f"Unknown table {table!r}")
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    # ---- writes -------------------------------------------------------------------
    @contextmanager
    def transaction(self, bump_version: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """One writer transaction: everything inside commits together or not at all.

        The data version is bumped inside the same transaction, so a reader never sees
        new data under an old version. Bookkeeping writes that no page caches (sign-in
        counters, API keys) pass bump_version=False so they do not empty every cache.
        """
        if self.read_only:
            raise WarehouseError("This warehouse was opened read-only; writes are not allowed.")
        with self._write_lock:
            cur = self._con.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                if bump_version:
                    cur.execute(
                        "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
                        "WHERE key = 'data_version'"
                    )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def audit(self, cur: duckdb.DuckDBPyConnection, actor: str | None, action: str,
              details: str | None = None) -> None:
        """Append to audit_log inside the caller's transaction."""
        cur.execute("INSERT INTO audit_log VALUES (now(), ?, ?, ?)", [actor, action, details])

    def close(self) -> None:
        self._con.close()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
