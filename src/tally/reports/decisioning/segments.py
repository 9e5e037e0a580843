"""Segments as filters: the customers of a segment's materialized view, as an IN condition.

The IR has no joins, so membership is fetched with one small query on `segment_members` and
passed on as `customer_id IN (...)`. That is bounded: a segment may have at most
MAX_FILTER_VALUES members (ten IN lists of the IR's maximum length); filtering by a larger one is
refused with a clear message rather than degraded. A segment that does not exist, or whose view
was never materialized (`materialized_at` is null), cannot filter anything: the report answers
with a warning instead of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.query.model import Filter, Leaf
from tally.reports.decisioning.context import (
    MAX_FILTER_VALUES,
    Context,
    TooManyValues,
    all_of,
    asc,
    count,
    eq,
    one_of,
)

CUSTOMER = "customer_id"


class SegmentUnavailable(Exception):
    """The asked segment is unknown or not materialized: the answer is a warning, not a 4xx."""

    def __init__(self, segment_id: str) -> None:
        self.segment_id = segment_id
        super().__init__(f"segment {segment_id} not found or not materialized")


@dataclass(frozen=True)
class Segment:
    id: str
    name: str


def members(ctx: Context, segment_id: str) -> Filter:
    """`customer_id IN (members)` of a materialized segment."""
    query = ctx.query(
        "segment_members",
        filter=eq("segment_id", segment_id),
        group_by=[CUSTOMER],
        order_by=[asc(CUSTOMER)],
        limit=MAX_FILTER_VALUES,
    )
    result = ctx.run(query)
    total = result.meta.get("total_rows", 0)
    if total > MAX_FILTER_VALUES:
        raise TooManyValues(f"segment {segment_id}", total)
    return one_of(CUSTOMER, [row[CUSTOMER] for row in result.rows])


def asked_segment(ctx: Context) -> Filter | None:
    """The membership condition of the request's segmentId, if any."""
    segment_id = ctx.ask.segment_id
    if segment_id is None:
        return None
    found = ctx.totals(
        "segments",
        [count("materialized", Leaf(field="materialized_at", op="not_null"))],
        filter=eq("id", segment_id),
    )
    if not found["materialized"]:
        raise SegmentUnavailable(segment_id)
    return members(ctx, segment_id)


def active_segments(ctx: Context) -> list[Segment]:
    """Active, materialized segments (the groups of groupBy=segment), by id."""
    where = [eq("status", "active"), Leaf(field="materialized_at", op="not_null")]
    if ctx.ask.segment_id is not None:
        where.append(eq("id", ctx.ask.segment_id))
    found = ctx.lookup("segments", ["name"], where=all_of(where))
    return [Segment(key, row["name"]) for key, row in found.items()]
