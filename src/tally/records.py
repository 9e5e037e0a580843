"""Result columns -> one dict per row, the shape every profile receives.

A large answer has thousands of rows, and making their dicts is most of what Tally adds to the
engine's time for it. `dict(zip(keys, values))` per row is about twice as slow as a dict display
(`{k0: v0, k1: v1}`), which CPython builds in one instruction, but a display needs its width
written out. So the builder for each width is generated once, like `dataclasses` generates
`__init__`: its text holds only names made here (`k0`, `v0`...), never a key or a value, which
travel as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

Builder = Callable[[Sequence[str], list[list[Any]]], list[dict[str, Any]]]


@cache
def _builder(width: int) -> Builder:
    keys = "".join(f"k{i}, " for i in range(width))
    values = "".join(f"v{i}, " for i in range(width))
    items = ", ".join(f"k{i}: v{i}" for i in range(width))
    source = (
        f"def build(names, columns):\n"
        f"    ({keys}) = names\n"
        f"    return [{{{items}}} for ({values}) in zip(*columns)]\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, {"zip": zip}, namespace)
    return namespace["build"]


def records(names: Sequence[str], columns: list[list[Any]], count: int) -> list[dict[str, Any]]:
    """`count` row dicts keyed by `names`, the i-th value of each column in the i-th row."""
    if not names:
        return [{} for _ in range(count)]
    return _builder(len(names))(names, columns)
