"""`is_null` and `not_null` on a column that never holds null are known without reading a row:
false and true. Settled here as constants (which normalize folds away), so a generic client that
offers the null tests on every column gets an answer, and the engine never evaluates them."""

from __future__ import annotations

from tally.catalog.model import Dataset
from tally.catalog.vocabulary import NULL_OPS, FilterOp
from tally.query.fields import resolve_field
from tally.query.model import And, Const, Filter, Leaf, Not, Or, Query, walk_leaves


def _never_null(dataset: Dataset, field: str) -> bool:
    ref = resolve_field(dataset, field)
    return ref.kind == "column" and not ref.column.nullable


def _settle(node: Filter, dataset: Dataset) -> Filter:
    if isinstance(node, Leaf):
        if node.op in NULL_OPS and _never_null(dataset, node.field):
            return Const(const=node.op == FilterOp.NOT_NULL)
        return node
    if isinstance(node, And):
        return And(and_=[_settle(child, dataset) for child in node.and_])
    if isinstance(node, Or):
        return Or(or_=[_settle(child, dataset) for child in node.or_])
    if isinstance(node, Not):
        return Not(not_=_settle(node.not_, dataset))
    return node


def settle_null_tests(query: Query, dataset: Dataset) -> Query:
    """The query with every null test on a never-null column replaced by its constant (the
    filter and each measure's filter); a validated query is assumed. Every answer passes here,
    cache hits included, so a query without such a test is returned as it is, not rebuilt."""
    filters = [query.filter, *(m.filter for m in query.measures)]
    if not any(
        leaf.op in NULL_OPS and _never_null(dataset, leaf.field)
        for node in filters
        for leaf, _ in walk_leaves(node)
    ):
        return query
    measures = [
        m if m.filter is None else m.model_copy(update={"filter": _settle(m.filter, dataset)})
        for m in query.measures
    ]
    settled = None if query.filter is None else _settle(query.filter, dataset)
    return query.model_copy(update={"filter": settled, "measures": measures})
