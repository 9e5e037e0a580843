"""`whereClause`: a Hasura-style boolean expression, compiled into IR filters.

Supported: `_and` (list), `_or` (list), `_not` (object), and under a field Hasura's comparison
operators `_eq _neq _gt _gte _lt _lte _in _nin _is_null`, `_like _nlike _ilike _nilike`,
`_similar _nsimilar` (SQL SIMILAR TO) and `_regex _nregex _iregex _niregex` (POSIX-style regular
expressions, restricted to the core every engine reads alike: query/patterns.py; a pattern
outside it is a 400 naming the operator). A workspace field takes `_eq` only. Several keys in
one object are ANDed. A dotted path is written nested (`{"issuer": {"name": {"_ilike": "%a%"}}}`)
or as one key (`{"issuer.name": ...}`); `_and`/`_or`/`_not` may appear inside a nested object
and apply to the fields below it. Empty forms follow boolean identities: `{}` and `_and: []`
match every row, `_or: []` and `_not: {}` match none. Operators are those the catalog allows on
the field's type (the text operators on text only, order comparisons not on booleans); `_like`
is SQL LIKE (`%`, `_`), `_ilike` its case-insensitive form. A timestamp compared with a plain
date means midnight UTC of that day, as a SQL cast would.
"""

from __future__ import annotations

from typing import Any

from tally.catalog.model import Column, Dataset
from tally.profiles.records_statistics.conditions import (
    Condition,
    all_of,
    any_of,
    negate,
    null_test,
)
from tally.profiles.records_statistics.errors import Problems
from tally.profiles.records_statistics.fields import WORKSPACE_FIELDS, children, kind_of, lookup
from tally.profiles.records_statistics.similar import similar_to_regex
from tally.profiles.records_statistics.values import compare_leaf, leaf

COMPARE = {
    "_eq": "eq", "_neq": "neq", "_gt": "gt", "_gte": "gte", "_lt": "lt", "_lte": "lte",
    "_in": "in", "_nin": "nin",
}  # fmt: skip
# Hasura's text operators: (IR operator, case-insensitive, negated); `_similar` patterns are
# turned into regular expressions first.
TEXT = {
    "_like": ("like", False, False), "_nlike": ("like", False, True),
    "_ilike": ("like", True, False), "_nilike": ("like", True, True),
    "_similar": ("regex", False, False), "_nsimilar": ("regex", False, True),
    "_regex": ("regex", False, False), "_nregex": ("regex", False, True),
    "_iregex": ("regex", True, False), "_niregex": ("regex", True, True),
}  # fmt: skip
OPERATORS = (*COMPARE, *TEXT, "_is_null")
MAX_DEPTH = 10


def where_condition(dataset: Dataset, node: Any, problems: Problems) -> Condition:
    if node is None:
        return True
    return _expression(dataset, problems, node, ("whereClause",), "", 0)


def _expression(
    dataset: Dataset, problems: Problems, node: Any, path: tuple, prefix: str, depth: int
) -> Condition:
    """One object: its keys ANDed; `prefix` is the dotted path of the object it sits in."""
    if not isinstance(node, dict):
        problems.add("expected an object", *path)
        return True
    if depth > MAX_DEPTH:
        problems.add(f"nested deeper than {MAX_DEPTH} levels", *path)
        return True
    parts: list[Condition] = []
    for key, value in node.items():
        here = (*path, key)
        if key in ("_and", "_or"):
            if not isinstance(value, list):
                problems.add("expected an array of objects", *here)
                continue
            items = [
                _expression(dataset, problems, item, (*here, i), prefix, depth + 1)
                for i, item in enumerate(value)
            ]
            parts.append(all_of(items) if key == "_and" else any_of(items))
        elif key == "_not":
            parts.append(negate(_expression(dataset, problems, value, here, prefix, depth + 1)))
        elif key.startswith("_"):
            problems.add(f"{key!r} is not allowed here: use _and, _or, _not or a field", *here)
        elif not dataset.has_column(prefix + key) and children(dataset, prefix + key):
            parts.append(_expression(dataset, problems, value, here, f"{prefix}{key}.", depth + 1))
        else:
            parts.append(_field(dataset, problems, prefix + key, value, here))
    return all_of(parts)


def _field(dataset: Dataset, problems: Problems, name: str, ops: Any, path: tuple) -> Condition:
    column = lookup(dataset, name, problems, *path)
    if column is None:
        return True
    if not isinstance(ops, dict):
        problems.add(f"expected an object of operators ({', '.join(OPERATORS)})", *path)
        return True
    parts = []
    for op, value in ops.items():
        try:
            parts.append(_compare(dataset, column, op, value))
        except ValueError as exc:
            problems.add(str(exc), *path, op)
    return all_of(parts)


def _compare(dataset: Dataset, column: Column, op: str, value: Any) -> Condition:
    if op == "_is_null":
        if not isinstance(value, bool):
            raise ValueError("_is_null takes true or false")
        return null_test(column, value)
    if op not in COMPARE and op not in TEXT:
        raise ValueError(f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    allowed = allowed_operators(column)
    if op not in allowed:
        raise ValueError(
            f"{op} is not available on {column.name!r} ({kind_of(column)}); "
            f"use one of {', '.join(allowed)}"
        )
    if op in TEXT:
        ir_op, case_insensitive, negated = TEXT[op]
        if op.endswith("similar"):
            if not isinstance(value, str):
                raise ValueError("expected a string")
            value = similar_to_regex(value)
        test = leaf(dataset, column, ir_op, value, case_insensitive=case_insensitive)
        return negate(test) if negated else test
    return compare_leaf(dataset, column, COMPARE[op], value)


def allowed_operators(column: Column) -> tuple[str, ...]:
    """The operators of the field's type, by the catalog; a workspace field takes `_eq` only
    (it names the tenant, and the documented table allows nothing else on it)."""
    if column.name in WORKSPACE_FIELDS:
        return ("_eq",)
    ops = column.allowed_ops
    found = [name for name, ir in COMPARE.items() if ir in ops]
    found += [name for name, (ir, _, _) in TEXT.items() if ir in ops]
    return (*found, "_is_null")
