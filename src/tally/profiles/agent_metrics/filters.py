"""One API filter -> one IR filter node, after checking its operator and value against the field.

Values are checked here, with the API's words, so a client reads `Field "agentName" does not
support operator "IS_NULL"` rather than an IR message; the IR validates the result again.
"""

from __future__ import annotations

from typing import Any

from tally.catalog.model import ColumnType, Dataset
from tally.profiles.agent_metrics.fields import (
    LIST_OPERATORS,
    NO_VALUE_OPERATORS,
    OPERATORS,
    ApiField,
    Datasource,
)
from tally.query.fields import resolve_field
from tally.query.model import And, Filter, Leaf, Not
from tally.query.values import coerce_value

_KINDS = {
    ColumnType.STRING: "string",
    ColumnType.STRING_ARRAY: "string",
    ColumnType.INT: "integer",
    ColumnType.FLOAT: "number",
    ColumnType.DECIMAL: "number",
    ColumnType.BOOL: "boolean",
}


class FilterError(ValueError):
    """Why a filter is refused; the message is safe to show."""


def subject_rows(source: Datasource, field: ApiField) -> Leaf | None:
    """Rows of the field's subject type, for the fields that are one view of the subject slug."""
    if field.subject_type is None:
        return None
    return Leaf(field=source.subject_type_column, op="eq", value=field.subject_type)


def filter_node(
    source: Datasource, dataset: Dataset, field: ApiField, operator: str, value: Any
) -> Filter:
    """The IR condition of one filter."""
    if operator not in field.operators:
        raise FilterError(f'Field "{field.name}" does not support operator "{operator}"')
    ref = resolve_field(dataset, field.column)
    typed = _value(field, operator, value, _KINDS[ref.value_type])
    try:
        coerce_value(ref, OPERATORS[operator][0], typed)
    except ValueError as exc:  # e.g. a decimal with more places than its scale
        raise FilterError(f'Field "{field.name}": {exc}') from None
    op, negated = OPERATORS[operator]
    leaf = Leaf(field=field.column, op=op, value=typed)
    node: Filter = Not(not_=leaf) if negated else leaf
    subject = subject_rows(source, field)
    return node if subject is None else And(and_=[subject, node])


def _value(field: ApiField, operator: str, value: Any, kind: str) -> Any:
    where = f'Operator "{operator}" on field "{field.name}"'
    if operator in NO_VALUE_OPERATORS:
        if value is not None:
            raise FilterError(f"{where} takes no value")
        return None
    if value is None:
        raise FilterError(f"{where} needs a value")
    if operator in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            raise FilterError(f"{where} needs a non-empty array value")
        return [_scalar(field, v, kind) for v in value]
    if operator == "BETWEEN":
        if not isinstance(value, list) or len(value) != 2:
            raise FilterError(f"{where} needs a value [min, max]")
        low, high = (_scalar(field, v, kind) for v in value)
        if low > high:
            raise FilterError(f"{where} needs min <= max")
        return [low, high]
    if isinstance(value, (list, dict)):
        raise FilterError(f"{where} needs a single value, not an array or object")
    return _scalar(field, value, kind)


def _scalar(field: ApiField, value: Any, kind: str) -> Any:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "number" and number:
        return value
    if kind == "integer" and number and float(value).is_integer():
        return int(value)
    raise FilterError(f'Field "{field.name}" takes {kind} values, got {value!r}')
