"""Result -> the widget's JSON: `{"rows": [{key, value, secondary}], generated_at, cache_hit}`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tally.profiles.dashboards_aggregate.models import AggregateRequest
from tally.profiles.dashboards_aggregate.translate import (
    SECONDARY,
    TIME_GROUPS,
    VALUE,
    group_field,
)
from tally.result import Result

KEY_FORMATS = {"day": "%Y-%m-%d", "hour": "%Y-%m-%dT%H:00:00Z"}
ALL_KEY = "all"


def timestamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(row: dict[str, Any], group_by: str) -> str | None:
    if group_by in KEY_FORMATS:
        return row["time"].astimezone(UTC).strftime(KEY_FORMATS[group_by])
    field = group_field(group_by)
    if field is None:
        return ALL_KEY
    value = row.get(field)
    return None if value is None else str(value)


def render(result: Result, request: AggregateRequest) -> dict[str, Any]:
    """Time buckets came newest first (to keep the most recent); widgets read them oldest first."""
    rows = result.rows[::-1] if request.group_by in TIME_GROUPS else result.rows
    cache = result.meta["cache"]
    return {
        "rows": [
            {"key": _key(row, request.group_by), "value": row[VALUE], "secondary": row[SECONDARY]}
            for row in rows
        ],
        "generated_at": timestamp(cache["generated_at"]),
        "cache_hit": bool(cache["hit"]),
    }
