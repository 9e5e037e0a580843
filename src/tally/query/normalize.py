"""Pure Query -> Query steps that make a valid query explicit and canonical.

After normalization nothing in a query depends on "now" or on defaults: relative windows are
absolute bounds rounded to the bucket (or the minute), `auto` is a concrete interval, shorthand
percentiles are spelled out with their label, compare is an explicit range. Two requests that ask
the same question therefore normalize to the same JSON, which is what the cache key hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tally.catalog.vocabulary import MeasureOp
from tally.query.folding import fold_filter
from tally.query.limits import Limits
from tally.query.model import (
    SHORTHAND_QUANTILES,
    CompareRange,
    Query,
    TimeGroup,
    TimeRange,
    measure_label,
    time_group,
)
from tally.query.timebuckets import (
    auto_interval,
    ceil_to_bucket,
    ceil_to_minute,
    parse_interval,
    relative_span,
    shift_local,
    shift_year,
    wall_span,
)

Step = Callable[[Query, datetime, Limits], Query]


def fold_constants(query: Query, now: datetime, limits: Limits) -> Query:
    """Constant conditions fold into their parents; one that holds for every row is dropped
    (from the filter, the having and each measure's filter). A false filter stays: the engine
    still answers it, so "nothing matches" has the row shape of any other answer."""
    measures = [
        m if m.filter is None else m.model_copy(update={"filter": fold_filter(m.filter)})
        for m in query.measures
    ]
    update = {
        "filter": fold_filter(query.filter),
        "having": fold_filter(query.having),
        "measures": measures,
    }
    return query.model_copy(update=update)


def spell_out_measures(query: Query, now: datetime, limits: Limits) -> Query:
    measures = []
    for m in query.measures:
        label = measure_label(m)
        if m.op in SHORTHAND_QUANTILES:
            # A copy, not a new Measure: every other part (the measure's filter) stays.
            m = m.model_copy(update={"op": MeasureOp.PERCENTILE, "q": SHORTHAND_QUANTILES[m.op]})
        measures.append(m.model_copy(update={"as_": label}))
    return query.model_copy(update={"measures": measures})


def resolve_window(query: Query, now: datetime, limits: Limits) -> Query:
    """`last: 7d` becomes [end - 7 days, end) with end = now rounded up to the bucket or minute."""
    if query.time is None or query.time.last is None:
        return query
    tz = ZoneInfo(query.timezone)
    span = relative_span(query.time.last)
    group = time_group(query)
    if group is not None:
        iv = auto_interval(span) if group.time == "auto" else parse_interval(group.time)
        end = ceil_to_bucket(now, iv, tz, group.origin)
    else:
        end = ceil_to_minute(now)
    if query.time.last[-1] in "dw":
        start = shift_local(end, tz, -span)
    else:
        start = end - span
    return query.model_copy(update={"time": TimeRange(start=start, end=end)})


def concrete_interval(query: Query, now: datetime, limits: Limits) -> Query:
    group = time_group(query)
    if group is None or query.time is None:
        return query
    if group.time == "auto":
        iv = auto_interval(query.time.end - query.time.start)
    else:
        iv = parse_interval(group.time)
    fixed = TimeGroup(time=str(iv), origin=group.origin)
    group_by = [fixed if isinstance(g, TimeGroup) else g for g in query.group_by]
    return query.model_copy(update={"group_by": group_by})


def explicit_compare(query: Query, now: datetime, limits: Limits) -> Query:
    """Named comparisons become the previous range, like for like with a partial current window."""
    if query.compare is None or isinstance(query.compare, CompareRange) or query.time is None:
        return query
    tz = ZoneInfo(query.timezone)
    start, end = query.time.start, query.time.end
    effective_end = min(end, ceil_to_minute(now))
    if query.compare == "previous_year":
        prev_start, prev_end = shift_year(start, tz, -1), shift_year(effective_end, tz, -1)
    else:
        length = wall_span(start, end, tz)
        prev_start = shift_local(start, tz, -length)
        prev_end = shift_local(prev_start, tz, wall_span(start, effective_end, tz))
    prev_end = max(prev_end, prev_start + timedelta(microseconds=1))
    return query.model_copy(update={"compare": CompareRange(start=prev_start, end=prev_end)})


def utc_bounds(query: Query, now: datetime, limits: Limits) -> Query:
    if query.time is None:
        return query
    window = TimeRange(start=query.time.start.astimezone(UTC), end=query.time.end.astimezone(UTC))
    return query.model_copy(update={"time": window})


def default_limit(query: Query, now: datetime, limits: Limits) -> Query:
    if query.limit is not None:
        return query
    return query.model_copy(update={"limit": limits.default_limit})


def scope_lists(query: Query, now: datetime, limits: Limits) -> Query:
    if query.scope is None:
        return query
    scope = {
        k: sorted({v} if isinstance(v, str) else set(v)) for k, v in sorted(query.scope.items())
    }
    return query.model_copy(update={"scope": scope})


PIPELINE: tuple[Step, ...] = (
    fold_constants,
    spell_out_measures,
    resolve_window,
    utc_bounds,
    concrete_interval,
    explicit_compare,
    default_limit,
    scope_lists,
)


def normalize(query: Query, now: datetime, limits: Limits) -> Query:
    for step in PIPELINE:
        query = step(query, now, limits)
    return query
