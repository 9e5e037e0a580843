"""Answering questions: validate, scope, normalize, then answer from the cache or the engine.

`answer` is the one verb (with `answer_async`, its form for the event loop: a fresh cache hit is
served there at once, and only a miss goes to a worker thread). Everything before SQL is
`Planned`; the statement, the rows and the facts about them are made by `_execute`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
import orjson

from tally.auth.principal import Principal
from tally.auth.scope import dataset_scope
from tally.cache.keys import CacheKey, cache_key
from tally.cache.layer import CacheInfo, ResultCache
from tally.cache.versions import DataVersions
from tally.catalog import Catalog, Dataset
from tally.catalog.holder import CatalogHolder
from tally.config import Settings
from tally.engines.base import Engine
from tally.engines.frame import Frame
from tally.errors import unavailable
from tally.logs import trace_id
from tally.query.model import CompareRange, Query, time_group
from tally.query.normalize import normalize
from tally.query.nulls import settle_null_tests
from tally.query.ordering import OTHER_KEY
from tally.query.scope import Scope
from tally.query.validate import validate
from tally.result import Result
from tally.service.watermarks import Watermarks, scope_tenants
from tally.shaping import fill_buckets, join_previous, name_rows
from tally.sql.compiler import Compiled, Compiler
from tally.sql.dialect import Dialect
from tally.sql.statements import StatementCache

COLUMNAR_FROM_LIMIT = 1_000
slow_queries = logging.getLogger("tally.slow_query")


def query_hash(query: Query) -> str:
    """A stable name for a normalized question that says nothing of it: filter values may be
    personal data, so a slow-query line carries this hash, never the query."""
    canonical = orjson.dumps(query.canonical(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


@dataclass(frozen=True)
class Planned:
    """A question ready for SQL: normalized, its dataset, and the caller's scope on it."""

    query: Query
    dataset: Dataset
    scope: Scope


