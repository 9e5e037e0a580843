"""Resolve a field name of a request to what it addresses in a dataset.

A name is a catalog column (possibly a dotted path of a nested record), or `<json column>.<key>`
or `<map column>.<key>`. Keys are held to a strict pattern because they end up inside SQL (as a
quoted path literal), so nothing but a plain identifier-like key may reach the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.catalog.model import Column, ColumnType, Dataset
from tally.catalog.vocabulary import (
    BASE_MEASURES,
    EQUALITY_OPS,
    KEY_PATTERN,
    NULL_OPS,
    ORDER_OPS,
    TEXT_OPS,
    FilterOp,
    MeasureOp,
)

JSON_KEY_OPS = EQUALITY_OPS + ORDER_OPS + TEXT_OPS + NULL_OPS
MAP_KEY_OPS = EQUALITY_OPS + ORDER_OPS + NULL_OPS


@dataclass(frozen=True)
class FieldRef:
    """A resolved field: a column, or one key inside a JSON or map column."""

    name: str
    column: Column
    key: str | None = None

    @property
    def kind(self) -> str:
        if self.key is None:
            return "column"
        return "json" if self.column.type is ColumnType.JSON else "map"

    @property
    def value_type(self) -> ColumnType:
        if self.kind == "json":
            return ColumnType.STRING
        if self.kind == "map":
            return ColumnType.FLOAT
        return self.column.type

    @property
    def ops(self) -> tuple[FilterOp, ...]:
        if self.kind == "json":
            return JSON_KEY_OPS
        if self.kind == "map":
            return MAP_KEY_OPS
        return self.column.allowed_ops

    @property
    def measures(self) -> tuple[MeasureOp, ...]:
        return BASE_MEASURES if self.key is not None else self.column.allowed_measures

    @property
    def is_array(self) -> bool:
        return self.kind == "column" and self.column.type is ColumnType.STRING_ARRAY

    @property
    def is_map(self) -> bool:
        """A whole map column: grouping by it fans out one row per entry."""
        return self.kind == "column" and self.column.type is ColumnType.FLOAT_MAP

    @property
    def fans_out(self) -> bool:
        return self.is_array or self.is_map

    @property
    def numeric_ok(self) -> bool:
        """Whether sum/avg/percentile make sense (JSON values are cast to numbers)."""
        return self.kind != "column" or self.column.is_numeric


class FieldError(ValueError):
    """Why a name does not resolve; the message is safe to show."""


def resolve_field(dataset: Dataset, name: str) -> FieldRef:
    if dataset.has_column(name):
        col = dataset.column(name)
        if col.type is ColumnType.JSON:
            raise FieldError(f"{name!r} holds keys: address one as {name}.<key>")
        return FieldRef(name, col)
    head, dot, key = name.partition(".")
    if dot and dataset.has_column(head):
        col = dataset.column(head)
        if col.type in (ColumnType.JSON, ColumnType.FLOAT_MAP):
            if not KEY_PATTERN.match(key):
                raise FieldError(
                    f"invalid key {key!r}: letters, digits, _ and -, starting with a letter or _"
                )
            return FieldRef(name, col, key)
    raise FieldError(f"unknown field {name!r} in dataset {dataset.name!r}")
