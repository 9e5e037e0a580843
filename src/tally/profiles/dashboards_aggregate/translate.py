"""A widget's question as one IR query on `agent_events`.

`value` is the asked aggregation and `secondary` the group's event count. Time groupings ask
the engine for the most recent `limit` buckets (time descending, then the renderer reverses
them); every other grouping is ordered by value descending, then key ascending, nulls last.

"Now" is rounded up to the next whole minute, so the window is
`[end - N days, end)` with `end = ceil_minute(now)`: every request within the same minute asks
the same question and hits the cache, and an event stamped now is always inside the window.
The window is not widened to whole buckets: the oldest day or hour bucket may be partial.
A sum or average over a group with no value to aggregate is null (SQL semantics), not 0.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tally.profiles.dashboards_aggregate.models import AggregateRequest, Target
from tally.query.model import GroupItem, Leaf, Measure, OrderBy, Query, TimeGroup, TimeRange
from tally.query.timebuckets import ceil_to_minute

DATASET = "agent_events"
VALUE = "value"
SECONDARY = "secondary"
TIME_GROUPS = {"day": "1 day", "hour": "1 hour"}
FIELD_GROUPS = {"event_type": "event_type", "session": "session_id", "product_id": "product_id"}


def group_field(group_by: str) -> str | None:
    """The dataset field a non-time grouping reads (`metadata.<key>` is its own field)."""
    if group_by == "none" or group_by in TIME_GROUPS:
        return None
    return FIELD_GROUPS.get(group_by, group_by)


def window(now: datetime, days: int) -> TimeRange:
    end = ceil_to_minute(now)
    return TimeRange(start=end - timedelta(days=days), end=end)


def to_query(request: AggregateRequest, target: Target, now: datetime) -> Query:
    """The tenant goes into `scope`, so the service narrows the principal's scope with it."""
    field = group_field(request.group_by)
    groups: list[GroupItem] = []
    order: list[OrderBy] = []
    if request.group_by in TIME_GROUPS:
        groups = [TimeGroup(time=TIME_GROUPS[request.group_by])]
        order = [OrderBy(field="time", dir="desc")]
    elif field is not None:
        groups = [field]
        order = [OrderBy(field=VALUE, dir="desc"), OrderBy(field=field, dir="asc")]
    types = request.event_type_set
    return Query(
        dataset=DATASET,
        time=window(now, request.time_window_days),
        filter=Leaf(field="event_type", op="in", value=types) if types else None,
        measures=[
            Measure(op=request.operation, field=request.measured_field, as_=VALUE),
            Measure(op="count", as_=SECONDARY),
        ],
        group_by=groups,
        order_by=order,
        limit=request.row_limit,
        scope=target.scope(),
    )
