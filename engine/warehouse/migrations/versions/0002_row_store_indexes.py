"""Indexes a row store needs for the pages' reads (PostgreSQL only).

DuckDB answers `min(date)` and date-range filters from its column zone maps, and an ART
index there would only slow the uploads down. PostgreSQL reads rows: without an index the
Overview's date bounds (asked by every sales read) scan the whole of `sales_daily`, and a
short period of a long history scans all of it. A DuckDB warehouse passes this revision
with no change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROW_STORE_INDEXES = (
    # the date bounds of the data and every date-range read of the daily summary
    "CREATE INDEX IF NOT EXISTS idx_sales_daily_date ON sales_daily(date)",
    # one PIN code's rows (store users' scoped reads, the map's PIN detail)
    "CREATE INDEX IF NOT EXISTS idx_sales_daily_pin ON sales_daily(pin_code, date)",
)


def upgrade() -> None:
    if context.config.attributes.get("backend") != "postgresql":
        return
    for ddl in ROW_STORE_INDEXES:
        op.execute(ddl)


def downgrade() -> None:
    if context.config.attributes.get("backend") != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS idx_sales_daily_pin")
    op.execute("DROP INDEX IF EXISTS idx_sales_daily_date")
