"""The newest event time a scope can see (`meta.watermark`), remembered per data version.

Asking the engine for `max(time)` on every answer would double the work of small queries, so the
value is memoized under (dataset, scope, data version): an ingestion into the scope's tenants
bumps the version and the next answer asks again. The version carries the store's epoch and this
process's ingestions (versions.py), so a Redis that restarted empty cannot hand back an old
value. While the version cannot be known (Redis down) nothing is remembered: every answer asks
the engine, as another replica may have ingested meanwhile. A newest time remembered at ingestion
would not do instead: a duplicate row is not stored, and an upsert may move a row back in time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tally.cache.versions import DataVersions
from tally.catalog import Dataset
from tally.engines.frame import Frame
from tally.query.model import Measure, Query
from tally.query.scope import Scope
from tally.sql.compiler import Compiled, Compiler
from tally.sql.dialect import Dialect

MAX_REMEMBERED = 10_000
_UNKNOWN = object()


def scope_tenants(scope: Scope, dataset: Dataset) -> tuple[str, ...] | None:
    """The primary tenants a scope reads, or None when it reads them all."""
    if scope.unrestricted or dataset.primary_tenant not in scope.columns:
        return None
    return scope.columns[dataset.primary_tenant]


class Watermarks:
    def __init__(
        self, dialect: Dialect, versions: DataVersions, run: Callable[[Compiled], Frame]
    ) -> None:
        self._dialect = dialect
        self._versions = versions
        self._run = run
        self._memo: dict[tuple, datetime | None] = {}

    def of(self, dataset: Dataset, scope: Scope) -> datetime | None:
        if dataset.time_column is None:
            return None
        version = self._versions.of(dataset.name, scope_tenants(scope, dataset))
        key = (dataset.fingerprint, repr(scope.canonical()), version)
        # One read: another thread may clear the memo between a membership test and a lookup.
        found = self._memo.get(key, _UNKNOWN) if version is not None else _UNKNOWN
        if found is not _UNKNOWN:
            return found
        probe = Query(
            dataset=dataset.name,
            measures=[Measure(op="max", field=dataset.time_column, as_="newest")],
            limit=1,
        )
        compiled = Compiler(self._dialect, dataset, scope).compile(probe)
        value = self._run(compiled).first(compiled.alias_of("newest"))
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        if version is not None:
            if len(self._memo) > MAX_REMEMBERED:
                self._memo.clear()
            self._memo[key] = value
        return value
