"""Check incoming rows against the catalog and turn the good ones into an Arrow batch.

Each column gets one converter, built once per dataset, so a row costs one dict walk. A row may
give nested records as objects (`{"issuer": {"name": ...}}`) or as dotted keys (`"issuer.name"`);
both land in the same flattened column. Every problem names the row index and the field path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import orjson
import pyarrow as pa

from tally.catalog.arrow import arrow_schema
from tally.catalog.decimals import exact_decimal
from tally.catalog.model import Column, ColumnType, Dataset

MAX_STRING = 65_536


@dataclass(frozen=True)
class Rejection:
    index: int
    path: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "path": self.path, "reason": self.reason}


class BadValue(ValueError):
    pass


@dataclass(frozen=True)
class UnparsableRow:
    """An NDJSON line that was not JSON; it is reported as that row's error."""

    reason: str


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise BadValue("expected a string")
    if len(v) > MAX_STRING:
        raise BadValue(f"longer than {MAX_STRING} characters")
    return v


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise BadValue("expected an integer")
    if not -(2**63) <= v < 2**63:
        raise BadValue("integer out of range")
    return v


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadValue("expected a number")
    if isinstance(v, float) and not math.isfinite(v):
        raise BadValue("expected a finite number")
    return float(v)


def _decimal(scale: int, v: Any) -> Decimal:
    try:
        return exact_decimal(v, scale)
    except ValueError as exc:
        raise BadValue(str(exc)) from None


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise BadValue("expected true or false")
    return v


def _timestamp(v: Any) -> datetime:
    if isinstance(v, str):
        try:
            parsed = datetime.fromisoformat(v)
        except ValueError:
            raise BadValue("expected an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            raise BadValue("the timestamp needs a timezone (Z or +hh:mm)")
        return parsed.astimezone(UTC)
    raise BadValue("expected an ISO 8601 timestamp string")


def _date(v: Any) -> date:
    if isinstance(v, str) and len(v) == 10:
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise BadValue("expected a date YYYY-MM-DD")


def _string_array(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise BadValue("expected an array of strings")
    return [_string(x) for x in v]


def _json_object(v: Any) -> str:
    if not isinstance(v, dict):
        raise BadValue("expected a JSON object")
    try:
        return orjson.dumps(v).decode()
    except TypeError:  # orjson writes at most 254 levels of nesting
        raise BadValue("nested too deeply") from None


def _float_map(v: Any) -> list[tuple[str, float]]:
    if not isinstance(v, dict):
        raise BadValue("expected an object of numbers")
    return [(_string(k), _float(x)) for k, x in v.items()]


CONVERTERS: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.STRING: _string,
    ColumnType.INT: _int,
    ColumnType.FLOAT: _float,
    ColumnType.BOOL: _bool,
    ColumnType.TIMESTAMP: _timestamp,
    ColumnType.DATE: _date,
    ColumnType.STRING_ARRAY: _string_array,
    ColumnType.JSON: _json_object,
    ColumnType.FLOAT_MAP: _float_map,
}


def converter(column: Column) -> Callable[[Any], Any]:
    """The column's converter: a JSON value to what is stored, or BadValue with the reason."""
    if column.type is ColumnType.DECIMAL:
        return partial(_decimal, column.scale or 0)
    return CONVERTERS[column.type]


def _flatten(row: dict[str, Any], nested: frozenset[str], prefix: str = "") -> dict[str, Any]:
    """Spread nested records into dotted keys (a null record nulls its fields); JSON and map
    columns stay whole."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if name in nested and value is None:
            continue
        if isinstance(value, dict) and name in nested:
            out.update(_flatten(value, nested, f"{name}."))
        else:
            out[name] = value
    return out


class RowValidator:
    """Validates rows of one dataset; build once, call for every batch."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.columns: list[Column] = list(dataset.stored_columns)
        self._converters = [converter(c) for c in self.columns]
        self._known = {c.name for c in self.columns}
        prefixes = set()
        for c in self.columns:
            parts = c.name.split(".")
            prefixes.update(".".join(parts[:i]) for i in range(1, len(parts)))
        self._nested = frozenset(prefixes)
        self._schema = arrow_schema(dataset)

    def check(self, index: int, raw: Any) -> tuple[dict[str, Any] | None, list[Rejection]]:
        if isinstance(raw, UnparsableRow):
            return None, [Rejection(index, "", raw.reason)]
        if not isinstance(raw, dict):
            return None, [Rejection(index, "", "a row must be a JSON object")]
        row = _flatten(raw, self._nested) if self._nested else raw
        problems = [Rejection(index, key, "unknown field") for key in row if key not in self._known]
        clean: dict[str, Any] = {}
        for column, convert in zip(self.columns, self._converters, strict=True):
            value = row.get(column.name)
            if value is None:
                if not column.nullable:
                    problems.append(Rejection(index, column.name, "required field is missing"))
                clean[column.physical] = None
                continue
            try:
                converted = convert(value)
            except BadValue as exc:
                problems.append(Rejection(index, column.name, str(exc)))
                continue
            if column.enum and converted not in column.enum:
                problems.append(
                    Rejection(index, column.name, f"must be one of {', '.join(column.enum)}")
                )
                continue
            clean[column.physical] = converted
        return (None if problems else clean), problems

    def to_arrow(self, rows: Iterable[dict[str, Any]]) -> pa.Table:
        return pa.Table.from_pylist(list(rows), schema=self._schema)
