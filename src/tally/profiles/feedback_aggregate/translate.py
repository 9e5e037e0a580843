"""A feedback aggregate request as IR queries over the `feedback` dataset.

One response needs three aggregates per (bucket, group): the row totals, the tag occurrences
(a fan-out over `scorer_tags`) and the rating sums and counts (a fan-out over the `ratings`
map). The IR fans out one array or map per query, so each is its own query; they share the same
window, filter, scope and grouping, which lets the renderer merge them by (bucket, group).

Filters follow Weave's production (ClickHouse) store. Its `span_agent_name` column is a String
defaulting to `""`, so a span without an agent name has the name `""`, and `span_agent_names:
[""]` matches it; Tally stores that name as null, so `""` matches null as well as `""`. (Weave's
in-memory test server compares the raw value and would match no such row; Tally follows
production.) Repeated items are dropped and a prefix already covered by a shorter listed prefix
is dropped, which changes no answer and keeps the conditions few.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tally.profiles.feedback_aggregate.models import FeedbackAggregateReq
from tally.query.model import And, Filter, Leaf, Measure, Or, Query, TimeGroup, TimeRange

DATASET = "feedback"
RATING_KEY = "ratings._rating_"
TAGS = "scorer_tags"
RATINGS = "ratings"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Queries:
    totals: Query
    tags: Query
    ratings: Query


# 9999-12-31T23:59:59.999Z: the last millisecond a timestamp (and Python) can hold. Weave puts no
# upper bound on after_ms and before_ms (clients send `Number.MAX_SAFE_INTEGER` for "until
# forever"); a bound past this instant selects the same rows as this instant does.
LAST_MS = 253_402_300_799_999
# The IR spells a bucket in at most ten digits of seconds. Weave takes any size; a larger bucket
# (over 317 years) starts every instant before 2286-11-20 at the epoch, as this one does.
MAX_BUCKET_S = 9_999_999_999
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def to_time(ms: int) -> datetime:
    """The instant of `ms`; past the last millisecond, the last instant Python can hold."""
    return END_OF_TIME if ms > LAST_MS else EPOCH + timedelta(milliseconds=ms)


def to_ms(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(milliseconds=1)


def _any(leaves: list[Filter]) -> Filter:
    return leaves[0] if len(leaves) == 1 else Or(or_=leaves)


def _all(parts: list[Filter]) -> Filter | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(and_=parts)


def distinct(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def prefixes(items: list[str]) -> list[str]:
    """The prefixes an item list means (a trailing `*` stripped), without those a shorter listed
    prefix already covers."""
    kept: list[str] = []
    for prefix in sorted(distinct([item.rstrip("*") for item in items]), key=len):
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return kept


def _object_ids(field: str, items: list[str]) -> Filter:
    """Exact ids in one IN; an item ending in `*` is a prefix of the id."""
    exact = distinct([item for item in items if not item.endswith("*")])
    leaves: list[Filter] = [Leaf(field=field, op="in", value=exact)] if exact else []
    starred = [item for item in items if item.endswith("*")]
    leaves += [Leaf(field=field, op="starts_with", value=p) for p in prefixes(starred)]
    return _any(leaves)


def _agent_names(names: list[str]) -> Filter:
    """Exact names; `""` also means a span without an agent name (stored as null)."""
    listed = Leaf(field="span_agent_name", op="in", value=distinct(names))
    if "" not in names:
        return listed
    return Or(or_=[listed, Leaf(field="span_agent_name", op="is_null")])


def request_filter(req: FeedbackAggregateReq) -> list[Filter]:
    """One condition per filter family given; families AND, the items of a family OR."""
    parts: list[Filter] = []
    if req.feedback_types:
        parts.append(
            _any(
                [
                    Leaf(field="feedback_type", op="starts_with", value=prefix)
                    for prefix in prefixes(req.feedback_types)
                ]
            )
        )
    if req.tags:
        parts.append(Leaf(field=TAGS, op="has_any", value=distinct(req.tags)))
    if req.rating_min is not None:
        parts.append(Leaf(field=RATING_KEY, op="gte", value=req.rating_min))
    if req.rating_max is not None:
        parts.append(Leaf(field=RATING_KEY, op="lte", value=req.rating_max))
    if req.monitor_ids:
        parts.append(_object_ids("monitor_id", req.monitor_ids))
    if req.scorer_ids:
        parts.append(_object_ids("scorer_id", req.scorer_ids))
    if req.span_agent_names:
        parts.append(_agent_names(req.span_agent_names))
    if req.span_types:
        parts.append(Leaf(field="span_type", op="in", value=distinct(req.span_types)))
    return parts


def _window(req: FeedbackAggregateReq, max_days: int) -> tuple[TimeRange | None, list[Filter]]:
    """The window as the query's time range, or as conditions on created_at when it is longer
    than the IR allows a range to be (an all-time total starting at after_ms = 0)."""
    start, end = to_time(min(req.after_ms, LAST_MS)), to_time(req.before_ms)
    if end - start <= timedelta(days=max_days):
        return TimeRange(start=start, end=end), []
    return None, [
        Leaf(field="created_at", op="gte", value=start.isoformat()),
        Leaf(field="created_at", op="lt", value=end.isoformat()),
    ]


def queries(req: FeedbackAggregateReq, max_days: int, limit: int) -> Queries:
    """The three queries of a request, each returning at most `limit` rows per page."""
    time, bounds = _window(req, max_days)
    conditions = [*bounds, *request_filter(req)]
    seconds = req.time_bucket_seconds
    bucket = [TimeGroup(time=f"{min(seconds, MAX_BUCKET_S)} second")] if seconds else []

    def query(measures: list[Measure], fan_out: str | None = None) -> Query:
        extra = [Leaf(field=fan_out, op="not_empty")] if fan_out else []
        return Query(
            dataset=DATASET,
            time=time,
            filter=_all([*conditions, *extra]),
            measures=measures,
            group_by=[*req.groups, *([fan_out] if fan_out else []), *bucket],
            scope={"project_id": req.project_id},
            limit=limit,
        )

    scored = Or(or_=[Leaf(field=TAGS, op="not_empty"), Leaf(field=RATINGS, op="not_empty")])
    return Queries(
        totals=query(
            [
                Measure(op="count", as_="total_count"),
                Measure(op="count", as_="scored_count", filter=scored),
            ]
        ),
        tags=query([Measure(op="count", as_="occurrences")], TAGS),
        ratings=query(
            [
                Measure(op="sum", field=RATINGS, as_="rating_sum"),
                Measure(op="count", as_="rating_count"),
            ],
            RATINGS,
        ),
    )
