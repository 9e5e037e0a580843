"""ClickHouse (server or chDB in-process): the scale-out engine's spelling of the operations.

Storage: MergeTree ordered by (tenant, time) and partitioned by month; nullable scalars are
`Nullable(T)`; a nullable array or map is `Variant(T)`, because ClickHouse cannot wrap those in
`Nullable` and a null must stay distinguishable from an empty one. JSON metadata is a String read
with the JSON* functions, giving the text DuckDB's `json_extract_string` gives.

Rendering makes ClickHouse answer like SQL: two statement settings, `join_use_nulls` (an
unmatched LEFT JOIN row has NULLs, which top + other relies on) and
`aggregate_functions_null_for_empty` (sum/avg/min/max/percentile of no rows is NULL, not 0 or
NaN); `count(x)` spelled so that a null Variant is not counted; `lowerUTF8` for `lower`; and
LIKE patterns without an escape character, as in DuckDB. Parameters are typed placeholders
(`{p0: String}`): values are bound by the engine, never formatted into the text.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from tally.catalog.model import DECIMAL_PRECISION, Column, ColumnType, Dataset
from tally.catalog.vocabulary import FilterOp, MeasureOp
from tally.sql.calendar import CalendarDialect
from tally.sql.dialect import fn, lit

CONTAINERS = (ColumnType.STRING_ARRAY, ColumnType.FLOAT_MAP)
SETTINGS = {"join_use_nulls": 1, "aggregate_functions_null_for_empty": 1}
ARRAY = "Array(String)"
MAP = "Map(String, Float64)"


def _type(text: str) -> exp.DataType:
    """A ClickHouse type spelled verbatim (sqlglot would wrap foreign types in Nullable)."""
    return exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=text, nullable=False)


def _cast(value: exp.Expression, to: str) -> exp.Expression:
    return exp.Cast(this=value, to=_type(to))


def _param_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, Decimal):
        return f"Decimal({DECIMAL_PRECISION}, {-value.as_tuple().exponent})"
    if isinstance(value, datetime):
        return "DateTime64(6, 'UTC')"
    if isinstance(value, date):
        return "Date32"
    if isinstance(value, list):
        return ARRAY
    return "String"


class ClickHouseDialect(CalendarDialect):
    name = "clickhouse"
    approximates = frozenset({MeasureOp.COUNT_DISTINCT, MeasureOp.PERCENTILE})
    sqlglot_name = "clickhouse"
    decimal_type = "Decimal({precision}, {scale})"
    current_schema = "currentDatabase"
    column_types = {
        ColumnType.STRING: "String",
        ColumnType.INT: "Int64",
        ColumnType.FLOAT: "Float64",
        ColumnType.BOOL: "Bool",
        ColumnType.TIMESTAMP: "DateTime64(6, 'UTC')",
        ColumnType.DATE: "Date32",
        ColumnType.STRING_ARRAY: ARRAY,
        ColumnType.JSON: "String",
        ColumnType.FLOAT_MAP: MAP,
    }
    renames = {
        FilterOp.STARTS_WITH: "startsWith",
        FilterOp.ENDS_WITH: "endsWith",
        FilterOp.HAS_ANY: "hasAny",
        FilterOp.HAS_ALL: "hasAll",
    }

    def column_type(self, column: Column) -> str:
        stored = self.stored_type(column)
        if not column.nullable:
            return stored
        return f"Variant({stored})" if column.type in CONTAINERS else f"Nullable({stored})"

    def column_kind(self, column: Column) -> exp.DataType:
        return _type(self.column_type(column))

    def table_properties(self, dataset: Dataset) -> exp.Properties:
        """MergeTree sorted by the non-null tenant columns then time, one partition a month."""
        keys = [
            dataset.column(c).physical
            for c in dataset.tenant_columns
            if not dataset.column(c).nullable
        ]
        time_column = dataset.column(dataset.time_column) if dataset.time_column else None
        if time_column is not None:
            keys.append(time_column.physical)
        order = exp.Tuple(expressions=[exp.column(k, quoted=True) for k in keys])
        properties: list[exp.Expression] = [
            exp.EngineProperty(this=exp.to_identifier("MergeTree")),
            exp.Order(expressions=[exp.Ordered(this=order, nulls_first=False)]),
        ]
        if time_column is not None:
            month = fn("toYYYYMM", exp.column(time_column.physical, quoted=True))
            properties.append(exp.PartitionedByProperty(this=month))
        return exp.Properties(expressions=properties)

    def placeholder(self, name: str, value: Any) -> exp.Expression:
        return exp.Placeholder(this=name, kind=_type(_param_type(value)))

    def render(self, tree: exp.Expression) -> str:
        def spell(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Lower):
                return fn("lowerUTF8", node.this)
            if isinstance(node, exp.Count) and not isinstance(node.this, exp.Star):
                present = exp.If(
                    this=exp.Is(this=node.this.copy(), expression=exp.Null()),
                    true=exp.Null(),
                    false=lit(1),
                )
                return exp.Count(this=present)
            if isinstance(node, exp.Like):
                # DuckDB's LIKE has no escape character; ClickHouse's is `\`: make it literal.
                pattern = fn("replaceAll", node.expression, lit("\\"), lit("\\\\"))
                return exp.Like(this=node.this, expression=pattern)
            return node

        spelled = tree.transform(spell)
        spelled.set(
            "settings",
            [exp.EQ(this=exp.var(k), expression=lit(v)) for k, v in SETTINGS.items()],
        )
        return spelled.sql(dialect=self.sqlglot_name)

    def json_path_text(self, column: exp.Expression, keys: tuple[str, ...]) -> exp.Expression:
        path = [lit(key) for key in keys]
        kind = fn("JSONType", column, *path)
        return fn(
            "multiIf",
            exp.EQ(this=kind, expression=lit("String")),
            fn("JSONExtractString", column.copy(), *[p.copy() for p in path]),
            exp.EQ(this=kind.copy(), expression=lit("Null")),
            exp.Null(),
            fn("JSONExtractRaw", column.copy(), *[p.copy() for p in path]),
        )

    def map_value(self, column: exp.Expression, key: str) -> exp.Expression:
        return fn("arrayElementOrNull", _cast(column, MAP), lit(key))

    def to_double(self, value: exp.Expression) -> exp.Expression:
        return fn("toFloat64OrNull", value)

    def decimal_to_double(self, value: exp.Expression) -> exp.Expression:
        return fn("toFloat64", value)

    def date_to_instant(self, value: exp.Expression, tz: str) -> exp.Expression:
        return fn("toDateTime64", value, lit(6), lit(tz))

    def _epoch_ms(self, ts: exp.Expression) -> exp.Expression:
        return fn("toUnixTimestamp64Milli", ts)

    def _period_start(self, unit: str, ts: exp.Expression, tz: str) -> exp.Expression:
        start = {"day": "toDate32", "week": "toMonday", "month": "toStartOfMonth"}[unit]
        return fn(start, ts, lit(tz))

    def _local_day(self, ts: exp.Expression, tz: str) -> exp.Expression:
        return fn("toDate32", ts, lit(tz))

    def _date(self, day: date) -> exp.Expression:
        return fn("toDate32", lit(day.isoformat()))

    def _days_between(self, start: exp.Expression, end: exp.Expression) -> exp.Expression:
        return fn("dateDiff", lit("day"), start, end)

    def _add_days(self, day: exp.Expression, days: exp.Expression) -> exp.Expression:
        return fn("addDays", day, days)

    def _year_month(self, day: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        return fn("toYear", day), fn("toMonth", day.copy())

    def _first_of_month(self, year: exp.Expression, month: exp.Expression) -> exp.Expression:
        return fn("makeDate32", year, month, lit(1))

    def _floor_div(self, value: exp.Expression, size: int) -> exp.Expression:
        return fn("floor", exp.Div(this=exp.Paren(this=value), expression=lit(size)))

    def _integer(self, value: exp.Expression) -> exp.Expression:
        return _cast(value, "Int64")

    def _instant_ms(self, local: exp.Expression, tz: str) -> exp.Expression:
        return fn("toUnixTimestamp64Milli", fn("toDateTime64", local, lit(3), lit(tz)))

    def percentile(self, value: exp.Expression, q: float, approx: bool) -> exp.Expression:
        name = "quantileTDigest" if approx else "quantileExactInclusive"
        return exp.ParameterizedAgg(this=name, expressions=[lit(q)], params=[value])

    def count_distinct(self, value: exp.Expression, approx: bool) -> exp.Expression:
        return fn("uniq" if approx else "uniqExact", value)

    def regex(
        self, value: exp.Expression, pattern: exp.Expression, case_insensitive: bool
    ) -> exp.Expression:
        if case_insensitive:
            pattern = fn("concat", lit("(?i)"), pattern)
        return fn("match", value, pattern)

    def contains(self, value: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return exp.GT(this=fn("position", value, needle), expression=lit(0))

    def fan_out(self, array: exp.Expression) -> exp.Expression:
        plain = _cast(array, ARRAY)
        nothing = exp.Array(expressions=[exp.Null()])
        return fn("arrayJoin", fn("if", fn("notEmpty", plain), plain.copy(), nothing))

    def fan_out_map(self, column: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        """One arrayJoin over (key, value) pairs; ClickHouse evaluates the identical call once."""
        plain = _cast(column, MAP)
        pairs = fn("arrayZip", fn("mapKeys", plain), fn("mapValues", plain.copy()))
        nothing = exp.Array(expressions=[exp.Tuple(expressions=[exp.Null(), exp.Null()])])
        entry = fn("arrayJoin", fn("if", fn("notEmpty", plain.copy()), pairs, nothing))
        return fn("tupleElement", entry, lit(1)), fn("tupleElement", entry.copy(), lit(2))

    def size(self, value: exp.Expression, is_map: bool) -> exp.Expression:
        return fn("length", value)

    def derived(self, name: str, source: exp.Expression, index: int | None) -> exp.Expression:
        if name == "ref_object_id":
            last = fn("regexpExtract", source, lit("([^/:]*)(:[^/]*)?$"), lit(1))
            return exp.Coalesce(this=last, expressions=[lit("")])
        parts = fn("splitByChar", lit("/"), source)
        return fn("arrayElementOrNull", parts, lit(index or -1))
