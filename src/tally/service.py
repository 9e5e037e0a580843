"""The orchestration every route uses: parse, validate, normalize, scope, compile, run, shape.

Profiles hand in a `Query` (or the native JSON) and a principal; they get a `Result` back and
never see SQL or an engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tally.auth.principal import Principal
from tally.auth.scope import dataset_scope
from tally.cache.keys import CacheKey, cache_key
from tally.cache.layer import CacheInfo, ResultCache
from tally.cache.versions import DataVersions
from tally.catalog import Catalog, Dataset
from tally.config import Settings
from tally.engines.base import Engine
from tally.engines.frame import Frame
from tally.errors import ErrorDetail, TallyError, not_found, unavailable
from tally.ingest.arrow_batch import conform
from tally.ingest.batch import validate_batch
from tally.ingest.rows import Rejection, RowValidator
from tally.query.model import CompareRange, Measure, Query, time_group
from tally.query.normalize import normalize
from tally.query.ordering import OTHER_KEY
from tally.query.parse import parse_model
from tally.query.scope import Scope
from tally.query.validate import validate
from tally.result import Result
from tally.shaping import fill_buckets, join_previous, name_rows
from tally.sql.compiler import Compiled, Compiler
from tally.sql.ddl import column_ddl, create_table, table_spec
from tally.sql.dialect import Dialect

log = logging.getLogger(__name__)
STATEMENT_CACHE_SIZE = 1024
COLUMNAR_FROM_LIMIT = 1_000


@dataclass
class IngestOutcome:
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_dict(self, upsert: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"accepted": self.accepted, "duplicates": self.duplicates}
        if upsert:
            body["updated"] = self.updated
        body["rejected"] = [r.as_dict() for r in self.rejected]
        return body


Planned = tuple[Query, Dataset, Scope]


class Service:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        engine: Engine,
        dialect: Dialect,
        cache: ResultCache | None = None,
        versions: DataVersions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.engine = engine
        self.dialect = dialect
        self.cache = cache
        self.versions = versions or DataVersions()
        self.clock = clock
        self._validators: dict[str, RowValidator] = {}
        self._watermarks: dict[tuple, datetime | None] = {}
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_queries)
        self._statements: OrderedDict[bytes, Compiled] = OrderedDict()
        self._statements_lock = threading.Lock()
        self.observers: list[Callable[[str, float], None]] = []

    def start(self) -> None:
        """Create or extend the table of every dataset the catalog knows."""
        for dataset in self.catalog:
            self.engine.ensure_table(
                create_table(dataset, self.dialect),
                table_spec(dataset),
                column_ddl(dataset, self.dialect),
            )

    def compact(self, dataset_name: str) -> int:
        """Put a dataset's rows back in (tenant, time) order; answers do not change."""
        return self.engine.compact(table_spec(self.dataset(dataset_name)))

    def dataset(self, name: str, *, in_body: bool = False) -> Dataset:
        """The named dataset; unknown is a 400 at /dataset in a query body, else a 404."""
        dataset = self.catalog.get(name)
        if dataset is None:
            reason = f"there is no dataset {name!r}"
            if in_body:
                raise TallyError("unknown_dataset", reason, 400, [ErrorDetail("/dataset", reason)])
            raise not_found(reason)
        return dataset

    def prepare(self, body: Any) -> Query:
        return parse_model(Query, body)

    def plan(self, query: Query, principal: Principal) -> tuple[Query, Dataset, Scope]:
        """Validate, scope and normalize: everything before SQL."""
        principal.require("viewer")
        dataset = self.dataset(query.dataset, in_body=True)
        validate(query, dataset, self.settings.limits)
        normalized = normalize(query, self.clock(), self.settings.limits)
        scope = dataset_scope(principal, dataset, normalized.scope)
        return normalized, dataset, scope

    def explain(self, query: Query, principal: Principal) -> dict[str, Any]:
        principal.require("admin")
        normalized, dataset, scope = self.plan(query, principal)
        compiled = Compiler(self.dialect, dataset, scope).compile(normalized)
        return {
            "dialect": self.dialect.name,
            "sql": compiled.sql,
            "params": compiled.params,
            "query": normalized.canonical(),
        }

    def run(self, query: Query, principal: Principal) -> Result:
        normalized, dataset, scope = self.plan(query, principal)
        return self.answer(normalized, dataset, scope)

    async def lookup(self, query: Query, principal: Principal) -> tuple[Planned, Result | None]:
        """Plan, and answer at once from a fresh cache hit; None means run `answer`.

        Cheap and never blocking, so the HTTP layer awaits it on the event loop and only hands
        misses (and lookups while Redis is down) to a worker thread.
        """
        planned = self.plan(query, principal)
        if self.cache is None or not self.cache.inline:
            return planned, None
        found = await self.cache.peek(self._cache_key(*planned), planned[0].cache)
        if found is None:
            return planned, None
        result, info = found
        result.meta["cache"] = info.as_dict()
        return planned, result

    def _cache_key(self, query: Query, dataset: Dataset, scope: Scope) -> CacheKey:
        """The entry's key leaves out the data versions: the entry records them (versions.py)."""
        return CacheKey(
            cache_key(query.canonical(), scope.canonical(), self.engine.name),
            self.versions.counters(dataset.name, self.tenants_of(scope, dataset)),
            dataset.cache_ttl_seconds or self.settings.cache_ttl_s,
        )

    def answer(self, query: Query, dataset: Dataset, scope: Scope) -> Result:
        """A normalized, scoped query answered from the cache when it may be."""
        if self.cache is None:
            result = self.execute(query, dataset, scope)
            info = CacheInfo(False, False, datetime.now(UTC), 0)
        else:
            result, info = self.cache.get_or_compute(
                self._cache_key(query, dataset, scope),
                query.cache,
                lambda: self.execute(query, dataset, scope),
            )
        result.meta["cache"] = info.as_dict()
        return result

    def execute(self, query: Query, dataset: Dataset, scope: Scope) -> Result:
        started = time.perf_counter()
        compiled = self._compile(query, dataset, scope)
        previous = self._compile(query, dataset, scope, compare=True) if query.compare else None
        compile_ms = (time.perf_counter() - started) * 1000
        tz = ZoneInfo(query.timezone)
        columnar = (query.limit or 0) > COLUMNAR_FROM_LIMIT
        frame = self._run_sql(compiled, columnar)
        truncated = query.fill == "none" and (
            len(frame) >= (query.limit or 0) or (not len(frame) and query.offset > 0)
        )
        if truncated:
            compiled = self._compile(query, dataset, scope, count_rows=True)
            frame = self._run_sql(compiled, columnar)
        rows, totals = name_rows(compiled, frame, tz)
        if totals["total_rows"] is None:
            totals["total_rows"] = query.offset + len(frame)
        if query.fill != "none":
            rows = fill_buckets(query, rows, compiled)
        if previous is not None:
            earlier, _ = name_rows(previous, self._run_sql(previous, columnar), tz)
            join_previous(query, rows, earlier, compiled)
        if compiled.has_other:
            for row in rows:
                row.pop(OTHER_KEY, None)
        execute_ms = (time.perf_counter() - started) * 1000 - compile_ms
        meta = self._meta(query, dataset, scope, compiled, totals)
        meta["watermark"] = self.watermark(dataset, scope)
        meta["timing_ms"] = {"compile": round(compile_ms, 3), "execute": round(execute_ms, 3)}
        for observe in self.observers:
            observe(dataset.name, execute_ms / 1000)
        return Result(rows=rows, groups=compiled.groups, measures=compiled.measures, meta=meta)

    def _compile(
        self,
        query: Query,
        dataset: Dataset,
        scope: Scope,
        compare: bool = False,
        count_rows: bool = False,
    ) -> Compiled:
        """Compile, remembering recent statements: dashboards re-ask the same questions."""
        key = orjson.dumps([query.canonical(), scope.canonical(), compare, count_rows])
        with self._statements_lock:
            found = self._statements.get(key)
            if found is not None:
                self._statements.move_to_end(key)
                return found
        window = query.compare if compare and isinstance(query.compare, CompareRange) else None
        compiled = Compiler(self.dialect, dataset, scope).compile(query, window, count_rows)
        with self._statements_lock:
            self._statements[key] = compiled
            if len(self._statements) > STATEMENT_CACHE_SIZE:
                self._statements.popitem(last=False)
        return compiled

    def _run_sql(self, compiled: Compiled, columnar: bool = False) -> Frame:
        if not self._slots.acquire(timeout=self.settings.queue_timeout_s):
            raise unavailable("too many queries are running; try again shortly", retry_after=1)
        try:
            return self.engine.frame(
                compiled.sql, compiled.params, self.settings.query_timeout_s, columnar
            )
        finally:
            self._slots.release()

    def _meta(
        self,
        query: Query,
        dataset: Dataset,
        scope: Scope,
        compiled: Compiled,
        totals: dict[str, int],
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

    def tenants_of(self, scope: Scope, dataset: Dataset) -> tuple[str, ...] | None:
        if scope.unrestricted or dataset.primary_tenant not in scope.columns:
            return None
        return scope.columns[dataset.primary_tenant]

    def watermark(self, dataset: Dataset, scope: Scope) -> datetime | None:
        """Newest event time in this scope; remembered until the scope's data changes."""
        if dataset.time_column is None:
            return None
        version = self.versions.of(dataset.name, self.tenants_of(scope, dataset))
        key = (dataset.name, repr(scope.canonical()), version)
        if key in self._watermarks:
            return self._watermarks[key]
        probe = Query(
            dataset=dataset.name,
            measures=[Measure(op="max", field=dataset.time_column, as_="newest")],
            limit=1,
        )
        compiled = Compiler(self.dialect, dataset, scope).compile(probe)
        value = self._run_sql(compiled).first(compiled.alias_of("newest"))
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        if len(self._watermarks) > 10_000:
            self._watermarks.clear()
        self._watermarks[key] = value
        return value

    def ingest(
        self, dataset_name: str, rows: list[Any], principal: Principal, partial: bool
    ) -> IngestOutcome:
        """Validate every row, store the good ones in one transaction, report the rest."""
        principal.require("editor")
        dataset = self.dataset(dataset_name)
        if len(rows) > self.settings.max_ingest_rows:
            raise TallyError(
                "too_large", f"at most {self.settings.max_ingest_rows} rows per batch", 413
            )
        scope = dataset_scope(principal, dataset)
        validator = self._validators.setdefault(dataset.name, RowValidator(dataset))
        batch, rejected = validate_batch(rows, dataset, validator, scope.columns)
        outcome = IngestOutcome(rejected=rejected)
        if rejected and not partial:
            return outcome
        if batch.num_rows:
            self._store(dataset, batch, outcome)
        return outcome

    def load_table(self, dataset_name: str, table: pa.Table, partial: bool) -> IngestOutcome:
        """Bulk path for files and the demo (an operator's action, not scoped to a tenant)."""
        dataset = self.dataset(dataset_name)
        batch, rejected = conform(table, dataset)
        outcome = IngestOutcome(rejected=rejected)
        if rejected and not partial:
            return outcome
        self._store(dataset, batch, outcome)
        return outcome

    def _store(self, dataset: Dataset, batch: pa.Table, outcome: IngestOutcome) -> None:
        """One transaction for the batch, then bump the data version of every tenant in it."""
        written = self.engine.write(table_spec(dataset), batch)
        outcome.accepted = written.accepted
        outcome.duplicates = written.duplicates
        outcome.updated = written.updated
        tenant = batch.column(dataset.column(dataset.primary_tenant).physical)
        self.versions.bump(dataset.name, pc.unique(tenant).to_pylist())
