"""The total order of result rows, shared by the SQL compiler and the Python fill step.

The user's order_by comes first; then time ascending, the `__other__` row last, the first
measure descending for ungrouped-by-time queries, and every group key ascending, so the same
query returns the same sequence on every engine. Nulls always sort last.
"""

from __future__ import annotations

from typing import Any

from tally.query.model import Query, field_groups, time_group

TIME_KEY = "time"
OTHER_KEY = "__other__"


def order_keys(query: Query) -> list[tuple[str, bool]]:
    """(name, descending) pairs; names are measure labels, group fields, `time` or `__other__`."""
    keys: list[tuple[str, bool]] = []
    seen: set[str] = set()
    has_time = time_group(query) is not None

    def add(name: str, desc: bool) -> None:
        if name not in seen:
            seen.add(name)
            keys.append((name, desc))

    for order in query.order_by:
        add(order.field, order.dir == "desc")
    if has_time:
        add(TIME_KEY, False)
    if query.top is not None:
        add(OTHER_KEY, False)
    if not query.order_by and not has_time:
        add(query.measures[0].as_ or "count", True)
    for group in field_groups(query):
        add(group, False)
    return keys


def sort_rows(rows: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Stable multi-key sort with nulls last for ascending and descending keys alike."""
    out = list(rows)
    for name, desc in reversed(keys):
        present = [r for r in out if r.get(name) is not None]
        missing = [r for r in out if r.get(name) is None]
        present.sort(key=lambda r, n=name: r[n], reverse=desc)
        out = present + missing
    return out
