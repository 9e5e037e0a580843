"""Constant folding of filter trees: `and` with a false child is false, `or` with a true child is
true, `not` flips a constant, and a constant child that decides nothing is dropped.

A tree without constants comes back as the very same object, so a query that never had one
keeps its exact shape (and therefore its cache key and its SQL).
"""

from __future__ import annotations

from tally.query.model import And, Const, Filter, Not, Or


def fold(node: Filter) -> Filter:
    """`node` as a single `Const`, or as an equivalent tree without any `Const` in it."""
    if isinstance(node, Not):
        inner = fold(node.not_)
        if isinstance(inner, Const):
            return Const(const=not inner.const)
        return node if inner is node.not_ else Not(not_=inner)
    if isinstance(node, (And, Or)):
        return _fold_junction(node)
    return node


def _fold_junction(node: And | Or) -> Filter:
    """An `and` is decided by a false child, an `or` by a true one; the other constant is the
    neutral element, dropped (and a junction left with no child is that neutral constant)."""
    deciding = isinstance(node, Or)
    children = node.or_ if isinstance(node, Or) else node.and_
    folded = [fold(child) for child in children]
    if any(isinstance(c, Const) and c.const is deciding for c in folded):
        return Const(const=deciding)
    kept = [c for c in folded if not isinstance(c, Const)]
    if not kept:
        return Const(const=not deciding)
    if len(kept) == len(children) and all(k is c for k, c in zip(kept, children, strict=True)):
        return node
    if len(kept) == 1:
        return kept[0]
    return Or(or_=kept) if deciding else And(and_=kept)


def fold_filter(node: Filter | None) -> Filter | None:
    """Fold `node`; a filter that holds for every row is no filter at all."""
    if node is None:
        return None
    folded = fold(node)
    if isinstance(folded, Const) and folded.const:
        return None
    return folded
