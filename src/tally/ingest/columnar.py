"""The fast path of HTTP ingestion: a batch of clean rows becomes Arrow column by column.

Most batches have no problem at all, and checking them row by row in Python caps ingestion at a
few ten thousand rows a second. Here every column is type-checked with one set of the Python
types it holds, converted by Arrow in bulk, and checked for enums and scope with Arrow kernels.
Anything unusual (a wrong type, a nested record to flatten, an unknown field, a value outside
the scope) returns None, and the row validator then finds and names every problem exactly; so
this path decides nothing the row validator would decide differently. The NDJSON fast path
(`json_lines`, `json_texts`) shares the Arrow-level checks (`finish`, `in_scope`) and `convert`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tally.catalog.arrow import arrow_schema, arrow_type
from tally.catalog.model import Column, ColumnType, Dataset
from tally.ingest.decimal_arrays import from_values
from tally.ingest.rows import MAX_STRING, BadValue, converter

ALLOWED: dict[ColumnType, frozenset[type]] = {
    ColumnType.STRING: frozenset({str}),
    ColumnType.INT: frozenset({int}),
    ColumnType.FLOAT: frozenset({int, float}),
    ColumnType.DECIMAL: frozenset({int, float, str}),
    ColumnType.BOOL: frozenset({bool}),
    ColumnType.TIMESTAMP: frozenset({str}),
    ColumnType.DATE: frozenset({str}),
    ColumnType.STRING_ARRAY: frozenset({list}),
    ColumnType.JSON: frozenset({dict}),
    ColumnType.FLOAT_MAP: frozenset({dict}),
}
NUMBERS = frozenset({int, float})


class NotClean(Exception):
    """The batch needs the row validator."""


def all_true(mask: pa.Array | pa.ChunkedArray) -> bool:
    """True when no value is false (nulls and empty arrays pass)."""
    return pc.all(mask, min_count=0).as_py()


def _strings(kind: ColumnType, array: pa.Array) -> pa.Array | None:
    """The strings the length limit applies to: values, list items, map keys (never null)."""
    if kind is ColumnType.STRING:
        return array.drop_null()
    if kind is ColumnType.STRING_ARRAY:
        return array.flatten()
    if kind is ColumnType.FLOAT_MAP:
        return array.keys
    return None


def convert(column: Column, values: list[Any]) -> pa.Array:
    """Values of one column as JSON parsing gives them (of an ALLOWED type, or None) as a
    checked array. Arrow refuses every JSON value but a string as an item of a string list
    (a null item is caught in `finish`) and every non-number in a float map but true/false."""
    kind = column.type
    if kind is ColumnType.JSON:
        try:
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        except TypeError:  # nested too deeply for orjson to write
            raise NotClean from None
    elif kind is ColumnType.FLOAT_MAP:
        maps = [v for v in values if v is not None]
        if any(type(x) not in NUMBERS for d in maps for x in d.values()):
            raise NotClean
        values = [None if v is None else list(v.items()) for v in values]
    elif kind is ColumnType.DECIMAL:
        bulk = from_values(column, values)
        if bulk is not None:
            return finish(column, bulk)
        exact = converter(column)
        try:
            values = [None if v is None else exact(v) for v in values]
        except BadValue:
            raise NotClean from None
    if kind in (ColumnType.TIMESTAMP, ColumnType.DATE):
        return finish(column, pa.array(values, pa.string()))
    try:
        array = pa.array(values, arrow_type(column))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        raise NotClean from None
    return finish(column, array)


def finish(column: Column, array: pa.Array) -> pa.Array:
    """The checks Arrow does in bulk: timestamps and dates (given as strings) cast to their type,
    finite numbers, no null in a string list, the string length limit, enums."""
    kind = column.type
    if kind is ColumnType.DATE and not all_true(pc.equal(pc.utf8_length(array), 10)):
        raise NotClean
    if kind in (ColumnType.TIMESTAMP, ColumnType.DATE):
        try:
            array = array.cast(arrow_type(column))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise NotClean from None
    numbers = array.items if kind is ColumnType.FLOAT_MAP else array
    if kind in (ColumnType.FLOAT, ColumnType.FLOAT_MAP) and not all_true(pc.is_finite(numbers)):
        raise NotClean
    strings = _strings(kind, array)
    if strings is not None and (
        strings.null_count or (pc.max(pc.utf8_length(strings)).as_py() or 0) > MAX_STRING
    ):
        raise NotClean
    if column.enum and not all_true(pc.is_in(array.drop_null(), pa.array(column.enum))):
        raise NotClean
    return array


def in_scope(batch: pa.Table, dataset: Dataset, scope: Mapping[str, Sequence[str]] | None) -> bool:
    """Whether every row's tenant columns hold values of `scope` (column -> values)."""
    for column, allowed in (scope or {}).items():
        physical = dataset.column(column).physical
        if not all_true(pc.is_in(batch.column(physical), pa.array(list(allowed)))):
            return False
    return True


def clean_batch(
    rows: Sequence[Any], dataset: Dataset, scope: Mapping[str, Sequence[str]] | None
) -> pa.Table | None:
    """The rows as an Arrow batch if all are clean and inside `scope` (column -> values)."""
    if not rows or not all(type(row) is dict for row in rows):
        return None
    stored = dataset.stored_columns
    if not set().union(*rows) <= {c.name for c in stored}:
        return None
    arrays = []
    try:
        for column in stored:
            values = [row.get(column.name) for row in rows]
            kinds = set(map(type, values))
            if type(None) in kinds:
                if not column.nullable:
                    return None
                kinds.discard(type(None))
            if not kinds <= ALLOWED[column.type]:
                return None
            arrays.append(convert(column, values))
    except NotClean:
        return None
    batch = pa.Table.from_arrays(arrays, schema=arrow_schema(dataset))
    return batch if in_scope(batch, dataset, scope) else None
