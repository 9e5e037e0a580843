"""Boolean algebra over IR filters with the constants TRUE and FALSE.

The records API can ask questions whose answer is known without reading a row: `is_null` on a
field the catalog declares non-nullable, an empty `_or`, `_not: {}`. The IR has no boolean
constant in a condition's tree here (and the catalog refuses `is_null` on such a field), so
conditions are simplified with `True`/`False` and only a condition that still depends on the
rows, or an overall FALSE, reaches the IR. FALSE becomes the IR's constant false, which the engine
still evaluates, so even "nothing matches" is answered with the same row shape as any other
query.
"""

from __future__ import annotations

from tally.catalog.model import Column
from tally.query.model import And, Const, Filter, Leaf, Not, Or

Condition = Filter | bool


def all_of(parts: list[Condition]) -> Condition:
    return _join(parts, And)


def any_of(parts: list[Condition]) -> Condition:
    return _join(parts, Or)


def _join(parts: list[Condition], node: type[And] | type[Or]) -> Condition:
    """AND or OR of `parts`: constants folded away, nested nodes of the same kind flattened."""
    absorbing = node is Or
    children: list[Filter] = []
    for part in parts:
        if isinstance(part, bool):
            if part is absorbing:
                return absorbing
            continue
        children.extend(_members(part) if isinstance(part, node) else [part])
    if not children:
        return not absorbing
    if len(children) == 1:
        return children[0]
    return And(and_=children) if node is And else Or(or_=children)


def _members(part: And | Or) -> list[Filter]:
    return part.and_ if isinstance(part, And) else part.or_


def negate(part: Condition) -> Condition:
    if isinstance(part, bool):
        return not part
    return part.not_ if isinstance(part, Not) else Not(not_=part)


def null_test(column: Column, is_null: bool) -> Condition:
    """`is_null` / `is_not_null`; on a non-nullable column the answer is a constant."""
    if not column.nullable:
        return not is_null
    return Leaf(field=column.name, op="is_null" if is_null else "not_null")


def to_filter(condition: Condition) -> Filter | None:
    """The IR filter for a condition: TRUE is no filter, FALSE the IR's constant false."""
    if condition is True:
        return None
    if condition is False:
        return Const(const=False)
    return condition
