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
The same holds one level up: an object field whose asked fields are all plain (a series'
`accuracy`), and a list of plain values or of such objects (a forecast's days), is built
directly; a field whose resolver is marked `row_field` (a pure function of its row, like
`columns`) is read by calling it. One value the fast path cannot take anywhere inside such a
field sends that whole field down the standard path.
"""
from __future__ import annotations

from typing import Any, Callable

from graphql import (GraphQLList, GraphQLNonNull, GraphQLObjectType, Undefined,
                     is_leaf_type)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_NOT_PLAIN = object()
_DEFINITION = "strawberry-definition"      # GraphQLCoreConverter.DEFINITION_BACKREF


def row_field(fn: Callable) -> Callable:
    """Mark a strawberry method resolver that takes no arguments and only reads its row
    (`self`): the fast path calls it directly. Put it under `@strawberry.field`."""
    fn._mp_row_field = True
    return fn


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Plans and completers, keyed on the id of graphql-core's collected field objects
        # (it collects a list's sub-fields once and hands every row the same ones); each
        # entry holds its key's object, so that id is not reused within this execution.
        self._plans: dict[tuple, tuple] = {}
        self._hooks = None

    def _hooked(self) -> bool:
        """A schema extension that hooks field resolution must see every field."""
        if self._hooks is None:
            self._hooks = bool(getattr(self.middleware_manager, "middlewares", None))
        return self._hooks

    # ---- planning (once per selection) ---------------------------------------------------
    def _plan(self, parent_type, grouped_field_set) -> tuple[list, dict]:
        """([(name, read, attribute, complete)] of the plain fields, {name: details} of the
        others) of one selection set."""
        key = ("fields", parent_type.name, id(grouped_field_set))
        plan = self._plans.get(key)
        if plan is None:
            plain, others = [], {}
            for name, details in grouped_field_set.items():
                reader = self._reader(parent_type, details)
                if reader is None:
                    others[name] = details
                else:
                    plain.append((name, *reader))
            plan = self._plans[key] = (grouped_field_set, plain, others)
        return plan[1], plan[2]

    def _reader(self, parent_type, details):
        """(read, attribute, complete) of a plain field, else None."""
        node = details[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        if field_def is None or field_def.args or node.arguments or node.directives:
            return None
        definition = field_def.extensions.get(_DEFINITION)
        if definition is None or definition.extensions:
            return None
        if definition.is_basic_field and getattr(field_def.resolve, "_is_default", False):
            read, attribute = definition.default_resolver, definition.python_name
        else:
            resolver = definition.base_resolver
            fn = getattr(resolver, "wrapped_func", None)
            if (not getattr(fn, "_mp_row_field", False) or resolver.is_async
                    or definition.arguments):
                return None
            read, attribute = _call_row_field, fn
        complete = self._completer(field_def.type, details)
        return None if complete is None else (read, attribute, complete)

    def _completer(self, kind, details):
        """value -> completed value (or _NOT_PLAIN) for values of type `kind` asked for
        with `details`, when they can be completed without graphql-core; else None."""
        key = ("type", str(kind), id(details))
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = (details, self._make_completer(kind, details))
        return found[1]

    def _make_completer(self, kind, details):
        non_null = isinstance(kind, GraphQLNonNull)
        if non_null:
            kind = kind.of_type
        if is_leaf_type(kind):
            return _leaf(kind.coerce_output_value, non_null)
        if isinstance(kind, GraphQLList):
            if any(d.node.directives for d in details):      # @stream and the like
                return None
            item = self._completer(kind.of_type, details)
            if item is None:
                return None
            inner = _items(item)
        elif isinstance(kind, GraphQLObjectType):
            grouped, deferred, _ = self.collect_subfields(kind, details)
            plain, others = self._plan(kind, grouped)
            if deferred or others or not plain:
                return None
            inner = _row(kind.is_type_of, plain)
        else:                                   # interfaces and unions: the standard path
            return None
        return _nullable(inner, non_null)

    # ---- executing -----------------------------------------------------------------------
    def complete_iterable_value(self, item_type, field_details_list, info, path, items,
                                position_context):
        """A list the fast path can complete item by item is built directly; one item it
        cannot take sends the whole list down the standard path."""
        if not self._hooked() and isinstance(items, (list, tuple)) \
                and not self.get_stream_usage(field_details_list, path):
            item = self._completer(item_type, field_details_list)
            if item is not None:
                out = _items(item)(items)
                if out is not _NOT_PLAIN:
                    return out
        return super().complete_iterable_value(item_type, field_details_list, info, path,
                                               items, position_context)

    def execute_fields(self, parent_type, source_value, path, grouped_field_set,
                       position_context):
        if self._hooked():
            return super().execute_fields(parent_type, source_value, path,
                                          grouped_field_set, position_context)
        plain, others = self._plan(parent_type, grouped_field_set)
        done: dict[str, Any] = {}
        for name, read, attribute, complete in plain:
            value = _plain_value(read, attribute, complete, source_value)
            if value is _NOT_PLAIN:       # the standard path decides (and raises its error)
                others = {**others, name: grouped_field_set[name]}
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


# ---- completers: value -> completed value, or _NOT_PLAIN ---------------------------------
def _call_row_field(source, fn):
    return fn(source)


def _plain_value(read, attribute, complete, source):
    try:
        value = read(source, attribute)
    except Exception:   # noqa: BLE001 - the standard path raises it with its location
        return _NOT_PLAIN
    return complete(value)


def _nullable(inner, non_null: bool):
    def complete(value):
        if value is None:
            return _NOT_PLAIN if non_null else None
        if isinstance(value, Exception):
            return _NOT_PLAIN
        return inner(value)
    return complete


def _leaf(coerce, non_null: bool):
    def serialise(value):
        try:
            out = coerce(value)
        except Exception:   # noqa: BLE001 - the standard path raises it with its location
            return _NOT_PLAIN
        return _NOT_PLAIN if out is Undefined or out is None else out
    return _nullable(serialise, non_null)


def _items(item):
    def complete(values):
        if not isinstance(values, (list, tuple)):
            return _NOT_PLAIN
        out = []
        for value in values:
            done = item(value)
            if done is _NOT_PLAIN:
                return _NOT_PLAIN
            out.append(done)
        return out
    return complete


def _row(is_type_of, plain):
    def complete(source):
        if is_type_of is not None:
            try:
                if is_type_of(source, None) is not True:
                    return _NOT_PLAIN
            except Exception:   # noqa: BLE001 - a check that needs the resolve info
                return _NOT_PLAIN
        row = {}
        for name, read, attribute, field in plain:
            try:
                value = read(source, attribute)
            except Exception:   # noqa: BLE001 - see _plain_value
                return _NOT_PLAIN
            value = field(value)
            if value is _NOT_PLAIN:
                return _NOT_PLAIN
            row[name] = value
        return row
    return complete


def _in_order(grouped_field_set, done: dict, rest: dict) -> dict:
    """The answer's fields in the order the query asked for them (graphql-core leaves out
    a field it skipped, e.g. one that is not in the schema)."""
    return {name: done[name] if name in done else rest[name]
            for name in grouped_field_set if name in done or name in rest}
