"""Bucket arithmetic (`tally.query.timebuckets`) against expectations written out by hand.

Every expected instant is either spelled out in UTC or computed here with zoneinfo and plain
date arithmetic (local midnight of a calendar date, Mondays counted from a known Monday), never
by calling the module under test. Sub-day buckets are fixed lengths from the epoch (or the
origin); day, week and month buckets start at local midnight, so they last 23 or 25 hours
across a DST change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tally.query.timebuckets import (
    Interval,
    auto_interval,
    bucket_sequence,
    bucket_start,
    ceil_to_bucket,
    ceil_to_minute,
    estimate_buckets,
    next_bucket,
    parse_interval,
    relative_span,
    shift_local,
    shift_year,
    wall_span,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30, no DST
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+05:45, no DST
SANTIAGO = ZoneInfo("America/Santiago")  # DST changes at local midnight
UTC_ZONE = ZoneInfo("UTC")
HOUR = timedelta(hours=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of `day` in `tz`, as a UTC instant (zoneinfo does the offset)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count", "unit"),
    [
        ("1 day", 1, "day"),
        ("1 days", 1, "day"),
        ("15minutes", 15, "minute"),
        ("  2 hours ", 2, "hour"),
        ("30 second", 30, "second"),
        ("3 months", 3, "month"),
        ("1 week", 1, "week"),
        ("9999999999 seconds", 9_999_999_999, "second"),
    ],
)
def test_parse_interval(text: str, count: int, unit: str) -> None:
    assert parse_interval(text) == Interval(count, unit)


@pytest.mark.parametrize(
    "text",
    ["", "day", "0 day", "01 day", "-1 day", "1.5 hour", "1 year", "1 Day", "1  day", "auto",
     "10000000000 seconds", "1 dayss"],
)  # fmt: skip
def test_parse_interval_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid interval"):
        parse_interval(text)


def test_interval_properties() -> None:
    assert str(Interval(2, "hour")) == "2 hour"
    assert Interval(2, "hour").fixed and Interval(90, "second").fixed
    assert not any(Interval(1, u).fixed for u in ("day", "week", "month"))
    assert Interval(15, "minute").fixed_seconds == 15 * 60
    assert Interval(2, "day").approx_seconds == 2 * 24 * 3600
    assert Interval(1, "week").approx_seconds == 7 * 24 * 3600
    # an average Gregorian month: 365.2425 days / 12
    assert Interval(1, "month").approx_seconds == round(365.2425 * 86_400 / 12)


@pytest.mark.parametrize(
    ("last", "span"),
    [
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(days=14)),
    ],
)
def test_relative_span(last: str, span: timedelta) -> None:
    assert relative_span(last) == span


# --- auto: the ladder step nearest 50 buckets (log scale) ---------------------------------------


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        # 0 s counts as 1 s: 1 second is the closest step
        (timedelta(0), Interval(1, "second")),
        # 1 h / 50 = 72 s: 1 minute (60 buckets) beats 5 minutes (12) and 30 s (120)
        (timedelta(hours=1), Interval(1, "minute")),
        # 1 d / 50 = 1728 s: 30 minutes (48 buckets)
        (timedelta(days=1), Interval(30, "minute")),
        # 7 d / 50 = 12096 s: 3 hours (56 buckets) beats 6 hours (28)
        (timedelta(days=7), Interval(3, "hour")),
        # 30 d / 50 = 14.4 h: 12 hours (60 buckets) beats 1 day (30)
        (timedelta(days=30), Interval(12, "hour")),
        # 100 d: 1 day (100 buckets) beats 1 week (14)
        (timedelta(days=100), Interval(1, "day")),
        # 365 d: 1 week (52 buckets) beats 1 day (365) and 1 month (12)
        (timedelta(days=365), Interval(1, "week")),
        # 10 years: 3 months (40 buckets) beats 12 months (10)
        (timedelta(days=3653), Interval(3, "month")),
    ],
)
def test_auto_interval(span: timedelta, expected: Interval) -> None:
    assert auto_interval(span) == expected


# --- fixed buckets: counted from the epoch or the origin, whatever the timezone ----------------


@pytest.mark.parametrize("tz", [UTC_ZONE, PARIS, KOLKATA, KATHMANDU])
def test_sub_day_buckets_are_absolute_time_from_the_epoch(tz: ZoneInfo) -> None:
    instant = utc(2026, 11, 22, 10, 38, 15)
    assert bucket_start(instant, parse_interval("1 hour"), tz) == utc(2026, 11, 22, 10)
    assert bucket_start(instant, parse_interval("15 minutes"), tz) == utc(2026, 11, 22, 10, 30)
    assert bucket_start(instant, parse_interval("10 seconds"), tz) == utc(2026, 11, 22, 10, 38, 10)
    # 7 hours from 1970-01-01T00:00Z: 2026-11-22T10:38Z is hour 500_554 since the epoch
    hours = (instant - utc(1970, 1, 1)) // HOUR
    expected = utc(1970, 1, 1) + HOUR * (hours - hours % 7)
    assert bucket_start(instant, parse_interval("7 hours"), tz) == expected


def test_an_hour_bucket_in_a_half_hour_zone_starts_at_half_past_local() -> None:
    start = bucket_start(utc(2026, 11, 22, 10, 38), parse_interval("1 hour"), KOLKATA)
    assert start.astimezone(KOLKATA).strftime("%H:%M%z") == "15:30+0530"
    start = bucket_start(utc(2026, 11, 22, 10, 38), parse_interval("1 hour"), KATHMANDU)
    assert start.astimezone(KATHMANDU).strftime("%H:%M%z") == "15:45+0545"


def test_an_origin_shifts_fixed_buckets() -> None:
    origin = utc(2026, 1, 1, 0, 7)
    iv = parse_interval("1 hour")
    assert bucket_start(utc(2026, 11, 22, 10, 38), iv, PARIS, origin) == utc(2026, 11, 22, 10, 7)
    assert bucket_start(utc(2026, 11, 22, 10, 5), iv, PARIS, origin) == utc(2026, 11, 22, 9, 7)
    # an instant before the origin floors backwards, it does not truncate toward the origin
    assert bucket_start(utc(2025, 12, 31, 23, 0), iv, PARIS, origin) == utc(2025, 12, 31, 22, 7)
    # a Kolkata-local origin (00:00 IST) gives hour buckets on local hours
    local_origin = datetime(2026, 1, 1, tzinfo=KOLKATA)
    start = bucket_start(utc(2026, 11, 22, 10, 38), iv, KOLKATA, local_origin)
    assert start == utc(2026, 11, 22, 10, 30)


def test_hour_buckets_across_the_new_york_fall_back_repeat_a_wall_hour() -> None:
    """2026-11-01: 02:00 EDT becomes 01:00 EST; four hours, two of them labelled 01:00."""
    starts = bucket_sequence(
        utc(2026, 11, 1, 4), utc(2026, 11, 1, 8), parse_interval("1 hour"), NEW_YORK
    )
    assert starts == [utc(2026, 11, 1, h) for h in (4, 5, 6, 7)]
    labels = [s.astimezone(NEW_YORK).isoformat() for s in starts]
    assert labels == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


def test_hour_buckets_across_the_new_york_spring_forward_skip_a_wall_hour() -> None:
    starts = bucket_sequence(
        utc(2026, 3, 8, 6), utc(2026, 3, 8, 9), parse_interval("1 hour"), NEW_YORK
    )
    labels = [s.astimezone(NEW_YORK).strftime("%H:%M%z") for s in starts]
    assert labels == ["01:00-0500", "03:00-0400", "04:00-0400"]


# --- day buckets: local midnights ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "first", "days", "utc_starts"),
    [
        # Paris springs forward on 2026-03-29: that day lasts 23 hours
        (PARIS, date(2026, 3, 28), 3,
         [utc(2026, 3, 27, 23), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]),
        # Paris falls back on 2026-10-25: that day lasts 25 hours
        (PARIS, date(2026, 10, 24), 3,
         [utc(2026, 10, 23, 22), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)]),
        # New York springs forward on 2026-03-08 and falls back on 2026-11-01
        (NEW_YORK, date(2026, 3, 7), 3,
         [utc(2026, 3, 7, 5), utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)]),
        (NEW_YORK, date(2026, 10, 31), 3,
         [utc(2026, 10, 31, 4), utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)]),
        # +05:30 and +05:45: local midnight is 18:30 and 18:15 UTC the day before
        (KOLKATA, date(2026, 11, 22), 2, [utc(2026, 11, 21, 18, 30), utc(2026, 11, 22, 18, 30)]),
        (KATHMANDU, date(2026, 11, 22), 2, [utc(2026, 11, 21, 18, 15), utc(2026, 11, 22, 18, 15)]),
        # Santiago springs forward at midnight on 2026-09-06: the day starts at 01:00 local
        (SANTIAGO, date(2026, 9, 5), 3,
         [utc(2026, 9, 5, 4), utc(2026, 9, 6, 4), utc(2026, 9, 7, 3)]),
        # and falls back at midnight on 2026-04-05: 2026-04-04 lasts 25 hours
        (SANTIAGO, date(2026, 4, 4), 2, [utc(2026, 4, 4, 3), utc(2026, 4, 5, 4)]),
    ],
)  # fmt: skip
def test_day_buckets_start_at_local_midnight(
    tz: ZoneInfo, first: date, days: int, utc_starts: list[datetime]
) -> None:
    expected = [midnight(first + timedelta(days=i), tz) for i in range(days)]
    assert expected == utc_starts, "the written-out instants agree with zoneinfo"
    end = midnight(first + timedelta(days=days), tz)
    iv = parse_interval("1 day")
    assert bucket_sequence(utc_starts[0], end, iv, tz) == utc_starts
    # the start of the window may be anywhere inside its first bucket
    assert bucket_sequence(utc_starts[0] + timedelta(hours=7), end, iv, tz) == utc_starts
    for start, following in zip(utc_starts, [*utc_starts[1:], end], strict=True):
        assert bucket_start(following - timedelta(microseconds=1), iv, tz) == start
        assert next_bucket(start, iv, tz) == following


def test_day_lengths_across_dst() -> None:
    iv = parse_interval("1 day")
    spring = midnight(date(2026, 3, 29), PARIS)
    autumn = midnight(date(2026, 10, 25), PARIS)
    assert next_bucket(spring, iv, PARIS) - spring == timedelta(hours=23)
    assert next_bucket(autumn, iv, PARIS) - autumn == timedelta(hours=25)
    ny_autumn = midnight(date(2026, 11, 1), NEW_YORK)
    assert next_bucket(ny_autumn, iv, NEW_YORK) - ny_autumn == timedelta(hours=25)


def test_the_day_of_an_instant_is_its_local_day() -> None:
    iv = parse_interval("1 day")
    # 20:00Z on the 22nd is 01:30 on the 23rd in Kolkata and 01:45 in Kathmandu
    late = utc(2026, 11, 22, 20)
    assert bucket_start(late, iv, KOLKATA) == utc(2026, 11, 22, 18, 30)
    assert bucket_start(late, iv, KATHMANDU) == utc(2026, 11, 22, 18, 15)
    assert bucket_start(late, iv, NEW_YORK) == utc(2026, 11, 22, 5)
    # exactly local midnight belongs to the day it starts
    assert bucket_start(utc(2026, 11, 22, 18, 15), iv, KATHMANDU) == utc(2026, 11, 22, 18, 15)
    assert bucket_start(utc(2026, 11, 22, 18, 14, 59), iv, KATHMANDU) == utc(2026, 11, 21, 18, 15)


def test_multi_day_buckets_count_from_1970_01_01() -> None:
    iv = parse_interval("3 days")
    day = date(2026, 11, 22)
    since = (day - date(1970, 1, 1)).days
    expected_day = date(1970, 1, 1) + timedelta(days=since - since % 3)
    start = bucket_start(datetime(2026, 11, 22, 12, tzinfo=PARIS), iv, PARIS)
    assert start == midnight(expected_day, PARIS)
    assert next_bucket(start, iv, PARIS) == midnight(expected_day + timedelta(days=3), PARIS)


def test_multi_day_buckets_count_from_the_origin_day() -> None:
    iv = parse_interval("10 days")
    origin = datetime(2026, 11, 1, 15, 0, tzinfo=NEW_YORK)  # the origin's time of day is ignored
    assert bucket_start(utc(2026, 11, 22, 12), iv, NEW_YORK, origin) == midnight(
        date(2026, 11, 21), NEW_YORK
    )
    assert bucket_start(utc(2026, 10, 31, 12), iv, NEW_YORK, origin) == midnight(
        date(2026, 10, 22), NEW_YORK
    )


# --- week buckets: Mondays, or the origin's weekday ----------------------------------------------


def _monday_on_or_before(day: date) -> date:
    return day - timedelta(days=day.weekday())


@pytest.mark.parametrize("tz", [UTC_ZONE, PARIS, NEW_YORK, KOLKATA, KATHMANDU])
@pytest.mark.parametrize(
    "instant", [utc(2026, 11, 22, 10), utc(2026, 11, 22, 20), utc(2026, 11, 23, 3), utc(2026, 1, 1)]
)
def test_weeks_start_on_local_monday(tz: ZoneInfo, instant: datetime) -> None:
    monday = _monday_on_or_before(instant.astimezone(tz).date())
    iv = parse_interval("1 week")
    start = bucket_start(instant, iv, tz)
    assert start == midnight(monday, tz)
    assert start.astimezone(tz).weekday() == 0
    assert next_bucket(start, iv, tz) == midnight(monday + timedelta(days=7), tz)


def test_a_week_across_the_paris_fall_back_lasts_169_hours() -> None:
    iv = parse_interval("1 week")
    starts = bucket_sequence(
        midnight(date(2026, 10, 12), PARIS), midnight(date(2026, 11, 2), PARIS), iv, PARIS
    )
    assert starts == [utc(2026, 10, 11, 22), utc(2026, 10, 18, 22), utc(2026, 10, 25, 23)]
    assert starts[2] - starts[1] == timedelta(hours=7 * 24 + 1)


def test_two_week_buckets_count_from_the_first_monday_after_the_epoch() -> None:
    iv = parse_interval("2 weeks")
    monday = _monday_on_or_before(date(2026, 11, 22))
    weeks = (monday - date(1970, 1, 5)).days // 7  # 1970-01-05 was a Monday
    first = monday - timedelta(days=7 * (weeks % 2))
    assert bucket_start(utc(2026, 11, 22, 12), iv, UTC_ZONE) == midnight(first, UTC_ZONE)


def test_an_origin_sets_the_weekday() -> None:
    origin = utc(2026, 1, 1)  # a Thursday
    assert origin.weekday() == 3
    start = bucket_start(utc(2026, 11, 22, 10), parse_interval("1 week"), UTC_ZONE, origin)
    assert start == utc(2026, 11, 19)
    assert start.weekday() == 3


# --- month buckets -------------------------------------------------------------------------------


def test_month_buckets_are_local_first_days() -> None:
    iv = parse_interval("1 month")
    start = midnight(date(2026, 1, 1), NEW_YORK)
    end = midnight(date(2027, 1, 1), NEW_YORK)
    expected = [midnight(date(2026, m, 1), NEW_YORK) for m in range(1, 13)]
    assert bucket_sequence(start, end, iv, NEW_YORK) == expected
    offsets = {s.astimezone(NEW_YORK).utcoffset() for s in expected}
    assert offsets == {timedelta(hours=-5), timedelta(hours=-4)}


def test_the_month_of_an_instant_is_its_local_month() -> None:
    iv = parse_interval("1 month")
    # 22:30Z on 31 March is 00:30 on 1 April in Paris (CEST)
    assert bucket_start(utc(2026, 3, 31, 22, 30), iv, PARIS) == utc(2026, 3, 31, 22)
    assert bucket_start(utc(2026, 3, 31, 21, 30), iv, PARIS) == utc(2026, 2, 28, 23)
    # 19:00Z on 31 December is 00:30 on 1 January in Kolkata
    assert bucket_start(utc(2026, 12, 31, 19), iv, KOLKATA) == utc(2026, 12, 31, 18, 30)
    assert next_bucket(utc(2026, 12, 31, 18, 30), iv, KOLKATA) == utc(2027, 1, 31, 18, 30)


def test_quarters_count_from_january_1970_or_the_origin_month() -> None:
    iv = parse_interval("3 months")
    assert bucket_start(utc(2026, 11, 22), iv, UTC_ZONE) == utc(2026, 10, 1)
    assert bucket_start(utc(2026, 3, 31, 23), iv, UTC_ZONE) == utc(2026, 1, 1)
    origin = utc(2026, 2, 15, 12)  # months Feb, May, Aug, Nov; the day of the month is ignored
    assert bucket_start(utc(2026, 11, 22), iv, UTC_ZONE, origin) == utc(2026, 11, 1)
    assert bucket_start(utc(2026, 10, 31), iv, UTC_ZONE, origin) == utc(2026, 8, 1)
    assert bucket_start(utc(2026, 1, 10), iv, UTC_ZONE, origin) == utc(2025, 11, 1)
    assert next_bucket(utc(2025, 11, 1), iv, UTC_ZONE) == utc(2026, 2, 1)


def test_twelve_month_buckets_are_calendar_years() -> None:
    iv = parse_interval("12 months")
    starts = bucket_sequence(utc(2024, 6, 1), utc(2026, 6, 1), iv, PARIS)
    assert starts == [midnight(date(y, 1, 1), PARIS) for y in (2024, 2025, 2026)]


# --- sequences, rounding, shifting ---------------------------------------------------------------


def test_a_sequence_holds_every_bucket_overlapping_the_window() -> None:
    iv = parse_interval("1 hour")
    # [10:30, 13:00): the 10:00 bucket overlaps the start; 13:00 starts at the end, excluded
    starts = bucket_sequence(utc(2026, 11, 22, 10, 30), utc(2026, 11, 22, 13), iv, UTC_ZONE)
    assert starts == [utc(2026, 11, 22, h) for h in (10, 11, 12)]
    # one microsecond past 13:00 and the 13:00 bucket overlaps
    end = utc(2026, 11, 22, 13) + timedelta(microseconds=1)
    assert bucket_sequence(utc(2026, 11, 22, 10, 30), end, iv, UTC_ZONE)[-1] == utc(
        2026, 11, 22, 13
    )
    assert bucket_sequence(utc(2026, 11, 22, 10), utc(2026, 11, 22, 10), iv, UTC_ZONE) == []


def test_estimate_buckets() -> None:
    start = utc(2026, 11, 1)
    assert estimate_buckets(start, start + timedelta(hours=24), parse_interval("1 hour")) == 25
    assert estimate_buckets(start, start + timedelta(minutes=90), parse_interval("1 hour")) == 3
    assert estimate_buckets(start, start + timedelta(days=7), parse_interval("1 week")) == 2


def test_ceil_to_bucket() -> None:
    hour = parse_interval("1 hour")
    assert ceil_to_bucket(utc(2026, 11, 22, 10, 0, 1), hour, UTC_ZONE) == utc(2026, 11, 22, 11)
    assert ceil_to_bucket(utc(2026, 11, 22, 10), hour, UTC_ZONE) == utc(2026, 11, 22, 10)
    day = parse_interval("1 day")
    assert ceil_to_bucket(utc(2026, 3, 29, 12), day, PARIS) == midnight(date(2026, 3, 30), PARIS)
    on_midnight = midnight(date(2026, 3, 29), PARIS)
    assert ceil_to_bucket(on_midnight, day, PARIS) == on_midnight
    origin = utc(2026, 1, 1, 0, 15)
    assert ceil_to_bucket(utc(2026, 11, 22, 10, 30), hour, UTC_ZONE, origin) == utc(
        2026, 11, 22, 11, 15
    )


def test_ceil_to_minute() -> None:
    assert ceil_to_minute(utc(2026, 11, 22, 10, 30, 15)) == utc(2026, 11, 22, 10, 31)
    assert ceil_to_minute(utc(2026, 11, 22, 10, 30)) == utc(2026, 11, 22, 10, 30)
    tiny = utc(2026, 11, 22, 23, 59) + timedelta(microseconds=1)
    assert ceil_to_minute(tiny) == utc(2026, 11, 23)


def test_shift_local_moves_by_wall_clock_time() -> None:
    # a day back from local midnight after the Paris fall back is local midnight: 25 hours
    after = midnight(date(2026, 10, 26), PARIS)
    assert shift_local(after, PARIS, timedelta(days=-1)) == midnight(date(2026, 10, 25), PARIS)
    assert after - shift_local(after, PARIS, timedelta(days=-1)) == timedelta(hours=25)
    # a week forward across the New York spring forward: 167 hours
    before = midnight(date(2026, 3, 5), NEW_YORK)
    moved = shift_local(before, NEW_YORK, timedelta(days=7))
    assert moved == midnight(date(2026, 3, 12), NEW_YORK)
    assert moved - before == timedelta(hours=167)
    # no DST in Kathmandu: wall time is absolute time
    k = utc(2026, 11, 22, 18, 15)
    assert shift_local(k, KATHMANDU, timedelta(days=-3)) == k - timedelta(days=3)
    assert shift_local(k, KATHMANDU, timedelta(days=-3)).tzinfo == UTC


def test_shift_year() -> None:
    assert shift_year(utc(2026, 3, 1), UTC_ZONE, -1) == utc(2025, 3, 1)
    # 29 February has no twin a year away: the 28th
    assert shift_year(utc(2028, 2, 29, 10), UTC_ZONE, -1) == utc(2027, 2, 28, 10)
    # local midnight stays local midnight although the offset differs (summer vs winter time)
    june = midnight(date(2026, 6, 1), PARIS)
    assert shift_year(june, PARIS, -1) == midnight(date(2025, 6, 1), PARIS)


def test_wall_span() -> None:
    start, end = midnight(date(2026, 10, 25), PARIS), midnight(date(2026, 10, 26), PARIS)
    assert end - start == timedelta(hours=25)
    assert wall_span(start, end, PARIS) == timedelta(days=1)
    start, end = midnight(date(2026, 3, 8), NEW_YORK), midnight(date(2026, 3, 9), NEW_YORK)
    assert wall_span(start, end, NEW_YORK) == timedelta(days=1)
    assert wall_span(utc(2026, 1, 1), utc(2026, 1, 2, 6), KOLKATA) == timedelta(hours=30)
