"""Answering questions: validate, scope, normalize, then answer from the cache or the engine.

`answer` is the one verb (with `answer_async`, its form for the event loop: a fresh cache hit is
served there at once, and only a miss goes to a worker thread). Everything before SQL is
`Planned`; the statement, the rows and the facts about them are made by `_execute`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
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
from tally.engines.cancel import Cancel
from tally.engines.frame import Frame
from tally.errors import TallyError
from tally.logs import trace_id
from tally.query.model import CompareRange, Query, time_group
from tally.query.normalize import normalize
from tally.query.nulls import settle_null_tests
from tally.query.ordering import OTHER_KEY
from tally.query.scope import Scope
from tally.query.validate import validate
from tally.result import Result
from tally.rollups.compile import RollupCompiler
from tally.rollups.layout import RollupTable
from tally.rollups.querylog import QueryLog
from tally.rollups.store import Rollups
from tally.service.admission import UNSCOPED, Admission, Capacity, tenant_of
from tally.service.sources import Reader, Readers, unreadable
from tally.service.watermarks import Watermarks, scope_tenants
from tally.shaping import fill_buckets, join_previous, name_rows
from tally.sql.compiler import Compiled, Compiler
from tally.sql.statements import StatementCache

COLUMNAR_FROM_LIMIT = 1_000
slow_queries = logging.getLogger("tally.slow_query")


def query_hash(query: Query) -> str:
    """A stable name for a normalized question that says nothing of it: filter values may be
    personal data, so a slow-query line carries this hash, never the query."""
    canonical = orjson.dumps(query.canonical(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


@dataclass(frozen=True)
class Statements:
    """How the statements of one answer run when it is a job: with the job's timeout and its
    cancel handle, after waiting in line up to that timeout too (it asked to wait, not to be
    refused). Set for the job's thread; admission and every `_run_sql` of the answer read it."""

    timeout_s: float
    cancel: Cancel


_as_job: ContextVar[Statements | None] = ContextVar("tally_as_job", default=None)


@dataclass(frozen=True)
class Planned:
    """A question ready for SQL: normalized, its dataset, the caller's scope on it, and the
    rollup that answers it exactly (None: the dataset's rows)."""

    query: Query
    dataset: Dataset
    scope: Scope
    rollup: RollupTable | None = None
    tenant: str = UNSCOPED
    pending: bool = True
    """Whether the rollup's dataset may hold pending rollup rows (read them too)."""
    appends_told: int = 0
    """The dataset's appends told to its rollups when the rollup was chosen: one told later,
    while a plan reading no pending rows waited, may be in the snapshot its SQL reads."""
    tables_changed: int = 0
    """The rollup tables dropped or made anew when the rollup was chosen (`Rollups.changes`)."""

    @property
    def served_from(self) -> str:
        return self.rollup.label if self.rollup is not None else "raw"

    def compiler(self, reader: Reader) -> Compiler:
        """Rollups exist only on owned datasets, so a rollup is read with the owned dialect."""
        if self.rollup is not None:
            return RollupCompiler(reader.dialect, self.rollup, self.scope, self.pending)
        return reader.compiler(self.dataset, self.scope)


