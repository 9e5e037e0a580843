"""DuckDB: the embedded default engine's spelling of the dialect operations.

Time buckets are the shared calendar code (`calendar.py`) over DuckDB's date functions, except
days and weeks in UTC: those have one fixed length, so epoch arithmetic counts them, which was
measured several times faster than the calendar functions.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlglot import exp

from tally.catalog.model import ColumnType
from tally.catalog.vocabulary import FilterOp, MeasureOp
from tally.query.timebuckets import EPOCH_DATE, Interval
from tally.sql.calendar import CalendarDialect, day_grid, local_date
from tally.sql.dialect import fn, lit

DAY_MS = 86_400_000
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"})


def _cast(value: exp.Expression, to: str) -> exp.Expression:
    return exp.Cast(this=value, to=exp.DataType.build(to))


class DuckDBDialect(CalendarDialect):
    name = "duckdb"
    approximates = frozenset({MeasureOp.COUNT_DISTINCT, MeasureOp.PERCENTILE})
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
    renames = {
        FilterOp.CONTAINS: "contains",
        FilterOp.STARTS_WITH: "starts_with",
        FilterOp.ENDS_WITH: "suffix",
        FilterOp.HAS_ANY: "list_has_any",
        FilterOp.HAS_ALL: "list_has_all",
    }

    def json_path_text(self, column: exp.Expression, keys: tuple[str, ...]) -> exp.Expression:
        return fn("json_extract_string", column, lit("$" + "".join(f'."{k}"' for k in keys)))

    def map_value(self, column: exp.Expression, key: str) -> exp.Expression:
        return exp.Bracket(this=column, expressions=[lit(key)])

    def date_to_instant(self, value: exp.Expression, tz: str) -> exp.Expression:
        return fn("timezone", lit(tz), _cast(value, "TIMESTAMP"))

    def bucket_ms(
        self, ts: exp.Expression, iv: Interval, tz: str, origin: datetime | None
    ) -> exp.Expression:
        if iv.fixed or iv.unit == "month" or tz not in UTC_ZONES:
            return super().bucket_ms(ts, iv, tz, origin)
        days, base_day = day_grid(iv, local_date(origin, tz))
        return self._fixed_buckets(ts, days * DAY_MS, (base_day - EPOCH_DATE).days * DAY_MS)

    def _epoch_ms(self, ts: exp.Expression) -> exp.Expression:
        """Floored milliseconds: DuckDB's `epoch_ms` rounds, which put an instant in the last
        half millisecond of a bucket into the next one."""
        return fn("floor", exp.Div(this=fn("epoch_us", ts), expression=lit(1000)))

    def _period_start(self, unit: str, ts: exp.Expression, tz: str) -> exp.Expression:
        return fn("date_trunc", lit(unit), fn("timezone", lit(tz), ts))

    def _local_day(self, ts: exp.Expression, tz: str) -> exp.Expression:
        return _cast(fn("timezone", lit(tz), ts), "DATE")

    def _date(self, day: date) -> exp.Expression:
        return _cast(lit(day.isoformat()), "DATE")

    def _days_between(self, start: exp.Expression, end: exp.Expression) -> exp.Expression:
        return fn("date_diff", lit("day"), start, end)

    def _add_days(self, day: exp.Expression, days: exp.Expression) -> exp.Expression:
        return exp.Add(this=day, expression=_cast(days, "INTEGER"))

    def _year_month(self, day: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        return fn("year", day), fn("month", day.copy())

    def _month_start(self, index: exp.Expression) -> exp.Expression:
        return fn("date_add", self._date(EPOCH_DATE), fn("to_months", index))

    def _floor_div(self, value: exp.Expression, size: int) -> exp.Expression:
        """`/` divides exactly in DuckDB (integer division is `//`, which truncates)."""
        return fn("floor", exp.Div(this=value, expression=lit(size)))

    def _integer(self, value: exp.Expression) -> exp.Expression:
        return _cast(value, "BIGINT")

    def _instant_ms(self, local: exp.Expression, tz: str) -> exp.Expression:
        return fn("epoch_ms", fn("timezone", lit(tz), _cast(local, "TIMESTAMP")))

    def percentile(self, value: exp.Expression, q: float, approx: bool) -> exp.Expression:
        return fn("approx_quantile" if approx else "quantile_cont", value, lit(q))

    def count_distinct(self, value: exp.Expression, approx: bool) -> exp.Expression:
        if approx:
            return fn("approx_count_distinct", value)
        return super().count_distinct(value, approx)

    def regex(
        self, value: exp.Expression, pattern: exp.Expression, case_insensitive: bool
    ) -> exp.Expression:
        # `s`: `.` matches a newline too, as in PostgreSQL and ClickHouse.
        return fn("regexp_matches", value, pattern, lit("is" if case_insensitive else "s"))

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
