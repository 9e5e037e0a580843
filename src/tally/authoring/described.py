"""What a source says of one table: its columns as the source spells them."""

from __future__ import annotations

from dataclasses import dataclass

from tally.authoring.typemap import Mapped


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
