"""The plain-field fast path of /graphql's execution (api/graphql_exec.py) answers exactly
what graphql-core's standard path answers - data, errors, their paths and null bubbling -
for every shape of query, and skips the standard path for plain leaf fields."""
from __future__ import annotations

import asyncio
import enum
from typing import Optional

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from api.graphql_exec import PlainFieldsExecutionContext, row_field


@strawberry.enum
class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Boom:
    """A row whose `broken` attribute raises (a bug in a row, not in the query)."""

    def __init__(self, **values):
        self.__dict__.update(values)

    @property
    def broken(self) -> str:
        raise RuntimeError("this attribute cannot be read")


@strawberry.type
class Point:
    day: str
    value: float
    note: Optional[str]


@strawberry.type
class Row:
    sku_id: str
    n: int
    wape: Optional[float]
    level: Level
    must: str                       # a row may hold None here: a field error
    broken: Optional[str]
    tags: list[str]
    points: list[Point]

    @strawberry.field
    def label(self, prefix: str = "#") -> str:
        return f"{prefix}{self.sku_id}"

    @strawberry.field
    @row_field
    def shout(self) -> str:                 # None for the row whose `must` is None
        return None if self.must is None else self.sku_id.upper()

    @strawberry.field
    @row_field
    def first_point(self) -> Optional[Point]:
        return self.points[0] if self.points else None


def _rows() -> list:
    good = [Boom(sku_id=f"S{i}", n=i, wape=None if i % 2 else 1.5 * i,
                 level=Level.HIGH if i % 3 else Level.LOW, must="ok", tags=["a", "b"],
                 points=[Point(day=f"2026-01-0{d}", value=d / 2, note=None)
                         for d in range(1, 4)]) for i in range(5)]
    good[3].must = None                        # non-null violated: the row bubbles to null
    good[4].n = "not a number"                 # the Int scalar refuses it
    return good


@strawberry.type
class Query:
    @strawberry.field
    def rows(self) -> list[Optional[Row]]:
        return _rows()

    @strawberry.field
    async def later(self) -> list[Row]:
        return _rows()


def _schemas():
    config = StrawberryConfig(auto_camel_case=False)
    return (strawberry.Schema(query=Query, config=config),
            strawberry.Schema(query=Query, config=config,
                              execution_context_class=PlainFieldsExecutionContext))


QUERIES = [
    "{ rows { sku_id n wape level must tags points { day value note } label } }",
    "{ rows { a: sku_id b: n sku_id __typename wape2: wape } }",
    "{ rows { ...R points { ...P } } } fragment R on Row { n sku_id } "
    "fragment P on Point { value day }",
    "query($x: Boolean!) { rows { sku_id n @include(if: $x) wape @skip(if: $x) } }",
    '{ rows { broken label(prefix: "~") must } }',
    "{ later { sku_id must n } }",
    "{ later { sku_id wape level points { day value note } } }",     # lists of plain rows
    "{ rows { sku_id n wape level } }",            # a plain list with a refused value
    "{ later { sku_id must } }",                   # a plain list with a null required field
    "{ rows { shout first_point { day value } tags } }",         # row fields
    "{ later { sku_id shout } }",                  # a row field's null bubbles up
]


def _answer(result) -> tuple:
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


@pytest.mark.parametrize("query", QUERIES)
def test_the_fast_path_answers_exactly_what_graphql_core_answers(query):
    standard, fast = _schemas()
    variables = {"x": True}
    want = _answer(asyncio.run(standard.execute(query, variable_values=variables)))
    got = _answer(asyncio.run(fast.execute(query, variable_values=variables)))
    assert got == want
    if "must" in query or " n " in query:
        assert want[1], "the query should exercise an error path"


def test_a_row_with_a_null_required_field_bubbles_to_null_with_its_path():
    _, fast = _schemas()
    result = asyncio.run(fast.execute("{ rows { sku_id must n } }"))
    assert result.data["rows"][3] is None and result.data["rows"][4] is None
    assert result.data["rows"][0] == {"sku_id": "S0", "must": "ok", "n": 0}
    paths = {tuple(e.path) for e in result.errors}
    assert paths == {("rows", 3, "must"), ("rows", 4, "n")}


def test_plain_leaf_fields_skip_the_standard_path(monkeypatch):
    standard, fast = _schemas()
    query = "{ later { sku_id wape level tags label } }"
    calls = {"standard": 0}
    original = PlainFieldsExecutionContext.__mro__[1].execute_field

    def counting(self, *args, **kwargs):
        calls["standard"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PlainFieldsExecutionContext.__mro__[1], "execute_field", counting)
    asyncio.run(standard.execute(query))
    everything, calls["standard"] = calls["standard"], 0
    asyncio.run(fast.execute(query))
    # the root field and each row's `label` (it takes an argument); the rest read directly
    assert everything == 1 + 5 * 5 and calls["standard"] == 1 + 5
    calls["standard"] = 0
    asyncio.run(fast.execute("{ later { sku_id wape level tags points { day value } "
                             "first_point { day } } }"))
    assert calls["standard"] == 1          # rows, lists and row fields built directly
