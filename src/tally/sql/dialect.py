"""What differs between engines, one method per operation.

The compiler builds everything engine-neutral with sqlglot and asks the dialect for the pieces
that have no common spelling: time buckets, percentiles, JSON and map access, array tests and
fan-out. A dialect that cannot do an operation raises `Unsupported` at compile time; nothing
falls back to a different meaning.

Every operation of the vocabulary (`catalog/vocabulary.py`) is accounted for by every dialect,
checked when the dialect class is created: standard SQL the compiler writes itself, a function
of the engine under another name (`renames`), a method of the dialect, or `unsupported`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from sqlglot import exp

from tally.catalog.model import DECIMAL_PRECISION, Column, ColumnType, Dataset
from tally.catalog.vocabulary import BASE_MEASURES, FilterOp, MeasureOp
from tally.errors import TallyError
from tally.query.timebuckets import Interval

Operation = FilterOp | MeasureOp
OPERATIONS: tuple[Operation, ...] = (*FilterOp, *BASE_MEASURES)
"""What a dialect must account for (normalize spells the shorthands p50 ... p99 as percentile)."""
SPELLED_BY: dict[Operation, str] = {
    FilterOp.CONTAINS: "contains",
    FilterOp.STARTS_WITH: "starts_with",
    FilterOp.ENDS_WITH: "ends_with",
    FilterOp.HAS_ANY: "has_any",
    FilterOp.HAS_ALL: "has_all",
    FilterOp.IS_EMPTY: "size",
    FilterOp.REGEX: "regex",
    MeasureOp.PERCENTILE: "percentile",
}
"""The operations without a common SQL spelling, and the dialect method the compiler asks for
each; every other operation is standard SQL the compiler writes itself."""
SPELLED_WITH: dict[Operation, Operation] = {
    FilterOp.NOT_CONTAINS: FilterOp.CONTAINS,
    FilterOp.HAS_NONE: FilterOp.HAS_ANY,
    FilterOp.NOT_EMPTY: FilterOp.IS_EMPTY,
}
"""Operations the compiler writes as the negation (or the complement) of another one."""
RENAMABLE = frozenset(
    {
        FilterOp.CONTAINS,
        FilterOp.STARTS_WITH,
        FilterOp.ENDS_WITH,
        FilterOp.HAS_ANY,
        FilterOp.HAS_ALL,
    }
)
"""The operations that are one engine function `name(value, argument)` on some engines: a dialect
names that function in `renames` instead of writing the method."""


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
    """Base class: the spelling shared by most engines; subclasses override the rest.

    A subclass declares `renames` (operation -> engine function, where that is all it takes)
    and `unsupported` (operations the engine cannot answer); an intermediate class that leaves
    operations to its own subclasses is declared with `abstract=True`.
    """

    name = "base"
    sqlglot_name = ""
    column_types: dict[ColumnType, str] = {}
    decimal_type = "DECIMAL({precision}, {scale})"
    current_schema = "current_schema"
    renames: ClassVar[Mapping[Operation, str]] = {}
    unsupported: ClassVar[frozenset[Operation]] = frozenset()
    # The measures `approx` makes the engine estimate; it computes the others exactly whatever
    # is asked (and so says `meta.exact` true of them).
    approximates: ClassVar[frozenset[MeasureOp]] = frozenset()

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        not_calls = sorted(set(cls.renames) - RENAMABLE)
        if not_calls:
            raise TypeError(f"dialect {cls.__name__} renames {not_calls}, which are not one call")
        for op in OPERATIONS:
            if not cls._accounts_for(op):
                raise TypeError(
                    f"dialect {cls.__name__} does not say how to spell the operation {op}: "
                    "add it to renames or unsupported, or override the method that spells it"
                )

    @classmethod
    def _accounts_for(cls, op: Operation) -> bool:
        if op in cls.unsupported:
            return True
        op = SPELLED_WITH.get(op, op)
        method = SPELLED_BY.get(op)
        if method is None or op in cls.renames:
            return True
        return getattr(cls, method) is not getattr(Dialect, method)

    def require(self, op: Operation) -> None:
        """Refuse, at compile time, an operation this engine cannot answer."""
        if op in self.unsupported:
            raise Unsupported(self.name, f"the {op} operation")

    def _renamed(self, op: Operation, *args: exp.Expression) -> exp.Expression:
        """The engine function `renames` gives for `op`, applied to `args`."""
        name = self.renames.get(op)
        if name is None:
            raise Unsupported(self.name, f"the {op} operation")
        return fn(name, *args)

    def render(self, tree: exp.Expression) -> str:
        return tree.sql(dialect=self.sqlglot_name)

    def placeholder(self, name: str, value: Any) -> exp.Expression:
        """Where a bound value goes; an engine whose parameters carry a type spells it here."""
        return exp.Placeholder(this=name)

    def column_type(self, column: Column) -> str:
        """The stored type of a column (nullability is a NOT NULL constraint by default)."""
        return self.stored_type(column)

    def stored_type(self, column: Column) -> str:
        """The engine's type of the column's values (a decimal's spelling carries its scale)."""
        if column.type is ColumnType.DECIMAL:
            return self.decimal_type.format(precision=DECIMAL_PRECISION, scale=column.scale)
        return self.column_types[column.type]

    def column_kind(self, column: Column) -> exp.DataType:
        return exp.DataType.build(self.column_type(column), dialect=self.sqlglot_name)

    def table_properties(self, dataset: Dataset) -> exp.Properties | None:
        """Storage clauses of CREATE TABLE (engine, sort key, partitions); none by default."""
        return None

    def json_text(self, column: exp.Expression, key: str) -> exp.Expression:
        return self.json_path_text(column, (key,))

    def json_path_text(self, column: exp.Expression, keys: tuple[str, ...]) -> exp.Expression:
        """The value at `keys` (nested object keys) of a JSON column, as text (a string as it
        is, another scalar in its JSON spelling, null when absent)."""
        raise Unsupported(self.name, "JSON keys")

    def map_value(self, column: exp.Expression, key: str) -> exp.Expression:
        raise Unsupported(self.name, "map keys")

    def text_as_json(self, column: exp.Expression) -> exp.Expression:
        """A text column holding JSON, as what `json_path_text` reads: as is where JSON
        functions take text (DuckDB, ClickHouse)."""
        return column

    def to_double(self, value: exp.Expression) -> exp.Expression:
        return exp.TryCast(this=value, to=exp.DataType.build("DOUBLE"))

    def decimal_to_double(self, value: exp.Expression) -> exp.Expression:
        """A decimal as a double, for what needs one on some engine (percentiles)."""
        return exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))

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
        return self._renamed(FilterOp.CONTAINS, value, needle)

    def starts_with(self, value: exp.Expression, prefix: exp.Expression) -> exp.Expression:
        return self._renamed(FilterOp.STARTS_WITH, value, prefix)

    def regex(
        self, value: exp.Expression, pattern: exp.Expression, case_insensitive: bool
    ) -> exp.Expression:
        """Whether `pattern` (of the common core, query/patterns.py) matches anywhere in it."""
        raise Unsupported(self.name, "regular expressions")

    def ends_with(self, value: exp.Expression, suffix: exp.Expression) -> exp.Expression:
        return self._renamed(FilterOp.ENDS_WITH, value, suffix)

    def has_any(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        return self._renamed(FilterOp.HAS_ANY, array, values)

    def has_all(self, array: exp.Expression, values: exp.Expression) -> exp.Expression:
        return self._renamed(FilterOp.HAS_ALL, array, values)

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
