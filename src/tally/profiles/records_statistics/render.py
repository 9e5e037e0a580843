"""Result -> the response body: `{"data": [...], "meta": {...}}`, exactly as the API documents it.

Rows already carry the group paths as given and the aggregation aliases, in request order.
`meta` holds `currency` only when a money amount was aggregated, and (decided) `warnings` only
when there is something to say; the cache facts travel in the response headers instead
(`X-Cache`, `Age`). An aggregation of an integer or a money column whose value is whole is
written without a fraction (`48250`, as the documented example shows, not `48250.0`).
"""

from __future__ import annotations

from typing import Any

from tally.catalog.model import ColumnType, Dataset
from tally.query.model import Query
from tally.result import Result

MISSING = object()


def whole_valued(query: Query, dataset: Dataset) -> set[str]:
    """The aggregation aliases over integer columns and money amounts."""
    found = set()
    for measure in query.measures:
        if measure.field is None or not dataset.has_column(measure.field):
            continue
        column = dataset.column(measure.field)
        if column.type is ColumnType.INT or column.currency_column is not None:
            found.add(measure.as_ or "")
    return found


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def render(
    result: Result,
    whole: set[str],
    currency: Any = MISSING,
    warnings: list[str] | None = None,
) -> dict:
    rows = [
        {key: _whole(value) if key in whole else value for key, value in row.items()}
        for row in result.rows
    ]
    meta: dict[str, Any] = {}
    if currency is not MISSING:
        meta["currency"] = currency
    notes = [*result.meta.get("warnings", []), *(warnings or [])]
    if notes:
        meta["warnings"] = notes
    return {"data": rows, "meta": meta}
