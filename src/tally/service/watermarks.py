"""The newest event time a scope can see (`meta.watermark`), remembered per data version.

Asking the engine for `max(time)` on every answer would double the work of small queries, so the
value is memoized under (dataset, scope, data version): an ingestion into the scope's tenants
bumps the version and the next answer asks again. The version carries the store's epoch and this
process's ingestions (versions.py), so a Redis that restarted empty cannot hand back an old
value. While the version cannot be known (Redis down) nothing is remembered: every answer asks
the engine, as another replica may have ingested meanwhile. A newest time remembered at ingestion
would not do instead: a duplicate row is not stored, and an upsert may move a row back in time.

An external dataset's rows arrive without Tally seeing them, so there the newest time is read
from the source and remembered for the source's `watermark_interval_seconds`, never longer than
its `refresh_interval_seconds` (0: not remembered), and until a refresh call bumps the dataset's
version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from tally.cache.versions import DataVersions
from tally.catalog import Dataset
from tally.engines.base import Engine
from tally.engines.frame import Frame
from tally.query.model import Measure, Query
from tally.query.scope import Scope
from tally.service.sources import Readers
from tally.sql.compiler import Compiled
from tally.sql.statements import StatementCache

MAX_REMEMBERED = 10_000
_UNKNOWN = object()


def scope_tenants(scope: Scope, dataset: Dataset) -> tuple[str, ...] | None:
    """The primary tenants a scope reads, or None when it reads them all."""
    if scope.unrestricted or dataset.primary_tenant not in scope.columns:
        return None
    return scope.columns[dataset.primary_tenant]


def remembered_for(dataset: Dataset) -> float:
    """How long an external dataset's newest time is remembered: its watermark interval, but
    never past its refresh interval, so an answer recomputed after a refresh (counting newer
    rows) cannot carry an older watermark; 0 remembers nothing. An owned dataset's lasts until
    its version changes."""
    if dataset.source is None:
        return float("inf")
    source = dataset.source
    return min(source.watermark_interval_seconds, source.refresh_interval_seconds)


class Watermarks:
    def __init__(
        self,
        readers: Readers,
        versions: DataVersions,
        run: Callable[[Engine, Compiled], Frame],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._readers = readers
        self._versions = versions
        self._run = run
        self._clock = clock
        self._memo: dict[tuple, tuple[datetime | None, float]] = {}
        # The probe's statement is the same for a scope until the dataset changes; compiling it
        # costs more than running it on a small table (about 8 ms of sqlglot against 1-5 ms).
        self._statements = StatementCache()

    def of(self, dataset: Dataset, scope: Scope) -> datetime | None:
        if dataset.time_column is None:
            return None
        version = self._versions.of(dataset.name, scope_tenants(scope, dataset))
        key = (dataset.fingerprint, repr(scope.canonical()), version)
        # One read: another thread may clear the memo between a membership test and a lookup.
        found = self._memo.get(key, _UNKNOWN) if version is not None else _UNKNOWN
        if found is not _UNKNOWN:
            value, expires = found  # type: ignore[misc]
            if self._clock() < expires:
                return value
        probe = Query(
            dataset=dataset.name,
            measures=[Measure(op="max", field=dataset.time_column, as_="newest")],
            limit=1,
        )
        reader = self._readers.of(dataset)
        compiled = self._statements.get(
            [dataset.fingerprint, scope.canonical()],
            lambda: reader.compiler(dataset, scope).compile(probe),
        )
        value = self._run(reader.engine, compiled).first(compiled.alias_of("newest"))
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        if version is not None:
            if len(self._memo) > MAX_REMEMBERED:
                self._memo.clear()
            lasts = remembered_for(dataset)
            if lasts > 0:
                self._memo[key] = (value, self._clock() + lasts)
        return value
