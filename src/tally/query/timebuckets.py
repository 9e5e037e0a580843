"""Bucket arithmetic in Python, mirroring what every SQL dialect computes.

Sub-day buckets (second, minute, hour) are fixed lengths of absolute time counted from an origin
(the Unix epoch unless the query gives one). Day, week and month buckets are calendar buckets in
the query's timezone: they start at local midnight, so a day across a DST change lasts 23 or 25
hours. Weeks start on Monday. Fill and compare need the exact bucket starts of a window; they
come from here, and the dialects are tested to agree with it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIXED_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
UNIT_SECONDS = {**FIXED_SECONDS, "day": 86_400, "week": 604_800, "month": 2_629_746}
EPOCH_DATE = date(1970, 1, 1)
EPOCH_MONDAY = date(1970, 1, 5)
_INTERVAL = re.compile(r"^([1-9][0-9]{0,9}) ?(second|minute|hour|day|week|month)s?$")
AUTO_LADDER = (
    (1, "second"), (5, "second"), (10, "second"), (15, "second"), (30, "second"),
    (1, "minute"), (5, "minute"), (10, "minute"), (15, "minute"), (30, "minute"),
    (1, "hour"), (2, "hour"), (3, "hour"), (6, "hour"), (12, "hour"),
    (1, "day"), (1, "week"), (1, "month"), (3, "month"), (12, "month"),
)  # fmt: skip
AUTO_TARGET = 50


@dataclass(frozen=True)
class Interval:
    count: int
    unit: str

    @property
    def fixed(self) -> bool:
        return self.unit in FIXED_SECONDS

    @property
    def approx_seconds(self) -> int:
        return self.count * UNIT_SECONDS[self.unit]

    @property
    def fixed_seconds(self) -> int:
        return self.count * FIXED_SECONDS[self.unit]

    def __str__(self) -> str:
        return f"{self.count} {self.unit}"


def parse_interval(text: str) -> Interval:
    match = _INTERVAL.match(text.strip())
    if not match:
        raise ValueError(f"invalid interval {text!r}")
    return Interval(int(match.group(1)), match.group(2))


def auto_interval(span: timedelta) -> Interval:
    """The ladder step whose bucket count is closest to ~50 (on a log scale)."""
    seconds = max(span.total_seconds(), 1)

    def distance(step: tuple[int, str]) -> float:
        return abs(math.log(seconds / (step[0] * UNIT_SECONDS[step[1]]) / AUTO_TARGET))

    count, unit = min(AUTO_LADDER, key=distance)
    return Interval(count, unit)


LAST_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def relative_span(last: str) -> timedelta:
    """`30d` -> 30 days; the pattern was checked by the model."""
    return timedelta(**{LAST_UNITS[last[-1]]: int(last[:-1])})


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _month_index(day: date) -> int:
    return (day.year - 1970) * 12 + day.month - 1


def bucket_start(
    instant: datetime, iv: Interval, tz: ZoneInfo, origin: datetime | None = None
) -> datetime:
    """The start (UTC) of the bucket holding `instant`."""
    if iv.fixed:
        base = origin.timestamp() if origin else 0
        size = iv.fixed_seconds
        start = base + math.floor((instant.timestamp() - base) / size) * size
        return datetime.fromtimestamp(start, UTC)
    local_day = instant.astimezone(tz).date()
    if iv.unit == "month":
        base = _month_index(origin.astimezone(tz).date()) if origin else 0
        index = base + math.floor((_month_index(local_day) - base) / iv.count) * iv.count
        return _local_midnight(date(1970 + index // 12, index % 12 + 1, 1), tz)
    days = iv.count * (7 if iv.unit == "week" else 1)
    default_base = EPOCH_MONDAY if iv.unit == "week" else EPOCH_DATE
    base_day = origin.astimezone(tz).date() if origin else default_base
    offset = math.floor((local_day - base_day).days / days) * days
    return _local_midnight(base_day + timedelta(days=offset), tz)


def next_bucket(start: datetime, iv: Interval, tz: ZoneInfo) -> datetime:
    if iv.fixed:
        return start + timedelta(seconds=iv.fixed_seconds)
    local_day = start.astimezone(tz).date()
    if iv.unit == "month":
        index = _month_index(local_day) + iv.count
        return _local_midnight(date(1970 + index // 12, index % 12 + 1, 1), tz)
    days = iv.count * (7 if iv.unit == "week" else 1)
    return _local_midnight(local_day + timedelta(days=days), tz)


def bucket_sequence(
    start: datetime, end: datetime, iv: Interval, tz: ZoneInfo, origin: datetime | None = None
) -> list[datetime]:
    """Every bucket start whose bucket overlaps [start, end)."""
    out = []
    current = bucket_start(start, iv, tz, origin)
    while current < end:
        out.append(current)
        current = next_bucket(current, iv, tz)
    return out


def estimate_buckets(start: datetime, end: datetime, iv: Interval) -> int:
    return math.ceil((end - start).total_seconds() / iv.approx_seconds) + 1


def ceil_to_bucket(
    instant: datetime, iv: Interval, tz: ZoneInfo, origin: datetime | None = None
) -> datetime:
    start = bucket_start(instant, iv, tz, origin)
    return start if start == instant else next_bucket(start, iv, tz)


def ceil_to_minute(instant: datetime) -> datetime:
    floored = instant.replace(second=0, microsecond=0)
    return floored if floored == instant else floored + timedelta(minutes=1)


def shift_local(instant: datetime, tz: ZoneInfo, delta: timedelta) -> datetime:
    """Move by wall-clock time in `tz`, so a day back from local midnight is local midnight."""
    local = instant.astimezone(tz).replace(tzinfo=None) + delta
    return local.replace(tzinfo=tz).astimezone(UTC)


def shift_year(instant: datetime, tz: ZoneInfo, years: int) -> datetime:
    local = instant.astimezone(tz).replace(tzinfo=None)
    try:
        moved = local.replace(year=local.year + years)
    except ValueError:
        moved = local.replace(year=local.year + years, day=28)
    return moved.replace(tzinfo=tz).astimezone(UTC)


def wall_span(start: datetime, end: datetime, tz: ZoneInfo) -> timedelta:
    return end.astimezone(tz).replace(tzinfo=None) - start.astimezone(tz).replace(tzinfo=None)
