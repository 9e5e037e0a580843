"""PostgreSQL: the spelling of the dialect operations on the engine the seeds' products use.

Storage: JSON metadata is JSONB (read with `->>`), string arrays are `text[]` (tested with `&&`
and `@>`), and float maps are JSONB objects of numbers (fanned out key by key). Calendar buckets
shift a `timestamptz` to local wall time with `AT TIME ZONE`, truncate there and shift back, so
a day across a DST change lasts 23 or 25 hours exactly as in `query/timebuckets.py`.
"""

from __future__ import annotations

from datetime import date

from sqlglot import exp

from tally.catalog.model import ColumnType
from tally.catalog.vocabulary import FilterOp
from tally.sql.calendar import CalendarDialect
from tally.sql.dialect import fn, lit

# A number as JSON or as DuckDB's TRY_CAST reads it; anything else becomes NULL, not an error.
NUMBER_PATTERN = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


def _cast(value: exp.Expression, to: str) -> exp.Expression:
    return exp.Cast(this=value, to=exp.DataType.build(to, dialect="postgres"))


def _json_key(key: str) -> exp.JSONPath:
    return exp.JSONPath(expressions=[exp.JSONPathRoot(), exp.JSONPathKey(this=key)])


class PostgresDialect(CalendarDialect):
    name = "postgres"
    sqlglot_name = "postgres"
    decimal_type = "NUMERIC({precision}, {scale})"
    column_types = {
        ColumnType.STRING: "TEXT",
        ColumnType.INT: "BIGINT",
        ColumnType.FLOAT: "DOUBLE PRECISION",
        ColumnType.BOOL: "BOOLEAN",
        ColumnType.TIMESTAMP: "TIMESTAMPTZ",
        ColumnType.DATE: "DATE",
        ColumnType.STRING_ARRAY: "TEXT[]",
        ColumnType.JSON: "JSONB",
        ColumnType.FLOAT_MAP: "JSONB",
    }
    renames = {FilterOp.STARTS_WITH: "starts_with"}

    def render(self, tree: exp.Expression) -> str:
        """Postgres LIKE has `\\` as escape character; DuckDB's has none, so switch it off."""

        def no_escape(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Like) and not isinstance(node.parent, exp.Escape):
                return exp.Escape(this=node.copy(), expression=lit(""))
            return node

        return tree.transform(no_escape).sql(dialect=self.sqlglot_name)

    def json_path_text(self, column: exp.Expression, keys: tuple[str, ...]) -> exp.Expression:
        """`column -> 'a' -> 'b' ->> 'c'`: objects down the path, text at its end."""
        for key in keys[:-1]:
            column = exp.JSONExtract(this=column, expression=_json_key(key), only_json_types=True)
        extract = exp.JSONExtractScalar(
            this=column, expression=_json_key(keys[-1]), only_json_types=True
        )
        return exp.Paren(this=extract)

    def text_as_json(self, column: exp.Expression) -> exp.Expression:
        """`CAST(column AS JSONB)`: `->>` takes no text. A value that is not JSON fails the
        query (PostgreSQL has no safe cast without a function): text JSON must be valid."""
        return _cast(column, "JSONB")

    def map_value(self, column: exp.Expression, key: str) -> exp.Expression:
        return _cast(self.json_text(column, key), "DOUBLE PRECISION")

    def to_double(self, value: exp.Expression) -> exp.Expression:
        numeric = exp.RegexpLike(this=value, expression=lit(NUMBER_PATTERN))
        return exp.Case(ifs=[exp.If(this=numeric, true=_cast(value, "DOUBLE PRECISION"))])

    def date_to_instant(self, value: exp.Expression, tz: str) -> exp.Expression:
        return exp.AtTimeZone(this=_cast(value, "TIMESTAMP"), zone=lit(tz))

    def _epoch_ms(self, ts: exp.Expression) -> exp.Expression:
        seconds = exp.Extract(this=exp.var("EPOCH"), expression=ts)
        return exp.Mul(this=seconds, expression=lit(1000))

    def _period_start(self, unit: str, ts: exp.Expression, tz: str) -> exp.Expression:
        return fn("date_trunc", lit(unit), exp.AtTimeZone(this=ts, zone=lit(tz)))

    def _local_day(self, ts: exp.Expression, tz: str) -> exp.Expression:
        return _cast(exp.AtTimeZone(this=ts, zone=lit(tz)), "DATE")

    def _date(self, day: date) -> exp.Expression:
        return _cast(lit(day.isoformat()), "DATE")

    def _days_between(self, start: exp.Expression, end: exp.Expression) -> exp.Expression:
        return exp.Paren(this=exp.Sub(this=end, expression=start))

    def _add_days(self, day: exp.Expression, days: exp.Expression) -> exp.Expression:
        return exp.Add(this=day, expression=_cast(days, "INTEGER"))

    def _year_month(self, day: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        year = exp.Extract(this=exp.var("YEAR"), expression=day)
        return year, exp.Extract(this=exp.var("MONTH"), expression=day.copy())

    def _first_of_month(self, year: exp.Expression, month: exp.Expression) -> exp.Expression:
        return fn("make_date", _cast(year, "INTEGER"), _cast(month, "INTEGER"), lit(1))

    def _floor_div(self, value: exp.Expression, size: int) -> exp.Expression:
        """Exact numeric division (integer `/` would truncate toward zero)."""
        divided = exp.Div(this=_cast(value, "NUMERIC"), expression=lit(size), typed=True)
        return fn("floor", divided)

    def _integer(self, value: exp.Expression) -> exp.Expression:
        return _cast(value, "BIGINT")

    def _instant_ms(self, local: exp.Expression, tz: str) -> exp.Expression:
        """`date_part` (a double) rather than `EXTRACT` (NUMERIC since PostgreSQL 14, which
        doubled the time of a daily count): a period's start is a whole second in every zone
        of the tz database, which a double holds exactly."""
        instant = exp.AtTimeZone(this=_cast(local, "TIMESTAMP"), zone=lit(tz))
        seconds = fn("date_part", lit("epoch"), instant)
        return self._integer(fn("floor", exp.Mul(this=seconds, expression=lit(1000))))

    def percentile(self, value: exp.Expression, q: float, approx: bool) -> exp.Expression:
        """Exact even when `approx` is asked: PostgreSQL has no approximate percentile."""
        order = exp.Order(expressions=[exp.Ordered(this=value)])
        return exp.WithinGroup(this=exp.PercentileCont(this=lit(q)), expression=order)

    def count_distinct(self, value: exp.Expression, approx: bool) -> exp.Expression:
        """Exact even when `approx` is asked: PostgreSQL has no built-in sketch."""
        return super().count_distinct(value, False)

    def regex(
        self, value: exp.Expression, pattern: exp.Expression, case_insensitive: bool
    ) -> exp.Expression:
        kind = exp.RegexpILike if case_insensitive else exp.RegexpLike
        return kind(this=value, expression=pattern)

    def contains(self, value: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return exp.GT(this=fn("strpos", value, needle), expression=lit(0))

    def ends_with(self, value: exp.Expression, suffix: exp.Expression) -> exp.Expression:
        tail = fn("right", value, fn("length", suffix))
        return exp.EQ(this=tail, expression=suffix.copy())

    def has_any(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        return exp.ArrayOverlaps(this=array, expression=_cast(values, "TEXT[]"))

    def has_all(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        return exp.ArrayContainsAll(this=array, expression=_cast(values, "TEXT[]"))

    def fan_out(self, array: exp.Expression) -> exp.Expression:
        non_empty = exp.GT(this=fn("cardinality", array), expression=lit(0))
        nothing = exp.Array(expressions=[_cast(exp.Null(), "TEXT")])
        return fn("unnest", exp.If(this=non_empty, true=array.copy(), false=nothing))

    def fan_out_map(self, column: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        """Keys and values as two arrays in key order, unnested side by side (they zip)."""
        non_empty = exp.NEQ(this=column, expression=_cast(lit("{}"), "JSONB"))

        def listed(value: exp.Expression, null_type: str) -> exp.Expression:
            entries = (
                exp.select(value)
                .from_(exp.Table(this=fn("jsonb_each_text", column.copy()), alias="e"))
                .order_by(exp.column("key", table="e"))
            )
            nothing = exp.Array(expressions=[_cast(exp.Null(), null_type)])
            values = exp.Array(expressions=[entries])
            return fn("unnest", exp.If(this=non_empty.copy(), true=values, false=nothing))

        key = listed(exp.column("key", table="e"), "TEXT")
        value = listed(
            _cast(exp.column("value", table="e"), "DOUBLE PRECISION"), "DOUBLE PRECISION"
        )
        return key, value

    def size(self, value: exp.Expression, is_map: bool) -> exp.Expression:
        if is_map:
            keys = exp.select(exp.Count(this=exp.Star())).from_(
                exp.Table(this=fn("jsonb_object_keys", value))
            )
            return exp.Subquery(this=keys)
        return fn("cardinality", value)

    def derived(self, name: str, source: exp.Expression, index: int | None) -> exp.Expression:
        if name == "ref_object_id":
            match = fn("regexp_match", source, lit("([^/:]*)(:[^/]*)?$"))
            first = exp.Bracket(this=exp.Paren(this=match), expressions=[lit(1)], offset=1)
            return exp.Coalesce(this=first, expressions=[lit("")])
        parts = fn("regexp_split_to_array", source, lit("/"))
        position: exp.Expression = lit(index or -1)
        if (index or -1) < 0:
            length = fn("cardinality", parts.copy())
            position = exp.Add(this=length, expression=lit((index or -1) + 1))
        return exp.Bracket(this=exp.Paren(this=parts), expressions=[position], offset=1)
