"""What every engine offers the service: run SQL with parameters, create tables, load batches.

Engines know tables and SQL text, never the query IR; the service hands them compiled SQL.
"""

from __future__ import annotations

from collections.abc import Callable
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


def out_of_memory() -> TallyError:
    """The 503 of a query refused by the engine's memory budget (TALLY_ENGINE_MEMORY_LIMIT):
    the budget may be shared with the queries of the moment, so a retry may succeed."""
    return unavailable(
        "the query needed more memory than the engine may use; "
        "narrow the window or the groups, or try again when fewer queries run",
        retry_after=2,
    )


@dataclass(frozen=True)
class Maintenance:
    """Statements that keep derived tables (rollups) in step with a write, run inside the
    write's transaction after the rows are stored: a batch and its derived rows are stored
    together or not at all. They read two temporary relations: `_written`, the rows the write
    stored (an idempotent replay's duplicates are not among them; a view of the batch when none
    of its keys was stored), and `_replaced`, the stored rows an upsert replaced (upserts
    only). A step that is not SQL is called with the write's cursor (Python work between the
    statements, in the same transaction: numbering a batch's values from a mirror in memory);
    `settled` are told after the transaction whether it committed, so such a mirror keeps only
    what the tables keep."""

    statements: tuple[str | Callable[[Any], None], ...]
    settled: tuple[Callable[[bool], None], ...] = ()


MaintenanceSource = Callable[[], Maintenance | None]
"""What a write asks for its `Maintenance` once it holds the engine's write lock: the derived
tables it keeps are then those of that moment, which a reload changes only between writes (a
write that chose its steps earlier could keep a table dropped meanwhile, or miss one made)."""


def refuse_maintenance(engine: str, maintain: MaintenanceSource | None) -> None:
    """Engines without derived tables: the service never hands them statements to keep."""
    if maintain is not None and maintain() is not None:
        raise TallyError("not_supported", f"rollups are not maintained on {engine}", 400)


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

    def write(
        self, spec: TableSpec, batch: pa.Table, maintain: MaintenanceSource | None = None
    ) -> WriteOutcome: ...

    def compact(self, spec: TableSpec) -> int: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
