"""Whether a declared column can be read from a source column of a given type: one rule for
`tally datasets check --connect` and for the server's start-up (tally.external), so a file the
check accepts is one the server serves, and the reverse.

A `decimal` reads an exact source only: an integer (minor units, divided by 10^scale) or a
decimal. A float source is refused: money read from floats is what `decimal` exists to avoid."""

from __future__ import annotations

from tally.authoring.described import SourceColumn
from tally.catalog.model import NUMERIC_TYPES, Column, ColumnType

_TEMPORAL = frozenset({ColumnType.TIMESTAMP, ColumnType.DATE})
# What a declared type can read, by the Tally type of the source column.
READS: dict[ColumnType, frozenset[ColumnType]] = {
    **dict.fromkeys(NUMERIC_TYPES, NUMERIC_TYPES),
    ColumnType.DECIMAL: frozenset({ColumnType.INT, ColumnType.DECIMAL}),
    **dict.fromkeys(_TEMPORAL, _TEMPORAL),
    ColumnType.JSON: frozenset({ColumnType.JSON, ColumnType.STRING}),
}


def unreadable(col: Column, source: SourceColumn) -> str | None:
    """Why `col` cannot read `source` (None when it can, or when a JSON path decides)."""
    held = source.mapped.type
    if col.source_path.json_path:
        return None
    if held in READS.get(col.type, frozenset({col.type})):
        return None
    kind = held.value if held is not None else "no Tally type"
    why = f"the source column {source.name!r} is {source.native} ({kind}), not {col.type.value}"
    if col.type is ColumnType.DECIMAL and held is ColumnType.FLOAT:
        why += " (a decimal reads integers as minor units or exact decimals, never floats)"
    return why
