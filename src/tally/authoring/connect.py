"""`tally datasets check --connect`: the columns a file reads exist in its source, with a type
the declared one can be read from."""

from __future__ import annotations

import difflib

from tally.authoring.described import SourceColumn, SourceError
from tally.authoring.reading import source_columns
from tally.catalog.model import NUMERIC_TYPES, Column, ColumnType, Dataset
from tally.catalog.problems import Problem

_TEMPORAL = frozenset({ColumnType.TIMESTAMP, ColumnType.DATE})
# What a declared type can read, by the Tally type of the source column.
READS: dict[ColumnType, frozenset[ColumnType]] = {
    **dict.fromkeys(NUMERIC_TYPES, NUMERIC_TYPES),
    **dict.fromkeys(_TEMPORAL, _TEMPORAL),
    ColumnType.JSON: frozenset({ColumnType.JSON, ColumnType.STRING}),
}


def missing_columns(file: str, dataset: Dataset) -> list[Problem]:
    """Each stored column whose source column (its `from`, else its name) the source lacks, or
    holds in a type it cannot be read as; an unreadable source is one problem at its
    declaration."""
    if dataset.source is None:
        return []
    try:
        found = {c.name: c for c in source_columns(dataset.source)}
    except SourceError as exc:
        return [Problem(file, f"source.{dataset.source.kind}", str(exc))]
    problems = []
    for i, col in enumerate(dataset.columns):
        wanted = col.source_path.column
        if col.derived is not None:
            continue
        field = f"columns[{i}].from" if col.from_ else f"columns[{i}].name"
        if wanted not in found:
            close = difflib.get_close_matches(wanted, list(found), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(Problem(file, field, f"the source has no column {wanted!r}{hint}"))
        elif reason := _unreadable(col, found[wanted]):
            problems.append(Problem(file, f"columns[{i}].type", reason))
    return problems


def _unreadable(col: Column, source: SourceColumn) -> str | None:
    """Why `col` cannot read `source` (None when it can, or when a JSON path decides)."""
    held = source.mapped.type
    if col.source_path.json_path:
        return None
    if held in READS.get(col.type, frozenset({col.type})):
        return None
    kind = held.value if held is not None else "no Tally type"
    return f"the source column {source.name!r} is {source.native} ({kind}), not {col.type.value}"
