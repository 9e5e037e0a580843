"""DuckDB: the embedded default engine's spelling of the dialect operations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlglot import exp

from tally.catalog.model import ColumnType
from tally.query.timebuckets import EPOCH_DATE, EPOCH_MONDAY, Interval
from tally.sql.dialect import Dialect, fn, lit

DAY_MS = 86_400_000
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"})


def _fixed_ms(ts: exp.Expression, size_ms: int, base_ms: int) -> exp.Expression:
    """Epoch arithmetic: several times faster than calendar functions, exact for fixed lengths
    (and for days and weeks in UTC, which have no DST)."""
    shifted = exp.Paren(this=exp.Sub(this=fn("epoch_ms", ts), expression=lit(base_ms)))
    floored = fn("floor", exp.Div(this=shifted, expression=lit(size_ms)))
    total = exp.Add(this=exp.Mul(this=floored, expression=lit(size_ms)), expression=lit(base_ms))
    return exp.Cast(this=total, to=exp.DataType.build("BIGINT"))


def _date(value: object) -> exp.Expression:
    return exp.Cast(this=lit(str(value)), to=exp.DataType.build("DATE"))


class DuckDBDialect(Dialect):
    name = "duckdb"
    sqlglot_name = "duckdb"
    column_types = {
        ColumnType.STRING: "VARCHAR",
        ColumnType.INT: "BIGINT",
        ColumnType.FLOAT: "DOUBLE",
        ColumnType.BOOL: "BOOLEAN",
        ColumnType.TIMESTAMP: "TIMESTAMPTZ",
        ColumnType.DATE: "DATE",
        ColumnType.STRING_ARRAY: "VARCHAR[]",
        ColumnType.JSON: "JSON",
        ColumnType.FLOAT_MAP: "MAP(VARCHAR, DOUBLE)",
    }

    def json_text(self, column: exp.Expression, key: str) -> exp.Expression:
        return fn("json_extract_string", column, lit(f'$."{key}"'))

    def map_value(self, column: exp.Expression, key: str) -> exp.Expression:
        return exp.Bracket(this=column, expressions=[lit(key)])

    def date_to_instant(self, value: exp.Expression, tz: str) -> exp.Expression:
        return fn("timezone", lit(tz), exp.Cast(this=value, to=exp.DataType.build("TIMESTAMP")))

    def _local(self, ts: exp.Expression, tz: str) -> exp.Expression:
        return fn("timezone", lit(tz), ts)

    def _instant_ms(self, local_day: exp.Expression, tz: str) -> exp.Expression:
        stamp = exp.Cast(this=local_day, to=exp.DataType.build("TIMESTAMP"))
        return fn("epoch_ms", fn("timezone", lit(tz), stamp))

    def bucket_ms(
        self, ts: exp.Expression, iv: Interval, tz: str, origin: datetime | None
    ) -> exp.Expression:
        if iv.fixed:
            base = int(origin.timestamp() * 1000) if origin else 0
            return _fixed_ms(ts, iv.fixed_seconds * 1000, base)
        days = iv.count * (7 if iv.unit == "week" else 1)
        base = (
            origin.astimezone(ZoneInfo(tz)).date()
            if origin
            else (EPOCH_MONDAY if iv.unit == "week" else EPOCH_DATE)
        )
        if tz in UTC_ZONES and iv.unit != "month":
            return _fixed_ms(ts, days * DAY_MS, (base - EPOCH_DATE).days * DAY_MS)
        local = self._local(ts, tz)
        if iv.count == 1 and origin is None:
            return self._instant_ms(fn("date_trunc", lit(iv.unit), local), tz)
        local_day = exp.Cast(this=local, to=exp.DataType.build("DATE"))
        if iv.unit == "month":
            return self._month_bucket(local_day, iv.count, tz, origin)
        index = fn("date_diff", lit("day"), _date(base), local_day)
        offset = exp.Mul(
            this=fn("floor", exp.Div(this=index, expression=lit(days))), expression=lit(days)
        )
        day = exp.Add(
            this=_date(base), expression=exp.Cast(this=offset, to=exp.DataType.build("INTEGER"))
        )
        return self._instant_ms(day, tz)

    def _month_bucket(
        self, local_day: exp.Expression, count: int, tz: str, origin: datetime | None
    ) -> exp.Expression:
        months = exp.Add(
            this=exp.Mul(
                this=exp.Paren(this=exp.Sub(this=fn("year", local_day), expression=lit(1970))),
                expression=lit(12),
            ),
            expression=exp.Sub(this=fn("month", local_day), expression=lit(1)),
        )
        base = 0
        if origin is not None:
            o = origin.astimezone(ZoneInfo(tz)).date()
            base = (o.year - 1970) * 12 + o.month - 1
        shifted = exp.Paren(this=exp.Sub(this=months, expression=lit(base)))
        index = exp.Add(
            this=exp.Mul(
                this=fn("floor", exp.Div(this=shifted, expression=lit(count))),
                expression=lit(count),
            ),
            expression=lit(base),
        )
        months_since_epoch = exp.Cast(this=index, to=exp.DataType.build("INTEGER"))
        first = fn("date_add", _date(EPOCH_DATE), fn("to_months", months_since_epoch))
        return self._instant_ms(first, tz)

    def percentile(self, value: exp.Expression, q: float, approx: bool) -> exp.Expression:
        return fn("approx_quantile" if approx else "quantile_cont", value, lit(q))

    def count_distinct(self, value: exp.Expression, approx: bool) -> exp.Expression:
        if approx:
            return fn("approx_count_distinct", value)
        return super().count_distinct(value, approx)

    def contains(self, value: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return fn("contains", value, needle)

    def starts_with(self, value: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return fn("starts_with", value, prefix)

    def ends_with(self, value: exp.Expression, suffix: exp.Expression) -> exp.Expression:
        return fn("suffix", value, suffix)

    def has_any(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        return fn("list_has_any", array, values)

    def has_all(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        return fn("list_has_all", array, values)

    def fan_out(self, array: exp.Expression) -> exp.Expression:
        non_empty = exp.GT(this=fn("len", array), expression=lit(0))
        null_list = exp.Array(
            expressions=[exp.Cast(this=exp.Null(), to=exp.DataType.build("VARCHAR"))]
        )
        return fn("unnest", exp.If(this=non_empty, true=array, false=null_list))

    def fan_out_map(self, column: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        non_empty = exp.GT(this=fn("cardinality", column), expression=lit(0))

        def listed(part: str, null_type: str) -> exp.Expression:
            nothing = exp.Array(
                expressions=[exp.Cast(this=exp.Null(), to=exp.DataType.build(null_type))]
            )
            return fn("unnest", exp.If(this=non_empty, true=fn(part, column), false=nothing))

        return listed("map_keys", "VARCHAR"), listed("map_values", "DOUBLE")

    def size(self, value: exp.Expression, is_map: bool) -> exp.Expression:
        return fn("cardinality" if is_map else "len", value)

    def derived(self, name: str, source: exp.Expression, index: int | None) -> exp.Expression:
        if name == "ref_object_id":
            last = fn("regexp_extract", source, lit("([^/:]*)(:[^/]*)?$"), lit(1))
            return exp.Coalesce(this=last, expressions=[lit("")])
        parts = fn("string_split", source, lit("/"))
        return fn("list_extract", parts, lit(index or -1))
