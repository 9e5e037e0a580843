"""The answer to a query as profiles receive it, and the narrow way they ask for answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tally.query.model import Query


@dataclass
class Result:
    """Rows keyed by group field names, `time` (an aware datetime in the query's timezone) and
    measure labels; `meta` carries the native API's meta object."""

    rows: list[dict[str, Any]]
    groups: list[str]
    measures: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


class Runner(Protocol):
    """Answers questions for one caller: validated, scoped to what the caller may read, cached.

    Profiles and reports that ask several dependent questions get this, never the service, so
    they cannot reach an engine, another caller's scope or a write path."""

    def run(self, query: Query) -> Result: ...

    def run_all(self, queries: Sequence[Query]) -> list[Result]: ...
