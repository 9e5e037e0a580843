"""A dataset declaration drafted from a source's columns: Tally names, mapped types, the tenant,
time and key columns, and a note beside whatever a reader should review."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tally.authoring.described import SourceColumn
from tally.authoring.target import Target
from tally.catalog.model import ColumnType, Dataset
from tally.catalog.problems import validation_problems

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_NAME = re.compile(r"[^a-z0-9_]+")
NO_KEY_NOTE = (
    "no primary key in the source: key_columns only identify rows for ingestion, which an "
    "external dataset refuses; name the columns that identify a row"
)


class DraftError(ValueError):
    """A choice of the user that the source cannot satisfy; the message lists the options."""


@dataclass
class Draft:
    """The file's fields in the order they are written, notes by column index, and what the
    user is told."""

    fields: dict[str, Any]
    column_notes: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def dataset(self) -> Dataset:
        return Dataset.model_validate(self.fields)


def tally_name(source_name: str) -> str:
    """A valid Tally column name for a source column: `createdAt` -> `created_at`,
    `Order ID` -> `order_id`, `2024 total` -> `_2024_total`."""
    name = _NOT_NAME.sub("_", _CAMEL.sub("_", source_name).lower()).strip("_") or "column"
    name = re.sub("_+", "_", name)
    return f"_{name}" if name[0].isdigit() else name


def _named(columns: list[SourceColumn]) -> tuple[list[tuple[str, SourceColumn]], list[str]]:
    """Each usable source column with its unique Tally name; the notes of those left out."""
    named: list[tuple[str, SourceColumn]] = []
    left_out: list[str] = []
    taken: set[str] = set()
    for col in columns:
        if col.mapped.type is None or ":" in col.name:
            reason = col.mapped.note or f"{col.name!r}: a name with ':' cannot be read"
            left_out.append(f"{col.name}: {reason}")
            continue
        base = name = tally_name(col.name)
        suffix = 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        named.append((name, col))
    return named, left_out


def _pick(named: list[tuple[str, SourceColumn]], wanted: str, role: str) -> str:
    for name, col in named:
        if wanted in (col.name, name):
            return name
    options = ", ".join(col.name for _, col in named)
    raise DraftError(f"{role} {wanted!r} is not a column of the source (columns: {options})")


def _keys(named: list[tuple[str, SourceColumn]], tenants: list[str]) -> tuple[list[str], bool]:
    keyed = sorted((c.key_position, n) for n, c in named if c.key_position is not None)
    if keyed:
        return [n for _, n in keyed], True
    if any(n == "id" for n, _ in named):
        return ["id"], True
    return tenants[:1], False


def _column(name: str, col: SourceColumn) -> dict[str, Any]:
    mapped = col.mapped
    assert mapped.type is not None, "unusable columns are left out before"
    entry: dict[str, Any] = {"name": name, "type": mapped.type.value}
    if mapped.scale is not None:
        entry["scale"] = mapped.scale
    if name != col.name:
        entry["from"] = col.name
    if not col.nullable:
        entry["nullable"] = False
    if mapped.enum:
        entry["enum"] = list(mapped.enum)
    return entry


def draft(
    name: str,
    target: Target,
    columns: list[SourceColumn],
    tenants: list[str],
    time: str | None,
) -> Draft:
    named, left_out = _named(columns)
    tenant_columns = [_pick(named, t, "tenant column") for t in tenants]
    notes = [f"left out {line}" for line in left_out]
    fields: dict[str, Any] = {
        "name": name,
        "description": f"Read in place from {target.label}.",
        "source": {target.source.kind: target.source.spec.model_dump(exclude_defaults=True)},
        "tenant_columns": tenant_columns,
    }
    types = {n: c.mapped.type for n, c in named}
    if time is not None:
        fields["time_column"] = _pick(named, time, "time column")
        if types[fields["time_column"]] not in (ColumnType.TIMESTAMP, ColumnType.DATE):
            raise DraftError(f"time column {time!r} is not a timestamp or a date")
    else:
        candidates = [n for n, t in types.items() if t in (ColumnType.TIMESTAMP, ColumnType.DATE)]
        notes.append(
            "no --time: queries take no time window"
            + (f" (timestamp or date columns: {', '.join(candidates)})" if candidates else "")
        )
    keys, found = _keys(named, tenant_columns)
    fields["key_columns"] = keys
    if not found:
        notes.append(f"key_columns: {NO_KEY_NOTE}")
    fields["columns"] = [_column(n, c) for n, c in named]
    column_notes = {i: c.mapped.note for i, (_, c) in enumerate(named) if c.mapped.note}
    result = Draft(fields, column_notes, notes)
    try:
        result.dataset()
    except ValidationError as exc:
        found = "; ".join(str(p) for p in validation_problems(name, exc))
        raise DraftError(f"the draft is not a valid dataset: {found}") from None
    return result