class Answers:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | CatalogHolder,
        engine: Engine,
        dialect: Dialect,
        cache: ResultCache | None,
        versions: DataVersions,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self._catalogs = CatalogHolder.of(catalog)
        self.engine = engine
        self.dialect = dialect
        self.cache = cache
        self.versions = versions
        self.clock = clock
        self.observers: list[Callable[[str, float], None]] = []
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_queries)
        self._statements = StatementCache()
        self.watermarks = Watermarks(dialect, versions, self._run_sql)

    @property
    def catalog(self) -> Catalog:
        """The catalog of the running request (see CatalogHolder)."""
        return self._catalogs.current

    def answer(self, query: Query, principal: Principal) -> Result:
        """The answer to `query` as `principal` may see it, from the cache when it may be."""
        return self._answer_planned(self._plan(query, principal))

    async def answer_async(self, query: Query, principal: Principal) -> Result:
        """`answer` for the event loop: planning and a fresh cache hit never block, so they run
        here; a miss (or any lookup while Redis is down) runs in a worker thread."""
        planned = self._plan(query, principal)
        if self.cache is not None and self.cache.inline:
            found = await self.cache.peek(self._cache_key(planned), planned.query.cache)
            if found is not None:
                result, info = found
                result.meta["cache"] = info.as_dict()
                return result
        return await anyio.to_thread.run_sync(self._answer_planned, planned)

    def runner(self, principal: Principal) -> BoundRunner:
        """What profiles and reports run their queries through, as `principal`."""
        return BoundRunner(self, principal)

    def explain(self, query: Query, principal: Principal) -> dict[str, Any]:
        """The SQL the question would run (admin only); never executed."""
        principal.require("admin")
        planned = self._plan(query, principal)
        compiled = Compiler(self.dialect, planned.dataset, planned.scope).compile(planned.query)
        return {
            "dialect": self.dialect.name,
            "sql": compiled.sql,
            "params": compiled.params,
            "query": planned.query.canonical(),
        }

    def _plan(self, query: Query, principal: Principal) -> Planned:
        """Validate, normalize and scope: everything before SQL."""
        principal.require("viewer")
        dataset = self.catalog.require(query.dataset, in_body=True)
        validate(query, dataset, self.settings.limits)
        settled = settle_null_tests(query, dataset)
        normalized = normalize(settled, self.clock(), self.settings.limits)
        return Planned(normalized, dataset, dataset_scope(principal, dataset, normalized.scope))

    def _cache_key(self, planned: Planned) -> CacheKey:
        """The entry's key leaves out the data versions: the entry records them (versions.py)."""
        query, dataset, scope = planned.query, planned.dataset, planned.scope
        return CacheKey(
            cache_key(query.canonical(), scope.canonical(), self.engine.name, dataset.fingerprint),
            self.versions.counters(dataset.name, scope_tenants(scope, dataset)),
            dataset.cache_ttl_seconds or self.settings.cache_ttl_s,
        )

    def _answer_planned(self, planned: Planned) -> Result:
        if self.cache is None:
            result = self._execute(planned)
            info = CacheInfo(False, False, datetime.now(UTC), 0)
        else:
            result, info = self.cache.get_or_compute(
                self._cache_key(planned), planned.query.cache, lambda: self._execute(planned)
            )
        result.meta["cache"] = info.as_dict()
        return result

    def _execute(self, planned: Planned) -> Result:
        query, dataset, scope = planned.query, planned.dataset, planned.scope
        started = time.perf_counter()
        compiled = self._compile(planned)
        previous = self._compile(planned, compare=True) if query.compare else None
        compile_ms = (time.perf_counter() - started) * 1000
        tz = ZoneInfo(query.timezone)
        columnar = (query.limit or 0) > COLUMNAR_FROM_LIMIT
        frame = self._run_sql(compiled, columnar)
        truncated = query.fill == "none" and (
            len(frame) >= (query.limit or 0) or (not len(frame) and query.offset > 0)
        )
        if truncated:
            compiled = self._compile(planned, count_rows=True)
            frame = self._run_sql(compiled, columnar)
        rows, totals = name_rows(compiled, frame, tz)
        if totals["total_rows"] is None:
            totals["total_rows"] = query.offset + len(frame)
            if truncated and not len(frame):
                totals["total_rows"] = self._count_rows(planned)
        if query.fill != "none":
            rows = fill_buckets(query, rows, compiled)
        if previous is not None:
            earlier, _ = name_rows(previous, self._run_sql(previous, columnar), tz)
            join_previous(query, rows, earlier, compiled)
        if compiled.has_other:
            for row in rows:
                row.pop(OTHER_KEY, None)
        execute_ms = (time.perf_counter() - started) * 1000 - compile_ms
        meta = _meta(query, dataset, scope, compiled, totals)
        meta["watermark"] = self.watermarks.of(dataset, scope)
        meta["timing_ms"] = {"compile": round(compile_ms, 3), "execute": round(execute_ms, 3)}
        for observe in self.observers:
            observe(dataset.name, execute_ms / 1000)
        if compile_ms + execute_ms >= self.settings.slow_query_ms:
            self._log_slow(planned, compile_ms, execute_ms, len(rows))
        return Result(rows=rows, groups=compiled.groups, measures=compiled.measures, meta=meta)

    def _log_slow(self, planned: Planned, compile_ms: float, execute_ms: float, rows: int) -> None:
        facts = {
            "trace_id": trace_id.get(),
            "query_hash": query_hash(planned.query),
            "dataset": planned.dataset.name,
            "engine": self.engine.name,
            "total_ms": round(compile_ms + execute_ms, 2),
            "compile_ms": round(compile_ms, 2),
            "execute_ms": round(execute_ms, 2),
            "rows": rows,
        }
        slow_queries.warning("slow query", extra={"fields": facts})

    def _count_rows(self, planned: Planned) -> int:
        """The number of result rows of a query whose offset skips past all of them: the
        counting window of the statement has no row to ride on, so ask for the first row."""
        first = planned.query.model_copy(update={"offset": 0, "limit": 1})
        probe = Planned(first, planned.dataset, planned.scope)
        compiled = self._compile(probe, count_rows=True)
        found = self._run_sql(compiled)
        return found.first(compiled.total_rows_alias) if len(found) else 0

    def _compile(
        self, planned: Planned, compare: bool = False, count_rows: bool = False
    ) -> Compiled:
        query, dataset, scope = planned.query, planned.dataset, planned.scope
        key = [query.canonical(), scope.canonical(), dataset.fingerprint, compare, count_rows]
        window = query.compare if compare and isinstance(query.compare, CompareRange) else None
        return self._statements.get(
            key, lambda: Compiler(self.dialect, dataset, scope).compile(query, window, count_rows)
        )

    def _run_sql(self, compiled: Compiled, columnar: bool = False) -> Frame:
        if not self._slots.acquire(timeout=self.settings.queue_timeout_s):
            raise unavailable("too many queries are running; try again shortly", retry_after=1)
        try:
            return self.engine.frame(
                compiled.sql, compiled.params, self.settings.query_timeout_s, columnar
            )
        finally:
            self._slots.release()


@dataclass(frozen=True)
class BoundRunner:
    """`Runner` (tally.result) for one principal: the narrow way profiles and reports ask.
    It keeps the results it gave, so the response can say whether they came from the cache."""

    answers: Answers
    principal: Principal
    given: list[Result] = field(default_factory=list)

    def run(self, query: Query) -> Result:
        result = self.answers.answer(query, self.principal)
        self.given.append(result)
        return result

    def run_all(self, queries: Sequence[Query]) -> list[Result]:
        return [self.run(query) for query in queries]


def _meta(
    query: Query, dataset: Dataset, scope: Scope, compiled: Compiled, totals: dict[str, int]
) -> dict[str, Any]:
    group = time_group(query)
    meta: dict[str, Any] = {"dataset": dataset.name}
    if query.time is not None:
        meta["time"] = {"start": query.time.start, "end": query.time.end}
    meta["timezone"] = query.timezone
    if group is not None:
        meta["interval"] = group.time
    meta["scope"] = scope.public()
    if isinstance(query.compare, CompareRange):
        meta["compare"] = {"start": query.compare.start, "end": query.compare.end}
    if totals.get("total_groups") is not None:
        meta["total_groups"] = totals["total_groups"]
    elif group is None and totals.get("total_rows") is not None:
        meta["total_groups"] = totals["total_rows"]
    meta["total_rows"] = totals.get("total_rows") or 0
    meta["exact"] = compiled.exact
    meta["warnings"] = []
    return meta
