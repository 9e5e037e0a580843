"""Aggregated rows of the three queries -> the trace server's sparse list of buckets.

The engine has already aggregated every number; here rows of the totals, tag and rating queries
that share a (bucket, group) become one bucket object. Group values are rendered as strings (a
missing value as ""), so rows are keyed on the rendered values and anything landing on the same
key adds up. An unbucketed, ungrouped request needs no special case for "exactly one row": its
totals query is an ungrouped aggregate, which the engine always answers with one row (count 0).

Rows come in the order of Weave's production (ClickHouse) store: by bucket, then by the group
values, where `span_status_code` is an Enum8 and sorts by its number (UNSET, OK, ERROR), not by
name; other values sort as strings (ClickHouse compares bytes, which for UTF-8 is the order of
code points, Python's order). Production orders a bucketed answer by bucket alone, leaving rows of
one bucket in no set order (Weave's in-memory server keeps them in insertion order); Tally orders
them by group values as the unbucketed answer is ordered, so every answer is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tally.profiles.feedback_aggregate.models import FeedbackAggregateReq
from tally.profiles.feedback_aggregate.translate import RATINGS, TAGS, to_ms

Key = tuple[int | None, tuple[str, ...]]


@dataclass
class Bucket:
    total_count: int = 0
    scored_count: int = 0
    tag_counts: dict[str, int] = field(default_factory=dict)
    rating_counts: dict[str, int] = field(default_factory=dict)
    rating_sums: dict[str, float] = field(default_factory=dict)


# span_status_code's Enum8 numbers in Weave's ClickHouse schema (migration 033).
STATUS_ORDER = {"UNSET": 0, "OK": 1, "ERROR": 2}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _sort_key(name: str, value: str) -> tuple[int, str]:
    """Where a group value sorts: an enum value by its number, any other value as text."""
    if name == "span_status_code" and value in STATUS_ORDER:
        return STATUS_ORDER[value], ""
    return len(STATUS_ORDER), value


class Buckets:
    """The response rows being assembled, keyed by (bucket start ms, group values)."""

    def __init__(self, req: FeedbackAggregateReq) -> None:
        self.req = req
        self.rows: dict[Key, Bucket] = {}

    def _at(self, row: dict[str, Any]) -> Bucket:
        start_ms = to_ms(row["time"]) if "time" in row else None
        key = (start_ms, tuple(_text(row[name]) for name in self.req.groups))
        return self.rows.setdefault(key, Bucket())

    def add_totals(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            bucket = self._at(row)
            bucket.total_count += row["total_count"]
            bucket.scored_count += row["scored_count"]

    def add_tags(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            counts = self._at(row).tag_counts
            counts[row[TAGS]] = counts.get(row[TAGS], 0) + row["occurrences"]

    def add_ratings(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            bucket = self._at(row)
            name = row[RATINGS]
            bucket.rating_counts[name] = bucket.rating_counts.get(name, 0) + row["rating_count"]
            bucket.rating_sums[name] = bucket.rating_sums.get(name, 0.0) + row["rating_sum"]

    def body(self) -> dict[str, Any]:
        req = self.req

        def order(item: tuple[Key, Bucket]) -> tuple:
            (start_ms, values), _ = item
            return start_ms or 0, [_sort_key(n, v) for n, v in zip(req.groups, values, strict=True)]

        ordered = sorted(self.rows.items(), key=order)
        return {
            "after_ms": req.after_ms,
            "before_ms": req.before_ms,
            "time_bucket_seconds": req.time_bucket_seconds,
            "buckets": [
                {
                    "time_bucket_start_ms": start_ms,
                    "group": dict(zip(req.groups, values, strict=True)),
                    "total_count": bucket.total_count,
                    "scored_count": bucket.scored_count,
                    "tag_counts": dict(sorted(bucket.tag_counts.items())),
                    "rating_counts": dict(sorted(bucket.rating_counts.items())),
                    "rating_sums": dict(sorted(bucket.rating_sums.items())),
                }
                for (start_ms, values), bucket in ordered
            ],
        }
