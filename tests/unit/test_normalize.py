"""Each step of the normalize pipeline (`tally.query.normalize`), one at a time, then all of them.

Every step is a pure Query -> Query function of a fixed `now`; each expectation here is worked
out by hand (windows as UTC instants written out or computed with zoneinfo), so a step that is
removed from the pipeline or computes something else fails its own tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tally.query.limits import Limits
from tally.query.model import CompareRange, Measure, Query, TimeGroup, TimeRange
from tally.query.normalize import (
    PIPELINE,
    concrete_interval,
    default_limit,
    explicit_compare,
    fold_constants,
    normalize,
    resolve_window,
    scope_lists,
    spell_out_measures,
    utc_bounds,
)

NOW = datetime(2026, 11, 22, 10, 30, 15, tzinfo=UTC)  # a Sunday
LIMITS = Limits(default_limit=37)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def q(**fields: Any) -> Query:
    return Query.model_validate({"dataset": "agent_events", **fields})


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz).astimezone(UTC)


def window(query: Query) -> tuple[datetime, datetime]:
    assert query.time is not None and query.time.start and query.time.end
    return query.time.start, query.time.end


def unchanged_except(before: Query, after: Query, *fields: str) -> None:
    """Everything but `fields` is what it was."""
    exclude = set(fields)
    assert before.model_dump(exclude=exclude) == after.model_dump(exclude=exclude)


def test_the_pipeline_runs_every_step_in_order() -> None:
    assert PIPELINE == (
        fold_constants,
        spell_out_measures,
        resolve_window,
        utc_bounds,
        concrete_interval,
        explicit_compare,
        default_limit,
        scope_lists,
    )


# --- spell_out_measures --------------------------------------------------------------------------


def test_every_measure_gets_its_label() -> None:
    query = q(
        measures=[
            {"op": "count"},
            {"op": "count", "field": "session_id"},
            {"op": "count_distinct", "field": "session_id"},
            {"op": "sum", "field": "amount", "as": "revenue"},
            {"op": "avg", "field": "metadata.discount"},
            {"op": "min", "field": "amount"},
            {"op": "percentile", "field": "duration_ms", "q": 0.975},
        ]
    )
    out = spell_out_measures(query, NOW, LIMITS)
    assert [m.as_ for m in out.measures] == [
        "count",
        "count_session_id",
        "count_distinct_session_id",
        "revenue",
        "avg_metadata.discount",
        "min_amount",
        "p97.5_duration_ms",
    ]
    assert [(m.op, m.field, m.q) for m in out.measures] == [
        (m.op, m.field, m.q) for m in query.measures
    ]
    unchanged_except(query, out, "measures")


@pytest.mark.parametrize(
    ("op", "q_value"), [("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)]
)
def test_shorthand_percentiles_are_spelled_out(op: str, q_value: float) -> None:
    query = q(measures=[{"op": op, "field": "duration_ms", "approx": True}])
    (measure,) = spell_out_measures(query, NOW, LIMITS).measures
    assert measure == Measure(
        op="percentile", field="duration_ms", q=q_value, as_=f"{op}_duration_ms", approx=True
    )


def test_a_shorthand_and_its_spelled_out_form_normalize_alike() -> None:
    short = q(measures=[{"op": "p99", "field": "amount"}])
    long = q(measures=[{"op": "percentile", "field": "amount", "q": 0.99}])
    assert spell_out_measures(short, NOW, LIMITS) == spell_out_measures(long, NOW, LIMITS)
    assert normalize(short, NOW, LIMITS).canonical() == normalize(long, NOW, LIMITS).canonical()


def test_a_measure_filter_is_kept() -> None:
    condition = {"field": "event_type", "op": "eq", "value": "purchase"}
    query = q(measures=[{"op": "sum", "field": "amount", "filter": condition}])
    (measure,) = spell_out_measures(query, NOW, LIMITS).measures
    assert measure.filter == query.measures[0].filter
    assert measure.as_ == "sum_amount"


def test_a_shorthand_percentile_keeps_its_filter_and_approx() -> None:
    condition = {"field": "event_type", "op": "eq", "value": "purchase"}
    query = q(measures=[{"op": "p95", "field": "amount", "filter": condition, "approx": True}])
    (measure,) = spell_out_measures(query, NOW, LIMITS).measures
    assert (measure.op, measure.q, measure.approx) == ("percentile", 0.95, True)
    assert measure.filter == query.measures[0].filter
    assert measure.as_ == "p95_amount"


# --- resolve_window ------------------------------------------------------------------------------


def test_an_absolute_window_or_none_is_left_alone() -> None:
    absolute = q(time={"start": "2026-11-01T00:00:00+01:00", "end": "2026-11-08T00:00:00+01:00"})
    assert resolve_window(absolute, NOW, LIMITS) == absolute
    assert resolve_window(q(), NOW, LIMITS) == q()


def test_last_without_a_bucket_ends_at_now_rounded_up_to_the_minute() -> None:
    out = resolve_window(q(time={"last": "7d"}), NOW, LIMITS)
    assert window(out) == (utc(2026, 11, 15, 10, 31), utc(2026, 11, 22, 10, 31))
    assert out.time is not None and out.time.last is None
    on_the_minute = utc(2026, 11, 22, 10, 30)
    out = resolve_window(q(time={"last": "90m"}), on_the_minute, LIMITS)
    assert window(out) == (utc(2026, 11, 22, 9), on_the_minute)


def test_last_with_a_bucket_ends_at_the_end_of_the_current_bucket() -> None:
    out = resolve_window(q(time={"last": "24h"}, group_by=[{"time": "1 hour"}]), NOW, LIMITS)
    assert window(out) == (utc(2026, 11, 21, 11), utc(2026, 11, 22, 11))
    # weeks end on the next Monday: NOW is Sunday 22 November
    out = resolve_window(q(time={"last": "4w"}, group_by=[{"time": "1 week"}]), NOW, LIMITS)
    assert window(out) == (utc(2026, 10, 26), utc(2026, 11, 23))
    out = resolve_window(q(time={"last": "30d"}, group_by=[{"time": "1 month"}]), NOW, LIMITS)
    assert window(out) == (utc(2026, 11, 1), utc(2026, 12, 1))


def test_last_with_an_origin_ends_on_the_origin_grid() -> None:
    group = {"time": "1 hour", "origin": "2026-01-01T00:15:00Z"}
    out = resolve_window(q(time={"last": "6h"}, group_by=[group]), NOW, LIMITS)
    assert window(out) == (utc(2026, 11, 22, 5, 15), utc(2026, 11, 22, 11, 15))


def test_last_with_auto_rounds_to_the_interval_auto_picks() -> None:
    # 7 days / ~50 buckets -> 3 hours; 10:30 rounds up to 12:00
    out = resolve_window(q(time={"last": "7d"}, group_by=[{"time": "auto"}]), NOW, LIMITS)
    assert window(out) == (utc(2026, 11, 15, 12), utc(2026, 11, 22, 12))


def test_last_in_days_counts_local_days_across_dst() -> None:
    """Paris falls back on 25 October 2026: seven local days back from midnight are 169 hours."""
    now = utc(2026, 10, 28, 10, 30)
    query = q(time={"last": "7d"}, timezone="Europe/Paris", group_by=[{"time": "1 day"}])
    start, end = window(resolve_window(query, now, LIMITS))
    assert (start, end) == (local(PARIS, 2026, 10, 22), local(PARIS, 2026, 10, 29))
    assert (start, end) == (utc(2026, 10, 21, 22), utc(2026, 10, 28, 23))
    assert end - start == timedelta(days=7, hours=1)


def test_last_in_days_without_a_bucket_keeps_the_local_time_of_day() -> None:
    """Paris springs forward on 29 March 2026: two local days back are 47 hours."""
    now = utc(2026, 3, 30, 10, 0, 30)
    start, end = window(
        resolve_window(q(time={"last": "2d"}, timezone="Europe/Paris"), now, LIMITS)
    )
    assert end == utc(2026, 3, 30, 10, 1)
    assert start == local(PARIS, 2026, 3, 28, 12, 1) == utc(2026, 3, 28, 11, 1)
    assert end - start == timedelta(hours=47)


def test_last_in_hours_is_absolute_time_across_dst() -> None:
    """Three hours back from 03:11 CET on the Paris fall-back night is 01:11 CEST, not 00:11."""
    now = utc(2026, 10, 25, 2, 10, 30)
    start, end = window(
        resolve_window(q(time={"last": "3h"}, timezone="Europe/Paris"), now, LIMITS)
    )
    assert (start, end) == (utc(2026, 10, 24, 23, 11), utc(2026, 10, 25, 2, 11))


def test_last_in_a_half_hour_zone_ends_at_local_midnight() -> None:
    query = q(time={"last": "2d"}, timezone="Asia/Kolkata", group_by=[{"time": "1 day"}])
    # 10:30Z is 16:00 IST on 22 November: the day ends at 23 November 00:00 IST = 18:30Z
    assert window(resolve_window(query, NOW, LIMITS)) == (
        utc(2026, 11, 20, 18, 30),
        utc(2026, 11, 22, 18, 30),
    )


# --- utc_bounds ----------------------------------------------------------------------------------


def test_bounds_become_utc() -> None:
    query = q(time={"start": "2026-11-01T00:00:00+01:00", "end": "2026-11-08T05:30:00+05:30"})
    out = utc_bounds(query, NOW, LIMITS)
    start, end = window(out)
    assert start.utcoffset() == end.utcoffset() == timedelta(0)
    assert out.canonical()["time"] == {
        "start": "2026-10-31T23:00:00Z",
        "end": "2026-11-08T00:00:00Z",
        "last": None,
    }
    unchanged_except(query, out, "time")
    assert utc_bounds(q(), NOW, LIMITS) == q()


def test_two_spellings_of_one_window_normalize_alike() -> None:
    paris = q(time={"start": "2026-11-01T00:00:00+01:00", "end": "2026-11-08T00:00:00+01:00"})
    zulu = q(time={"start": "2026-10-31T23:00:00Z", "end": "2026-11-07T23:00:00Z"})
    assert paris.canonical() != zulu.canonical()
    assert utc_bounds(paris, NOW, LIMITS).canonical() == utc_bounds(zulu, NOW, LIMITS).canonical()
    assert normalize(paris, NOW, LIMITS).canonical() == normalize(zulu, NOW, LIMITS).canonical()


# --- concrete_interval ---------------------------------------------------------------------------

WEEK = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}


@pytest.mark.parametrize(
    ("spelled", "canonical"),
    [("2 hours", "2 hour"), ("1day", "1 day"), ("15 minutes", "15 minute"),
     ("1 months", "1 month"), ("1 week", "1 week")],
)  # fmt: skip
def test_an_interval_gets_one_spelling(spelled: str, canonical: str) -> None:
    query = q(time=WEEK, group_by=["event_type", {"time": spelled}, "agent_id"])
    out = concrete_interval(query, NOW, LIMITS)
    assert out.group_by == ["event_type", TimeGroup(time=canonical), "agent_id"]
    unchanged_except(query, out, "group_by")


@pytest.mark.parametrize(
    ("span", "interval"),
    [
        (timedelta(hours=1), "1 minute"),  # 60 buckets
        (timedelta(days=1), "30 minute"),  # 48 buckets
        (timedelta(days=7), "3 hour"),  # 56 buckets
        (timedelta(days=365), "1 week"),  # 52 buckets
    ],
)
def test_auto_becomes_about_fifty_buckets_of_the_window(span: timedelta, interval: str) -> None:
    start = utc(2026, 1, 1)
    query = Query(
        dataset="agent_events",
        time=TimeRange(start=start, end=start + span),
        group_by=[TimeGroup(time="auto")],
    )
    (group,) = concrete_interval(query, NOW, LIMITS).group_by
    assert group == TimeGroup(time=interval)


def test_the_origin_is_kept() -> None:
    origin = "2026-01-01T00:15:00Z"
    query = q(time=WEEK, group_by=[{"time": "60 minutes", "origin": origin}])
    (group,) = concrete_interval(query, NOW, LIMITS).group_by
    assert group == TimeGroup(time="60 minute", origin=utc(2026, 1, 1, 0, 15))


def test_no_time_group_or_no_window_is_left_alone() -> None:
    plain = q(time=WEEK, group_by=["event_type"])
    assert concrete_interval(plain, NOW, LIMITS) == plain
    unbounded = q(group_by=[{"time": "2 hours"}])
    assert concrete_interval(unbounded, NOW, LIMITS) == unbounded


# --- explicit_compare ----------------------------------------------------------------------------


def compared(query: Query, now: datetime = NOW) -> tuple[datetime, datetime]:
    out = explicit_compare(query, now, LIMITS)
    assert isinstance(out.compare, CompareRange)
    unchanged_except(query, out, "compare")
    return out.compare.start, out.compare.end


def test_previous_period_of_a_past_window() -> None:
    query = q(time=WEEK, compare="previous_period")
    assert compared(query) == (utc(2026, 10, 25), utc(2026, 11, 1))


def test_previous_period_of_a_partial_window_is_like_for_like() -> None:
    # [16 Nov, 23 Nov) at NOW = 22 Nov 10:30:15: 6 days 10 h 31 min have passed
    query = q(
        time={"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"},
        compare="previous_period",
    )
    assert compared(query) == (utc(2026, 11, 9), utc(2026, 11, 15, 10, 31))


def test_previous_period_counts_local_days_across_dst() -> None:
    """The local week before 26 Oct - 2 Nov (CET) starts on 19 October CEST: 169 hours long."""
    start, end = local(PARIS, 2026, 10, 26), local(PARIS, 2026, 11, 2)
    query = Query(
        dataset="agent_events",
        time=TimeRange(start=start, end=end),
        timezone="Europe/Paris",
        compare="previous_period",
    )
    prev_start, prev_end = compared(query)
    assert (prev_start, prev_end) == (utc(2026, 10, 18, 22), utc(2026, 10, 25, 23))
    assert (prev_start, prev_end) == (local(PARIS, 2026, 10, 19), local(PARIS, 2026, 10, 26))


def test_previous_year() -> None:
    query = q(
        time={"start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"},
        compare="previous_year",
    )
    assert compared(query) == (utc(2025, 3, 1), utc(2025, 4, 1))


def test_previous_year_of_a_leap_day_and_a_partial_window() -> None:
    now = datetime(2028, 3, 15, 8, 0, tzinfo=UTC)
    query = q(
        time={"start": "2028-02-29T00:00:00Z", "end": "2028-04-01T00:00:00Z"},
        compare="previous_year",
    )
    assert compared(query, now) == (utc(2027, 2, 28), utc(2027, 3, 15, 8))


def test_previous_year_in_new_york_keeps_local_midnight() -> None:
    start, end = local(NEW_YORK, 2026, 6, 1), local(NEW_YORK, 2026, 7, 1)
    query = Query(
        dataset="agent_events",
        time=TimeRange(start=start, end=end),
        timezone="America/New_York",
        compare="previous_year",
    )
    assert compared(query) == (local(NEW_YORK, 2025, 6, 1), local(NEW_YORK, 2025, 7, 1))


def test_a_window_in_the_future_compares_with_an_empty_range() -> None:
    query = q(
        time={"start": "2026-12-01T00:00:00Z", "end": "2026-12-08T00:00:00Z"},
        compare="previous_period",
    )
    assert compared(query) == (utc(2026, 11, 24), utc(2026, 11, 24) + timedelta(microseconds=1))


def test_an_explicit_range_or_no_compare_is_left_alone() -> None:
    explicit = q(
        time=WEEK, compare={"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}
    )
    assert explicit_compare(explicit, NOW, LIMITS) == explicit
    assert explicit_compare(q(time=WEEK), NOW, LIMITS) == q(time=WEEK)
    unbounded = q(compare="previous_period")
    assert explicit_compare(unbounded, NOW, LIMITS) == unbounded


# --- default_limit and scope_lists ---------------------------------------------------------------


def test_default_limit() -> None:
    assert default_limit(q(), NOW, LIMITS).limit == 37
    assert default_limit(q(), NOW, Limits()).limit == Limits().default_limit
    assert default_limit(q(limit=5), NOW, LIMITS).limit == 5
    unchanged_except(q(), default_limit(q(), NOW, LIMITS), "limit")


def test_scope_values_become_sorted_lists_under_sorted_keys() -> None:
    query = q(scope={"workspace_id": "ws_b", "brand_id": ["br_2", "br_1", "br_2"]})
    out = scope_lists(query, NOW, LIMITS)
    assert out.scope == {"brand_id": ["br_1", "br_2"], "workspace_id": ["ws_b"]}
    assert out.scope is not None and list(out.scope) == ["brand_id", "workspace_id"]
    unchanged_except(query, out, "scope")
    assert scope_lists(q(), NOW, LIMITS).scope is None


def test_two_spellings_of_one_scope_normalize_alike() -> None:
    one = q(scope={"workspace_id": "ws_a", "brand_id": ["br_2", "br_1"]})
    other = q(scope={"brand_id": ["br_1", "br_2", "br_1"], "workspace_id": ["ws_a"]})
    assert one.canonical() != other.canonical()
    assert normalize(one, NOW, LIMITS).canonical() == normalize(other, NOW, LIMITS).canonical()


# --- all of them ---------------------------------------------------------------------------------


def test_normalize_applies_every_step() -> None:
    query = q(
        time={"last": "7d"},
        timezone="Europe/Paris",
        measures=[{"op": "count"}, {"op": "p95", "field": "duration_ms"}],
        group_by=["event_type", {"time": "1 days"}],
        compare="previous_period",
        scope={"workspace_id": "ws_a"},
    )
    out = normalize(query, NOW, LIMITS).canonical()
    # 10:30Z on Sunday 22 November is 11:30 CET: the day ends at midnight CET = 23:00Z
    assert out["time"] == {
        "start": "2026-11-15T23:00:00Z",
        "end": "2026-11-22T23:00:00Z",
        "last": None,
    }
    assert out["measures"] == [
        {"op": "count", "field": None, "q": None, "as": "count", "approx": False, "filter": None},
        {"op": "percentile", "field": "duration_ms", "q": 0.95, "as": "p95_duration_ms",
         "approx": False, "filter": None},
    ]  # fmt: skip
    assert out["group_by"] == ["event_type", {"time": "1 day", "origin": None}]
    # the week before, of the same partial length: 6 days 11 h 31 min of local time
    assert out["compare"] == {"start": "2026-11-08T23:00:00Z", "end": "2026-11-15T10:31:00Z"}
    assert out["limit"] == 37
    assert out["scope"] == {"workspace_id": ["ws_a"]}


def test_normalize_is_idempotent_and_pure() -> None:
    query = q(
        time={"last": "30d"},
        group_by=[{"time": "auto"}],
        compare="previous_year",
        measures=[{"op": "p50", "field": "amount"}],
        scope={"workspace_id": "ws_a"},
    )
    before = query.model_dump()
    once = normalize(query, NOW, LIMITS)
    assert query.model_dump() == before
    assert normalize(once, NOW + timedelta(days=3), LIMITS) == once
