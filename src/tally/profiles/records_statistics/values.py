"""IR leaves built from request values, checked the way the compiler will read them.

A leaf is only built after `coerce_value` (the function the compiler binds parameters with)
accepted its value, so a request that passes translation never fails later in the IR validator
with a path the caller did not write.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

from tally.catalog.model import Column, ColumnType, Dataset
from tally.query.fields import resolve_field
from tally.query.model import Leaf
from tally.query.values import coerce_value

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP_VALUE = "a date YYYY-MM-DD or an ISO 8601 timestamp with a timezone"


def leaf(
    dataset: Dataset, column: Column, op: str, value: Any = None, case_insensitive: bool = False
) -> Leaf:
    """A checked leaf, or ValueError with a reason safe to show."""
    coerce_value(resolve_field(dataset, column.name), op, value)
    return Leaf(field=column.name, op=op, value=value, case_insensitive=case_insensitive)


def day_start(column: Column, value: Any) -> datetime | None:
    """Midnight UTC when a timestamp field is given a plain date, else None."""
    if column.type is not ColumnType.TIMESTAMP or not isinstance(value, str):
        return None
    if not DAY.match(value):
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date") from None


def compare_leaf(dataset: Dataset, column: Column, op: str, value: Any) -> Leaf:
    """A comparison leaf; a timestamp given a plain date compares with midnight UTC of it."""
    if isinstance(value, list):
        value = [_instant(column, v) for v in value]
    else:
        value = _instant(column, value)
    try:
        return leaf(dataset, column, op, value)
    except ValueError as exc:
        if column.type is ColumnType.TIMESTAMP and "timestamp" in str(exc):
            raise ValueError(f"expected {TIMESTAMP_VALUE}") from None
        raise


def _instant(column: Column, value: Any) -> Any:
    start = day_start(column, value)
    return start.isoformat() if start else value