class Answers:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | CatalogHolder,
        readers: Readers,
        cache: ResultCache | None,
        versions: DataVersions,
        clock: Callable[[], datetime],
        rollups: Rollups | None = None,
    ) -> None:
        self.settings = settings
        self._catalogs = CatalogHolder.of(catalog)
        self.readers = readers
        self.cache = cache
        self.versions = versions
        self.clock = clock
        self.rollups = rollups
        self.observers: list[Callable[[str, float], None]] = []
        self.query_log: QueryLog | None = None
        self.admission = Admission(Capacity.of(settings))
        self._statements = StatementCache()
        self.watermarks = Watermarks(readers, versions, self._run_sql)

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
        if self.cache is not None and self.cache.inline and _cacheable(planned.dataset):
            found = await self.cache.peek(self._cache_key(planned), planned.query.cache)
            if found is not None:
                result, info = found
                result.meta["cache"] = info.as_dict()
                return result
        return await anyio.to_thread.run_sync(self._answer_planned, planned)

    def as_job(self, query: Query, principal: Principal) -> tuple[str, Callable[[Cancel], Result]]:
        """The question's identity (its cache key: the normalized query, the caller's scope on
        the dataset and the engine) and how to answer it as a job. Planning happens here, so a
        bad question fails now, with its 400, and not later in the job."""
        planned = self._plan(query, principal)

        def run(cancel: Cancel) -> Result:
            token = _as_job.set(Statements(self.settings.job_timeout_s, cancel))
            try:
                return self._answer_planned(planned)
            finally:
                _as_job.reset(token)

        return self._cache_key(planned).key, run

    def runner(self, principal: Principal) -> BoundRunner:
        """What profiles and reports run their queries through, as `principal`."""
        return BoundRunner(self, principal)

    def explain(self, query: Query, principal: Principal) -> dict[str, Any]:
        """The SQL the question would run (admin only); never executed."""
        principal.require("admin")
        planned = self._routed(self._plan(query, principal))
        reader = self.readers.of(planned.dataset)
        compiled = planned.compiler(reader).compile(planned.query)
        return {
            "dialect": reader.dialect.name,
            "served_from": planned.served_from,
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
        scope = dataset_scope(principal, dataset, normalized.scope)
        return Planned(normalized, dataset, scope, tenant=tenant_of(principal))

    def _routed(self, planned: Planned) -> Planned:
        """The plan with the rollup that answers it exactly, if one does; chosen only when SQL
        is about to run (a cache hit needs none)."""
        if self.rollups is None:
            return planned
        changed = self.rollups.changes()  # before `choose` and `has_pending`, which read
        told = self.rollups.appends_told(planned.dataset.name)  # what they count
        rollup = self.rollups.choose(planned.query, planned.dataset, planned.scope)
        pending = rollup is not None and self.rollups.has_pending(planned.dataset.name)
        return replace(
            planned, rollup=rollup, pending=pending, appends_told=told, tables_changed=changed
        )

    def _run_again(self, planned: Planned) -> Planned | None:
        """The plan to run again when what its rollup statement read may not be what it chose
        (its SQL ran after it was routed, having waited for a slot): from the rows, when a
        rollup table was dropped or made anew since (a reload; the statement may have read the
        new, empty table); reading the pending rows too, when it read none and an append was
        told since (an append tells before it commits: its batch may be in the snapshot, read
        at a ragged edge, while its pending cells were not)."""
        if self.rollups is None or planned.rollup is None:
            return None
        if self.rollups.changes() != planned.tables_changed:
            return replace(planned, rollup=None)
        told = self.rollups.appends_told(planned.dataset.name)
        return (
            replace(planned, pending=True)
            if not planned.pending and told != planned.appends_told
            else None
        )

    def _cache_key(self, planned: Planned) -> CacheKey:
        """The entry's key leaves out the data versions: the entry records them (versions.py).
        Over an external source, whose new rows Tally does not see arriving, freshness plus the
        stale-while-revalidate window fit inside the source's refresh interval, so no answer
        served is older than that."""
        query, dataset, scope = planned.query, planned.dataset, planned.scope
        ttl = dataset.cache_ttl_seconds or self.settings.cache_ttl_s
        stale = None
        if dataset.source is not None:
            bound = dataset.source.refresh_interval_seconds
            ttl = min(ttl, bound)
            window = self.cache.stale_window_s if self.cache is not None else 0.0
            stale = min(window, bound - ttl)
        return CacheKey(
            cache_key(
                query.canonical(),
                scope.canonical(),
                self.readers.of(dataset).engine.name,
                dataset.fingerprint,
            ),
            self.versions.counters(dataset.name, scope_tenants(scope, dataset)),
            ttl,
            stale,
        )

    def _answer_planned(self, planned: Planned) -> Result:
        if self.cache is None or not _cacheable(planned.dataset):
            result = self._execute(planned)
            info = CacheInfo(False, False, datetime.now(UTC), 0)
        else:
            result, info = self.cache.get_or_compute(
                self._cache_key(planned), planned.query.cache, lambda: self._execute(planned)
            )
        result.meta["cache"] = info.as_dict()
        return result

    def _execute(self, planned: Planned) -> Result:
        """Compile, then wait for a slot and run every statement of the answer (the watermark's
        too) within it: the time it is held teaches admission what such a question costs, and
        `timing_ms.queue` says how long it waited in line."""
        planned = self._routed(planned)
        started = time.perf_counter()
        compiled = self._compile(planned)
        previous = self._compile(planned, compare=True) if planned.query.compare else None
        compiled_at = time.perf_counter()
        compile_ms = (compiled_at - started) * 1000
        with self._admitted(planned.tenant, compiled.sql):
            started = time.perf_counter()
            try:
                planned, result = self._run_checked(planned, compiled, previous)
            except TallyError as failed:
                raise unreadable(planned.dataset, failed) from None
            execute_ms = (time.perf_counter() - started) * 1000
        queue_ms = (started - compiled_at) * 1000
        result.meta["timing_ms"] = {
            "compile": round(compile_ms, 3),
            "queue": round(queue_ms, 3),
            "execute": round(execute_ms, 3),
        }
        for observe in self.observers:
            observe(planned.dataset.name, execute_ms / 1000)
        if self.query_log is not None:
            self.query_log.record(
                planned.query, planned.scope, planned.dataset, planned.served_from, execute_ms
            )
        if compile_ms + execute_ms >= self.settings.slow_query_ms:
            self._log_slow(planned, compile_ms, execute_ms, len(result.rows))
        return result

    def _run_checked(
        self, planned: Planned, compiled: Compiled, previous: Compiled | None
    ) -> tuple[Planned, Result]:
        """The plan run, or run again as `_run_again` says; also when its statement failed
        after a reload dropped its rollup's table (it answers from the rows then). A run again
        is checked again against the counts taken when the plan was routed: a reload may come
        between it and the first (at most three runs: reading pending rows, then the rows)."""
        while True:
            try:
                result = self._run_planned(planned, compiled, previous)
            except TallyError:
                again = self._run_again(planned)
                if again is None or again.rollup is not None:
                    raise
            else:
                again = self._run_again(planned)
                if again is None:
                    return planned, result
            planned = again
            compiled = self._compile(planned)
            previous = self._compile(planned, compare=True) if previous else None

    def _run_planned(
        self, planned: Planned, compiled: Compiled, previous: Compiled | None
    ) -> Result:
        query, dataset, scope = planned.query, planned.dataset, planned.scope
        tz = ZoneInfo(query.timezone)
        columnar = (query.limit or 0) > COLUMNAR_FROM_LIMIT
        engine = self.readers.of(dataset).engine
        frame = self._run_sql(engine, compiled, columnar)
        truncated = query.fill == "none" and (
            len(frame) >= (query.limit or 0) or (not len(frame) and query.offset > 0)
        )
        if truncated:
            compiled = self._compile(planned, count_rows=True)
            frame = self._run_sql(engine, compiled, columnar)
        rows, totals = name_rows(compiled, frame, tz)
        if totals["total_rows"] is None:
            totals["total_rows"] = query.offset + len(frame)
            if truncated and not len(frame):
                totals["total_rows"] = self._count_rows(planned)
        if query.fill != "none":
            rows = fill_buckets(query, rows, compiled)
        if previous is not None:
            earlier, _ = name_rows(previous, self._run_sql(engine, previous, columnar), tz)
            join_previous(query, rows, earlier, compiled)
        if compiled.has_other:
            for row in rows:
                row.pop(OTHER_KEY, None)
        meta = _meta(query, dataset, scope, compiled, totals)
        meta["served_from"] = planned.served_from
        meta["watermark"] = self.watermarks.of(dataset, scope)
        return Result(rows=rows, groups=compiled.groups, measures=compiled.measures, meta=meta)

    def _log_slow(self, planned: Planned, compile_ms: float, execute_ms: float, rows: int) -> None:
        facts = {
            "trace_id": trace_id.get(),
            "query_hash": query_hash(planned.query),
            "dataset": planned.dataset.name,
            "engine": self.readers.of(planned.dataset).engine.name,
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
        probe = replace(planned, query=first)
        compiled = self._compile(probe, count_rows=True)
        found = self._run_sql(self.readers.of(planned.dataset).engine, compiled)
        return found.first(compiled.total_rows_alias) if len(found) else 0

    def _compile(
        self, planned: Planned, compare: bool = False, count_rows: bool = False
    ) -> Compiled:
        query, dataset, scope = planned.query, planned.dataset, planned.scope
        key = [
            query.canonical(),
            scope.canonical(),
            dataset.fingerprint,
            compare,
            count_rows,
            planned.served_from,
            planned.rollup.fingerprint if planned.rollup is not None else None,
            planned.pending,  # the same rollup read with or without its pending rows
        ]
        window = query.compare if compare and isinstance(query.compare, CompareRange) else None
        reader = self.readers.of(planned.dataset)
        return self._statements.get(
            key, lambda: planned.compiler(reader).compile(query, window, count_rows)
        )

    def _admitted(self, tenant: str, shape: str) -> AbstractContextManager[None]:
        """A slot for the query, waited for up to the job's timeout (or its cancel) when it is a
        job's."""
        job = _as_job.get()
        if job is None:
            return self.admission.admit(tenant, shape)
        return self.admission.admit(tenant, shape, job.timeout_s, job.cancel)

    def _run_sql(self, engine: Engine, compiled: Compiled, columnar: bool = False) -> Frame:
        """Run a statement within the slot this thread holds; alone (a watermark asked outside
        an answer) it is admitted as a query of no tenant. A job runs with its own timeout and
        cancel handle."""
        job = _as_job.get()
        timeout_s = job.timeout_s if job is not None else self.settings.query_timeout_s
        with self._admitted(UNSCOPED, compiled.sql):
            return engine.frame(
                compiled.sql,
                compiled.params,
                timeout_s,
                columnar,
                job.cancel if job is not None else None,
            )


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


def _cacheable(dataset: Dataset) -> bool:
    """An external source with a refresh interval of 0 is read afresh for every answer."""
    return dataset.source is None or dataset.source.refresh_interval_seconds > 0


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
    if compiled.error:
        meta["error"] = compiled.error
    meta["warnings"] = []
    return meta
