"""GraphQL execution for /graphql with a fast path for plain leaf fields.

graphql-core executes every field of an answer the same way: a path entry, a resolve
info object, the resolver, an awaitable check, then completion. For the leaf fields of
a long list - a 100-series forecast batch is ~2,700 fields, most of them `sku_id`,
`model`, `wape`... read straight off the row - that bookkeeping costs several times what
reading and serialising the value does, and it was what kept GraphQL at 2x REST's time
for the same data (benchmarks/bench_graphql.py).

`PlainFieldsExecutionContext` executes such fields directly: a field is *plain* when
strawberry's own resolver for it is the basic one (an attribute of the row: no resolver,
no permission classes, no field extensions), it takes no arguments, its type is a scalar
or enum (nullable or not), and no schema extension hooks field resolution. Its value is
read with that same resolver and serialised with the type's own `coerce_output_value`,
exactly what the standard path computes. Everything else - object and list fields,
fields with resolvers or arguments - and every value the fast path cannot take as is
(a null for a non-null field, an exception, a value the scalar refuses) goes through
graphql-core's standard path, so errors, their paths and null bubbling are unchanged.
A list whose items are objects with only plain fields asked (a forecast's days as
`forecast { date forecast lo hi }`) is built row by row the same way; one item the fast
path cannot take sends the whole list down the standard path.
"""
from __future__ import annotations

from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, Undefined, is_leaf_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_NOT_PLAIN = object()
_DEFINITION = "strawberry-definition"      # GraphQLCoreConverter.DEFINITION_BACKREF


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (parent type, id(grouped field set)) -> (field set, plain fields, other fields),
        # and ("[]", id(field details), item type) -> (field details, plain rows or None).
        # graphql-core collects a list's sub-fields once and hands every row the same
        # objects; each entry holds its key's object, so that id is not reused meanwhile.
        self._plans: dict[tuple, tuple] = {}

    def _plan(self, parent_type, grouped_field_set) -> tuple[list, dict]:
        key = (parent_type.name, id(grouped_field_set))
        plan = self._plans.get(key)
        if plan is None:
            plain, others = [], {}
            for name, details in grouped_field_set.items():
                reader = self._plain_reader(parent_type, details)
                if reader is None:
                    others[name] = details
                else:
                    plain.append((name, details, *reader))
            plan = self._plans[key] = (grouped_field_set, plain, others)
        return plan[1], plan[2]

    def _plain_reader(self, parent_type, details):
        """(read, attribute, coerce, non_null) of a plain field, else None."""
        node = details[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        if (field_def is None or field_def.args or node.arguments
                or not getattr(field_def.resolve, "_is_default", False)):
            return None
        definition = field_def.extensions.get(_DEFINITION)
        if definition is None or not definition.is_basic_field:
            return None
        kind, non_null = field_def.type, False
        if isinstance(kind, GraphQLNonNull):
            kind, non_null = kind.of_type, True
        if not is_leaf_type(kind):
            return None
        return definition.default_resolver, definition.python_name, \
            kind.coerce_output_value, non_null

    def _plain_rows(self, item_type, field_details_list):
        """(object type, non-null items, plain fields) when every item of a list is an
        object all of whose asked fields are plain (a forecast's days), else None."""
        key = ("[]", id(field_details_list), str(item_type))
        found = self._plans.get(key)
        if found is None:
            kind, non_null = item_type, False
            if isinstance(kind, GraphQLNonNull):
                kind, non_null = kind.of_type, True
            rows = None
            if isinstance(kind, GraphQLObjectType):
                grouped, deferred, _ = self.collect_subfields(kind, field_details_list)
                plain, others = self._plan(kind, grouped)
                if plain and not others and not deferred:
                    rows = (kind, non_null, plain)
            found = self._plans[key] = (field_details_list, rows)
        return found[1]

    def complete_iterable_value(self, item_type, field_details_list, info, path, items,
                                position_context):
        """A list of plain rows is built row by row from the plain fields; any row the
        fast path cannot take (a null, a refused value, a wrong type) sends the whole
        list down the standard path, which then raises what it raises."""
        rows = (None if getattr(self.middleware_manager, "middlewares", None)
                or not isinstance(items, (list, tuple))
                or self.get_stream_usage(field_details_list, path)
                else self._plain_rows(item_type, field_details_list))
        if rows is not None:
            out = _plain_list(rows, items, info)
            if out is not None:
                return out
        return super().complete_iterable_value(item_type, field_details_list, info, path,
                                               items, position_context)

    def execute_fields(self, parent_type, source_value, path, grouped_field_set,
                       position_context):
        if getattr(self.middleware_manager, "middlewares", None):   # hooks see every field
            return super().execute_fields(parent_type, source_value, path,
                                          grouped_field_set, position_context)
        plain, others = self._plan(parent_type, grouped_field_set)
        done: dict[str, Any] = {}
        for name, details, read, attribute, coerce, non_null in plain:
            value = _plain_value(read, attribute, coerce, non_null, source_value)
            if value is _NOT_PLAIN:       # the standard path decides (and raises its error)
                others = {**others, name: details}
            else:
                done[name] = value
        if not others:
            return done if len(done) == len(grouped_field_set) else \
                _in_order(grouped_field_set, done, {})
        rest = super().execute_fields(parent_type, source_value, path, others,
                                      position_context)
        if self.is_awaitable(rest):
            async def ordered():
                return _in_order(grouped_field_set, done, await rest)
            return ordered()
        return _in_order(grouped_field_set, done, rest)


def _plain_list(rows, items, info) -> list | None:
    kind, non_null, plain = rows
    is_type_of = kind.is_type_of
    out = []
    for item in items:
        if item is None:
            if non_null:
                return None
            out.append(None)
            continue
        if is_type_of is not None and is_type_of(item, info) is not True:
            return None
        row = {}
        for name, _details, read, attribute, coerce, nn in plain:
            value = _plain_value(read, attribute, coerce, nn, item)
            if value is _NOT_PLAIN:
                return None
            row[name] = value
        out.append(row)
    return out


def _plain_value(read, attribute, coerce, non_null, source):
    """The completed value of a plain field, or _NOT_PLAIN."""
    try:
        value = read(source, attribute)
    except Exception:   # noqa: BLE001 - the standard path raises it with its location
        return _NOT_PLAIN
    if value is None:
        return _NOT_PLAIN if non_null else None
    if isinstance(value, Exception):
        return _NOT_PLAIN
    try:
        out = coerce(value)
    except Exception:   # noqa: BLE001 - see above
        return _NOT_PLAIN
    return _NOT_PLAIN if out is Undefined or out is None else out


def _in_order(grouped_field_set, done: dict, rest: dict) -> dict:
    """The answer's fields in the order the query asked for them (graphql-core leaves out
    a field it skipped, e.g. one that is not in the schema)."""
    return {name: done[name] if name in done else rest[name]
            for name in grouped_field_set if name in done or name in rest}
