"""What differs between engines, one method per operation.

The compiler builds everything engine-neutral with sqlglot and asks the dialect for the pieces
that have no common spelling: time buckets, percentiles, JSON and map access, array tests and
fan-out. A dialect that cannot do an operation raises `Unsupported` at compile time; nothing
falls back to a different meaning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlglot import exp

from tally.catalog.model import Column, ColumnType, Dataset
from tally.errors import TallyError
from tally.query.timebuckets import Interval


class Unsupported(TallyError):
    def __init__(self, engine: str, what: str) -> None:
        super().__init__("not_supported", f"{what} is not supported on {engine}", 400)


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def lit(value: str | int | float) -> exp.Expression:
    if isinstance(value, str):
        return exp.Literal.string(value)
    return exp.Literal.number(value)


class Dialect:
    """Base class: the spelling shared by most engines; subclasses override the rest."""

    name = "base"
    sqlglot_name = ""
    column_types: dict[ColumnType, str] = {}

    def render(self, tree: exp.Expression) -> str:
        return tree.sql(dialect=self.sqlglot_name)

    def placeholder(self, name: str, value: Any) -> exp.Expression:
        """Where a bound value goes; an engine whose parameters carry a type spells it here."""
        return exp.Placeholder(this=name)

    def column_type(self, column: Column) -> str:
        """The stored type of a column (nullability is a NOT NULL constraint by default)."""
        return self.column_types[column.type]

    def column_kind(self, column: Column) -> exp.DataType:
        return exp.DataType.build(self.column_type(column), dialect=self.sqlglot_name)

    def table_properties(self, dataset: Dataset) -> exp.Properties | None:
        """Storage clauses of CREATE TABLE (engine, sort key, partitions); none by default."""
        return None

    def json_text(self, column: exp.Expression, key: str) -> exp.Expression:
        raise Unsupported(self.name, "JSON keys")

    def map_value(self, column: exp.Expression, key: str) -> exp.Expression:
        raise Unsupported(self.name, "map keys")

    def to_double(self, value: exp.Expression) -> exp.Expression:
        return exp.TryCast(this=value, to=exp.DataType.build("DOUBLE"))

    def date_to_instant(self, value: exp.Expression, tz: str) -> exp.Expression:
        raise Unsupported(self.name, "date time columns")

    def bucket_ms(
        self, ts: exp.Expression, iv: Interval, tz: str, origin: datetime | None
    ) -> exp.Expression:
        raise Unsupported(self.name, f"{iv} buckets")

    def percentile(self, value: exp.Expression, q: float, approx: bool) -> exp.Expression:
        raise Unsupported(self.name, "percentiles")

    def count_distinct(self, value: exp.Expression, approx: bool) -> exp.Expression:
        return exp.Count(this=exp.Distinct(expressions=[value]))

    def contains(self, value: exp.Expression, needle: exp.Expression) -> exp.Expression:
        return exp.GT(this=fn("strpos", value, needle), expression=lit(0))

    def starts_with(self, value: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return fn("starts_with", value, prefix)

    def ends_with(self, value: exp.Expression, suffix: exp.Expression) -> exp.Expression:
        return fn("ends_with", value, suffix)

    def has_any(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        raise Unsupported(self.name, "array tests")

    def has_all(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        raise Unsupported(self.name, "array tests")

    def fan_out(self, array: exp.Expression) -> exp.Expression:
        """One row per element; an empty or null array yields one row with a null element."""
        raise Unsupported(self.name, "array fan-out")

    def fan_out_map(self, column: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
        """(key, value) per entry; an empty or null map yields one row of nulls."""
        raise Unsupported(self.name, "map fan-out")

    def size(self, value: exp.Expression, is_map: bool) -> exp.Expression:
        raise Unsupported(self.name, "array and map sizes")

    def derived(self, fn: str, source: exp.Expression, index: int | None) -> exp.Expression:
        raise Unsupported(self.name, f"derived column {fn}")

    def filtered(self, aggregate: exp.Expression, condition: exp.Expression) -> exp.Expression:
        """An aggregate over the rows where `condition` holds (SQL's FILTER clause)."""
        return exp.Filter(this=aggregate, expression=exp.Where(this=condition))

    def null_safe_equal(self, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        return exp.NullSafeEQ(this=left, expression=right)
