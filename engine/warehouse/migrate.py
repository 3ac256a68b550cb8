"""Versioned schema migrations with Alembic, one history for both backends.

The revisions live in engine/warehouse/migrations/versions/ (0001 is the baseline: the
schema of schema.py as of version 11). Opening a warehouse read-write brings it to the newest
revision: `upgrade(cur)` reads the revision the warehouse records (`alembic_version`), has
Alembic write the SQL of the revisions after it (offline mode) and runs that SQL on the
caller's cursor, inside its transaction - so a failed upgrade changes nothing, on the DuckDB
file as on PostgreSQL. A warehouse at the newest revision costs one small query.

A schema change from now on is a new revision (`alembic revision -m "..."` with
script_location engine/warehouse/migrations, or copy 0001's shape), whose `upgrade()` calls
`op.execute(...)` with DuckDB-dialect DDL (PostgreSQL's cursor translates it); add the table
or column to schema.py's TABLES too, which documents the current shape. A revision that is
physical design for one backend only (0002: indexes a row store needs) reads the backend it
is written for from `context.config.attributes["backend"]` ("duckdb" or "postgresql").
"""
from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent / "migrations"
_COMMENT = re.compile(r"^\s*--.*$", re.MULTILINE)


def _config(buffer: io.StringIO | None = None, backend: str = "duckdb"):
    from alembic.config import Config

    cfg = Config(output_buffer=buffer)
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["backend"] = backend
    return cfg


_REVISION = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.MULTILINE)
_DOWN = re.compile(r'^down_revision\s*=\s*["\']([^"\']+)["\']', re.MULTILINE)


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision: the one no other revision builds on. Read from the revision
    files' text, so opening a warehouse that is up to date never imports Alembic."""
    revisions, parents = set(), set()
    for path in (HERE / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(text))
        parents.update(_DOWN.findall(text))
    heads = sorted(revisions - parents)
    if len(heads) != 1:
        raise RuntimeError(f"the schema migrations must have one head, found {heads}")
    return heads[0]


def current(cur) -> str | None:
    """The revision the warehouse records, or None (new, or made before Alembic)."""
    has = cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = "
                      "'alembic_version' AND table_schema = current_schema()").fetchone()[0]
    if not has:
        return None
    row = cur.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else row[0]


@lru_cache(maxsize=16)
def pending_sql(since: str | None, backend: str) -> tuple[str, ...]:
    """The statements that bring a `backend` warehouse at revision `since` to the newest
    one."""
    from alembic import command

    buffer = io.StringIO()
    command.upgrade(_config(buffer, backend), f"{since}:head" if since else "head", sql=True)
    text = _COMMENT.sub("", buffer.getvalue())
    return tuple(s.strip() for s in text.split(";\n") if s.strip())


def upgrade(cur, backend: str) -> str | None:
    """Bring the `backend` warehouse behind `cur` to the newest revision inside the
    caller's transaction; returns the revision it was at (None: new or pre-Alembic)."""
    was = current(cur)
    if was != head():
        for statement in pending_sql(was, backend):
            cur.execute(statement)
    return was
