"""An engine's answer as the service reads it: row tuples, or Arrow columns for a large answer.

Shaping a large answer costs Python work per value, so it is done a column at a time: Arrow
columns become Python lists without a tuple per row, a column with few distinct values (group
names, bucket starts) is converted once per distinct value and its list shares those objects,
and the row dicts are made once, at the end (`tally.records`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

Convert = Callable[[Any], Any]


def _python_fixes(schema: pa.Schema) -> dict[str, Convert]:
    """Arrow columns whose Python values differ from what DB-API drivers return: whole-number
    decimals (DuckDB's HUGEINT sums) are ints there, and maps are dicts."""
    fixes: dict[str, Convert] = {}
    for column in schema:
        if pa.types.is_decimal(column.type) and column.type.scale == 0:
            fixes[column.name] = int
        elif pa.types.is_map(column.type):
            fixes[column.name] = dict
    return fixes


def _then(first: Convert | None, second: Convert | None) -> Convert | None:
    if first is None or second is None:
        return first or second
    return lambda value: second(first(value))


def _by_distinct(column: pa.ChunkedArray, convert: Convert | None) -> list[Any] | None:
    """The column's values, made (and converted) once per distinct value; None when most
    values differ, where the per-value path is cheaper."""
    encoded = column.combine_chunks().dictionary_encode()
    if len(encoded.dictionary) * 2 > len(encoded):
        return None
    distinct = encoded.dictionary.to_pylist()
    if convert is not None:
        distinct = [convert(value) for value in distinct]
    distinct.append(None)
    positions = pc.fill_null(encoded.indices, len(distinct) - 1).to_pylist()
    return list(map(distinct.__getitem__, positions))


def _arrow_values(column: pa.ChunkedArray, convert: Convert | None, shared: bool) -> list[Any]:
    if shared and (convert is not None or pa.types.is_string(column.type)):
        values = _by_distinct(column, convert)
        if values is not None:
            return values
    values = column.to_pylist()
    if convert is not None:
        values = [None if v is None else convert(v) for v in values]
    return values


def arrow_columns(
    table: pa.Table, count: int, convert: Mapping[int, Convert] | None = None
) -> list[list[Any]]:
    """The leading `count` columns of an Arrow result as the Python values a DB-API driver
    would have returned, a list per column; `convert[i]` is applied to column i's values."""
    fixes = _python_fixes(table.schema)
    convert = convert or {}
    shared = table.num_rows >= 64
    return [
        _arrow_values(column, _then(fixes.get(name), convert.get(i)), shared)
        for i, (name, column) in enumerate(
            zip(table.column_names[:count], table.columns[:count], strict=True)
        )
    ]


def arrow_tuples(table: pa.Table) -> list[tuple]:
    """An Arrow result as the row tuples a DB-API driver would have returned."""
    return list(zip(*arrow_columns(table, table.num_columns), strict=True))


@dataclass(frozen=True)
class Frame:
    """An engine's answer to a statement: row tuples, or Arrow columns for a large answer
    (for a small answer the Arrow conversion costs more than it saves)."""

    columns: list[str]
    tuples: list[tuple] | None = None
    table: pa.Table | None = None

    def __len__(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.tuples or ())

    def first(self, column: str) -> Any:
        """The first row's value of `column`, or None when there are no rows."""
        if not len(self):
            return None
        if self.table is not None:
            return self.table.column(column)[0].as_py()
        return self.tuples[0][self.columns.index(column)]

    def value_columns(
        self, count: int, convert: Mapping[int, Convert] | None = None
    ) -> list[list[Any]]:
        """The leading `count` columns, a list of Python values each; `convert[i]` is applied
        to the non-null values of column i, once per distinct value."""
        if self.table is not None:
            return arrow_columns(self.table, count, convert)
        if not self.tuples:
            return [[] for _ in range(count)]
        columns = [list(values) for values in islice(zip(*self.tuples, strict=True), count)]
        for i, fn in (convert or {}).items():
            once = {v: fn(v) for v in set(columns[i]) if v is not None}
            once[None] = None
            columns[i] = list(map(once.__getitem__, columns[i]))
        return columns
