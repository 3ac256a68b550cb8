"""Baseline: the warehouse schema as of MicroPulse schema version 11.

Every table, the columns added since each table was first released, and the indexes, all
idempotent (`IF NOT EXISTS`), so a warehouse made by an earlier MicroPulse (before schema
versions were kept by Alembic) is brought to this revision too, whatever it had.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""
from alembic import op

from engine.warehouse.schema import INDEXES, MIGRATIONS, TABLES

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for ddl in (*TABLES.values(), *MIGRATIONS, *INDEXES):
        op.execute(ddl)


def downgrade() -> None:
    raise NotImplementedError("The baseline is not undone: restore a backup instead.")
