"""What a source says of one table: its columns as the source spells them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from tally.authoring.typemap import Mapped
from tally.catalog.model import ColumnType

JSON_SAMPLE_ROWS = 200
HOLDS_JSON = Mapped(ColumnType.JSON, note="text holding JSON objects: read as json")


@dataclass(frozen=True)
class SourceColumn:
    """A source column: its name as the source spells it, its native type, its Tally type,
    whether it may be null, and its position in the primary key (None: not in it)."""

    name: str
    native: str
    mapped: Mapped
    nullable: bool = True
    key_position: int | None = None


class SourceError(Exception):
    """A source that cannot be read, or has no such table; the message is safe to print (it
    never holds a password)."""


def all_json_objects(values: Iterable[object]) -> bool:
    """Whether sampled text values (nulls left out) are all JSON objects, and there are some:
    such a text column is read as `json`, so its keys can be asked for."""
    seen = False
    for value in values:
        if not isinstance(value, str | bytes):
            return False
        try:
            if not isinstance(orjson.loads(value), dict):
                return False
        except orjson.JSONDecodeError:
            return False
        seen = True
    return seen
