"""Shared SQL building blocks of the warehouse's entity modules: the sidebar's `Filters` and
the Forecast page's `Selection`, the one WHERE builder both go through (the PIN-scope hook
first, then state, city and category), the error-wrapping reader, the column-checked
table read, and the frame insert and pair join used by several tables.

`Filters.pin_scope` is the row-level-security hook: it limits a query to the PIN codes a
signed-in user may see (None = unrestricted, an empty tuple = nothing), and it is applied
on top of - never instead of - the state, city and category filters, so a crafted
selection cannot widen what a user sees. No pandas import at module level (an upload from
the command line loads no pandas).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING

from engine.warehouse.db import Warehouse, WarehouseError, database_errors

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Filters:
    """What the user selected in the sidebar. Empty tuples mean "all"."""

    states: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    pin_scope: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Selection:
    """What the Forecast page shows. None = no restriction at that level."""

    sku_id: str | None = None
    category: str | None = None
    pin_code: str | None = None
    city: str | None = None
    state: str | None = None

    @property
    def is_series(self) -> bool:
        return self.sku_id is not None and self.pin_code is not None

    def label(self) -> str:
        product = self.sku_id or self.category or "All products"
        place = (f"PIN {self.pin_code}" if self.pin_code else self.city or self.state
                 or "all places")
        return f"{product} · {place}"

    def to_dict(self) -> dict:
        return asdict(self)


def run_query(wh: Warehouse, sql: str, params: list, what: str) -> pd.DataFrame:
    try:
        return wh.query(sql, params)
    except database_errors(wh) as exc:
        raise WarehouseError(f"Could not read {what} from the warehouse: {exc}") from exc


def scope_sql(pin_scope: tuple[str, ...] | None, col: str) -> tuple[str, list]:
    if pin_scope is None:
        return "TRUE", []
    if len(pin_scope) == 0:
        return "FALSE", []
    return f"list_contains(CAST(? AS VARCHAR[]), {col})", [list(pin_scope)]


def _filter_clauses(f: Filters, pin_col: str) -> tuple[list[str], list]:
    """The PIN scope on `pin_col`, then the state, city and category filters over the
    joined `locations l` and `skus k`."""
    scope, params = scope_sql(f.pin_scope, pin_col)
    clauses = [scope]
    for values, col in ((f.states, "l.state"), (f.cities, "l.city"),
                        (f.categories, "k.category")):
        if values:
            clauses.append(f"list_contains(CAST(? AS VARCHAR[]), {col})")
            params.append(list(values))
    return clauses, params


def filter_where(f: Filters, start: date | None, end: date | None) -> tuple[str, list]:
    """WHERE clause over `sales_daily s LEFT JOIN skus k LEFT JOIN locations l` (or another
    table aliased `s` with the same joins)."""
    clauses, params = _filter_clauses(f, "s.pin_code")
    if start is not None:
        clauses.append("s.date >= ?")
        params.append(start)
    if end is not None:
        clauses.append("s.date <= ?")
        params.append(end)
    return " AND ".join(clauses), params


def selection_where(f: Filters, sel: Selection | None, pin_col: str,
                    sku_col: str = "k.sku_id") -> tuple[str, list]:
    """Clauses over an aliased row (pin_col) joined with skus k and locations l: the
    filters, then the selection's product and place."""
    clauses, params = _filter_clauses(f, pin_col)
    if sel is not None:
        for value, col in ((sel.sku_id, sku_col), (sel.category, "k.category"),
                           (sel.pin_code, pin_col), (sel.city, "l.city"),
                           (sel.state, "l.state")):
            if value is not None:
                clauses.append(f"{col} = ?")
                params.append(value)
    return " AND ".join(clauses), params


SALES_FROM = """
    FROM sales_daily s
    LEFT JOIN skus k ON k.sku_id = s.sku_id
    LEFT JOIN locations l ON l.pin_code = s.pin_code
"""


def in_clause(column: str, values: list | None) -> tuple[str, list]:
    """` AND column IN (?, ...)` for a non-empty list of values, else nothing."""
    if not values:
        return "", []
    marks = ", ".join("?" for _ in values)
    return f" AND {column} IN ({marks})", list(values)


def pairs_join(alias: str) -> str:
    """JOIN keeping the rows of `alias` whose (sku_id, pin_code) is one of the pairs given
    as two parameters (the SKU list, then the PIN list)."""
    return (f"JOIN (SELECT unnest(?::VARCHAR[]) AS sku_id, unnest(?::VARCHAR[]) AS pin_code) q "
            f"ON q.sku_id = {alias}.sku_id AND q.pin_code = {alias}.pin_code")


def table_columns(con, table: str) -> list[str]:
    """The stored columns of warehouse `table`, in its order (either backend; older
    warehouses lack some optional ones). `con`: a cursor, or a warehouse handle (plain or
    PIN-scoped)."""
    if hasattr(con, "data_version"):        # a warehouse handle, not a cursor
        return list(con.query(f"SELECT * FROM {table} LIMIT 0").columns)
    return [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


def read_columns(wh: Warehouse, table: str, known: tuple[str, ...], columns) -> pd.DataFrame:
    """Every row of `table` ordered by its key (known[0]), with `columns` (of `known`)."""
    unknown = [c for c in columns if c not in known]
    if unknown or not columns:
        raise ValueError(f"{table} has no column(s) {unknown or '(none asked)'}; "
                         f"it has {', '.join(known)}.")
    return wh.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {known[0]}")


def insert_frame(cur, table: str, columns: list[str], frame: pd.DataFrame,
                 prefix: dict | None = None) -> None:
    """INSERT frame's columns (plus constant `prefix` columns) in one statement. A column
    with no value at all is inserted as a plain NULL, which takes the table column's type
    (a registered frame's all-NULL column has none: PostgreSQL would read it as text)."""
    if frame is None or frame.empty:
        return
    data = frame[columns].copy()
    for col, value in (prefix or {}).items():
        data.insert(0, col, value)
    cols = list(data.columns)
    values = [f"NULL AS {c}" if data[c].isna().all() else c for c in cols]
    cur.register("_mp_insert_frame", data)
    try:
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) "
                    f"SELECT {', '.join(values)} FROM _mp_insert_frame")
    finally:
        cur.unregister("_mp_insert_frame")
