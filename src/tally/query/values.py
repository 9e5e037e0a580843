"""Check a filter value against its field and operator, and turn it into a typed Python value.

Validation and compilation share this one function, so a value the validator accepted is exactly
the value the compiler binds as a parameter.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from tally.catalog.decimals import exact_decimal
from tally.catalog.model import ColumnType
from tally.catalog.vocabulary import LIST_OPS, NO_VALUE_OPS, TEXT_OPS, FilterOp
from tally.query.fields import FieldRef
from tally.query.patterns import check_regex

MAX_LIST = 1000
_AWARE = TypeAdapter(AwareDatetime)
_DATE = TypeAdapter(date)
_TEMPORAL = {
    ColumnType.TIMESTAMP: (_AWARE, "an ISO 8601 timestamp with a timezone"),
    ColumnType.DATE: (_DATE, "a date YYYY-MM-DD"),
}


def _scalar(vtype: ColumnType, value: Any, ref: FieldRef, op: str) -> Any:
    if isinstance(value, (list, dict)) or value is None:
        raise ValueError("expected a single value")
    if ref.kind == "json" and op not in TEXT_OPS:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return value
        raise ValueError("expected a string or a number")
    if vtype in (ColumnType.STRING, ColumnType.STRING_ARRAY):
        if not isinstance(value, str):
            raise ValueError("expected a string")
        enum = ref.column.enum if ref.kind == "column" else None
        if enum and op not in TEXT_OPS and value not in enum:
            raise ValueError(f"{value!r} is not one of {', '.join(enum)}")
        return value
    if vtype is ColumnType.BOOL:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if vtype is ColumnType.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError("expected an integer")
        return value
    if vtype is ColumnType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        return value
    if vtype is ColumnType.DECIMAL:
        # compared exactly: bound as a Decimal of the column's scale, never a float
        return exact_decimal(value, ref.column.scale or 0)
    if vtype in _TEMPORAL:
        adapter, expected = _TEMPORAL[vtype]
        if isinstance(value, str):
            try:
                return adapter.validate_python(value)
            except ValidationError:
                pass
        raise ValueError(f"expected {expected}")
    raise ValueError(f"{ref.name!r} cannot be compared with a value")


def coerce_value(ref: FieldRef, op: str, value: Any) -> Any:
    """Return the typed value for `op` on `ref`, or raise ValueError with a safe reason."""
    if op not in ref.ops:
        raise ValueError(f"operator {str(op)!r} is not allowed on {ref.name!r}")
    if op in NO_VALUE_OPS:
        if value is not None:
            raise ValueError(f"{op} takes no value")
        return None
    vtype = ref.value_type
    if op in TEXT_OPS and vtype is not ColumnType.STRING:
        raise ValueError(f"{op} needs a text field")
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            raise ValueError(f"{op} takes a non-empty array")
        if len(value) > MAX_LIST:
            raise ValueError(f"{op} takes at most {MAX_LIST} values")
        return _one_kind(ref, [_scalar(vtype, v, ref, op) for v in value])
    if op == FilterOp.BETWEEN:
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("between takes [min, max]")
        low, high = _one_kind(ref, [_scalar(vtype, v, ref, op) for v in value])
        return [low, high]
    found = _scalar(vtype, value, ref, op)
    return check_regex(found) if op == FilterOp.REGEX else found


def _one_kind(ref: FieldRef, values: list[Any]) -> list[Any]:
    """A JSON value is compared as a number when every value given is one, else as text: a
    list mixing both would ask for each comparison both ways at once."""
    if ref.kind == "json" and len({isinstance(v, str) for v in values}) > 1:
        raise ValueError("a JSON value is compared with numbers or with text: give one kind")
    return values


def is_temporal(value: Any) -> bool:
    return isinstance(value, (datetime, date))
