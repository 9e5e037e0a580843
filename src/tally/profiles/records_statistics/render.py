"""Result -> the response body: `{"data": [...], "meta": {...}}`.

Rows already carry the group paths as given and the aggregation aliases, in request order.
`meta` adds (decided) the cache facts and the number of groups before `limit`, so a dashboard can
tell a cached or a truncated answer; `currency` only when a money amount was aggregated, and
`warnings` only when there is something to say.
"""

from __future__ import annotations

from typing import Any

from tally.result import Result

MISSING = object()


def render(result: Result, currency: Any = MISSING, warnings: list[str] | None = None) -> dict:
    meta: dict[str, Any] = {}
    if currency is not MISSING:
        meta["currency"] = currency
    notes = [*result.meta.get("warnings", []), *(warnings or [])]
    if notes:
        meta["warnings"] = notes
    meta["total_groups"] = result.meta.get("total_groups", len(result.rows))
    cache = result.meta.get("cache")
    if cache is not None:
        meta["cache"] = cache
    return {"data": result.rows, "meta": meta}
