"""Alembic environment of the warehouse schema (engine/warehouse/migrate.py runs it).

Offline only: Alembic writes the SQL of the pending revisions, and MicroPulse runs it on its
own warehouse connection, inside the transaction that opens the warehouse - the same way
for the DuckDB file and for PostgreSQL (whose cursor translates the few DuckDB words)."""
from alembic import context

context.configure(dialect_name="postgresql", literal_binds=True, transactional_ddl=False,
                  as_sql=True)
context.run_migrations()
