"""Time buckets written once from a handful of date primitives each engine spells its own way.

The arithmetic is that of `query/timebuckets.py`: fixed buckets count whole bucket lengths of
epoch milliseconds from the origin; calendar buckets count local days, weeks (from a Monday) or
months from the origin's local date, and the bucket starts at the local midnight of its first
day, converted back to an instant in the query's timezone. Floor division throughout, so dates
before the origin (or 1970) fall in the right bucket.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlglot import exp

from tally.query.timebuckets import EPOCH_DATE, EPOCH_MONDAY, Interval
from tally.sql.dialect import Dialect, lit


def _times(value: exp.Expression, factor: int) -> exp.Expression:
    return exp.Mul(this=value, expression=lit(factor))


def local_date(instant: datetime | None, tz: str) -> date | None:
    """The local date of a bucket origin in the query's timezone."""
    return instant.astimezone(ZoneInfo(tz)).date() if instant else None


def day_grid(iv: Interval, origin_day: date | None) -> tuple[int, date]:
    """A day or week interval as (length in days, a day on which a bucket starts): the origin's
    local date, else 1970-01-01 for days and the Monday before it for weeks."""
    days = iv.count * (7 if iv.unit == "week" else 1)
    return days, origin_day or (EPOCH_MONDAY if iv.unit == "week" else EPOCH_DATE)


class CalendarDialect(Dialect, abstract=True):
    """`bucket_ms` from the primitives below; a subclass spells each primitive."""

    def _epoch_ms(self, ts: exp.Expression) -> exp.Expression:
        """Milliseconds since the epoch (fractions allowed: the result is floored later)."""
        raise NotImplementedError

    def _period_start(self, unit: str, ts: exp.Expression, tz: str) -> exp.Expression:
        """The local date (or wall-clock time) starting the day, Monday week or month of ts."""
        raise NotImplementedError

    def _local_day(self, ts: exp.Expression, tz: str) -> exp.Expression:
        raise NotImplementedError

    def _date(self, day: date) -> exp.Expression:
        raise NotImplementedError

    def _days_between(self, start: exp.Expression, end: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def _add_days(self, day: exp.Expression, days: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def _year_month(self, day: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        raise NotImplementedError

    def _first_of_month(self, year: exp.Expression, month: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def _floor_div(self, value: exp.Expression, size: int) -> exp.Expression:
        raise NotImplementedError

    def _integer(self, value: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def _instant_ms(self, local: exp.Expression, tz: str) -> exp.Expression:
        """Epoch ms of a local date's midnight (or a local wall-clock time) in `tz`."""
        raise NotImplementedError

    def _floor_to(self, value: exp.Expression, size: int, base: int) -> exp.Expression:
        """base + floor((value - base) / size) * size."""
        shifted = exp.Paren(this=exp.Sub(this=value, expression=lit(base)))
        return exp.Add(this=_times(self._floor_div(shifted, size), size), expression=lit(base))

    def _fixed_buckets(self, ts: exp.Expression, size_ms: int, base_ms: int) -> exp.Expression:
        """Epoch arithmetic: the start in epoch ms of the `size_ms` bucket holding ts."""
        return self._integer(self._floor_to(self._epoch_ms(ts), size_ms, base_ms))

    def bucket_ms(
        self, ts: exp.Expression, iv: Interval, tz: str, origin: datetime | None
    ) -> exp.Expression:
        if iv.fixed:
            base = int(origin.timestamp() * 1000) if origin else 0
            return self._fixed_buckets(ts, iv.fixed_seconds * 1000, base)
        if iv.count == 1 and origin is None:
            return self._instant_ms(self._period_start(iv.unit, ts, tz), tz)
        local_day = self._local_day(ts, tz)
        origin_day = local_date(origin, tz)
        if iv.unit == "month":
            return self._month_bucket(local_day, iv.count, tz, origin_day)
        days, base_day = day_grid(iv, origin_day)
        index = self._days_between(self._date(base_day), local_day)
        offset = self._integer(self._floor_to(index, days, 0))
        return self._instant_ms(self._add_days(self._date(base_day), offset), tz)

    def _month_bucket(
        self, local_day: exp.Expression, count: int, tz: str, origin_day: date | None
    ) -> exp.Expression:
        year, month = self._year_month(local_day)
        months = exp.Add(
            this=_times(exp.Paren(this=exp.Sub(this=year, expression=lit(1970))), 12),
            expression=exp.Sub(this=month, expression=lit(1)),
        )
        base = (origin_day.year - 1970) * 12 + origin_day.month - 1 if origin_day else 0
        index = self._integer(self._floor_to(months, count, base))
        return self._instant_ms(self._month_start(index), tz)

    def _month_start(self, index: exp.Expression) -> exp.Expression:
        """The first day of the month `index` months after January 1970, from its year and month
        (an engine with a months-since-epoch function may spell it directly)."""
        years = self._integer(self._floor_div(index, 12))
        month_of_year = exp.Sub(this=index.copy(), expression=_times(years.copy(), 12))
        return self._first_of_month(
            exp.Add(this=lit(1970), expression=years),
            exp.Add(this=month_of_year, expression=lit(1)),
        )
