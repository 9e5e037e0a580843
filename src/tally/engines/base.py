"""What every engine offers the service: run SQL with parameters, create tables, load batches.

Engines know tables and SQL text, never the query IR; the service hands them compiled SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from tally.catalog.storage import TableSpec
from tally.engines.cancel import Cancel
from tally.engines.frame import Frame
from tally.errors import TallyError, unavailable


def timed_out(timeout_s: float) -> TallyError:
    """The 503 every engine answers when a query outlives its timeout."""
    return unavailable(
        f"the query took longer than {timeout_s:g} s and was stopped; "
        "narrow the window or the groups",
        retry_after=1,
    )


@dataclass(frozen=True)
class WriteOutcome:
    accepted: int
    duplicates: int
    updated: int = 0


class Engine(Protocol):
    name: str

    def execute(
        self, sql: str, params: dict[str, Any], timeout_s: float
    ) -> tuple[list[str], list[tuple]]: ...

    def frame(
        self,
        sql: str,
        params: dict[str, Any],
        timeout_s: float,
        columnar: bool,
        cancel: Cancel | None = None,
    ) -> Frame:
        """Like `execute`; `columnar` asks for Arrow columns where the engine has them, and
        `cancel` (when given) can stop the statement from another thread."""
        ...

    def ensure_table(
        self, create_sql: str, spec: TableSpec, add_columns: dict[str, str]
    ) -> None: ...

    def write(self, spec: TableSpec, batch: pa.Table) -> WriteOutcome: ...

    def compact(self, spec: TableSpec) -> int: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
