"""Result rows -> `{"data": {"dataPoints": [...]}}` with the API's keys.

Rows arrive already aggregated and ordered by the engine (time, then group values; a
distribution by total, then group values); rendering only renames keys and formats bucket edges.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tally.profiles.agent_metrics.translate import Plan
from tally.query.ordering import TIME_KEY
from tally.query.timebuckets import next_bucket
from tally.query.timebuckets import parse_interval as ir_interval
from tally.result import Result

UTC_ZONE = ZoneInfo("UTC")


def iso_millis(instant: datetime) -> str:
    """`2026-04-21T00:00:00.000Z`: the API's timestamp form, milliseconds and `Z`."""
    text = instant.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def render(plan: Plan, result: Result) -> dict[str, Any]:
    interval = ir_interval(plan.interval) if plan.interval is not None else None
    points = []
    for row in result.rows:
        point: dict[str, Any] = {}
        if interval is not None:
            start = row[TIME_KEY].astimezone(UTC)
            point["startTimestamp"] = iso_millis(start)
            point["endTimestamp"] = iso_millis(next_bucket(start, interval, UTC_ZONE))
        for key, name in plan.groups:
            point[key] = row[name]
        for key, label in plan.measures:
            point[key] = row[label]
        points.append(point)
    return {"data": {"dataPoints": points}}
