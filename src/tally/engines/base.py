"""What every engine offers the service: run SQL with parameters, create tables, load batches.

Engines know tables and SQL text, never the query IR; the service hands them compiled SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from tally.errors import TallyError, unavailable


@dataclass(frozen=True)
class TableSpec:
    """What an engine needs to know of a dataset to store it."""

    name: str
    key_columns: tuple[str, ...]
    upsert: bool
    order_by: tuple[str, ...]


def timed_out(timeout_s: float) -> TallyError:
    """The 503 every engine answers when a query outlives its timeout."""
    return unavailable(
        f"the query took longer than {timeout_s:g} s and was stopped; "
        "narrow the window or the groups",
        retry_after=1,
    )


@dataclass(frozen=True)
class WriteOutcome:
    accepted: int
    duplicates: int
    updated: int = 0


def _python_fixes(schema: pa.Schema) -> dict[str, Callable[[Any], Any]]:
    """Arrow columns whose Python values differ from what DB-API drivers return: whole-number
    decimals (DuckDB's HUGEINT sums) are ints there, and maps are dicts."""
    fixes: dict[str, Callable[[Any], Any]] = {}
    for column in schema:
        if pa.types.is_decimal(column.type) and column.type.scale == 0:
            fixes[column.name] = int
        elif pa.types.is_map(column.type):
            fixes[column.name] = dict
    return fixes


def arrow_columns(table: pa.Table, count: int) -> list[list[Any]]:
    """The leading `count` columns of an Arrow result as the Python values a DB-API driver
    would have returned, a list per column."""
    fixes = _python_fixes(table.schema)
    columns = []
    for name, column in zip(table.column_names[:count], table.columns[:count], strict=True):
        values = column.to_pylist()
        fix = fixes.get(name)
        if fix is not None:
            values = [None if v is None else fix(v) for v in values]
        columns.append(values)
    return columns


def arrow_tuples(table: pa.Table) -> list[tuple]:
    """An Arrow result as the row tuples a DB-API driver would have returned."""
    return list(zip(*arrow_columns(table, table.num_columns), strict=True))


@dataclass(frozen=True)
class Frame:
    """An engine's answer to a statement: row tuples, or Arrow columns for a large answer.

    Naming a large answer's rows straight from Arrow makes one Python object per value and no
    tuple per row first, which is most of what a result of thousands of rows costs in Python;
    for a small answer the Arrow conversion costs more than it saves.
    """

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

    def value_columns(self, count: int) -> list[list[Any]]:
        """The leading `count` columns, a list of Python values each.

        Results are shaped column by column (a conversion is one pass over one list) and only
        then made into row dicts, once.
        """
        if self.table is not None:
            return arrow_columns(self.table, count)
        if not self.tuples:
            return [[] for _ in range(count)]
        return [list(values) for values in zip(*self.tuples, strict=True)][:count]


class Engine(Protocol):
    name: str

    def execute(
        self, sql: str, params: dict[str, Any], timeout_s: float
    ) -> tuple[list[str], list[tuple]]: ...

    def frame(self, sql: str, params: dict[str, Any], timeout_s: float, columnar: bool) -> Frame:
        """Like `execute`; `columnar` asks for Arrow columns where the engine has them."""
        ...

    def ensure_table(
        self, create_sql: str, spec: TableSpec, add_columns: dict[str, str]
    ) -> None: ...

    def write(self, spec: TableSpec, batch: pa.Table) -> WriteOutcome: ...

    def compact(self, spec: TableSpec) -> int: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
