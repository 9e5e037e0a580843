"""The orchestration every route uses, split by job: answering questions (`answers`, and as
jobs: `jobs`), storing rows (`ingestion`), managing tables (`tables`), building rollups
(`rollup_builds`) and reloading the dataset files (`reloader`), over one catalog, engine and
cache.

Profiles hand in a `Query` and get a `Result` back; they never see SQL or an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tally.auth.principal import Principal
from tally.auth.scope import dataset_scope
from tally.cache.layer import ResultCache
from tally.cache.versions import DataVersions
from tally.catalog import Catalog, Dataset
from tally.catalog.holder import CatalogHolder
from tally.config import Settings
from tally.engines.base import Engine
from tally.rollups.pending import CompactionRules
from tally.rollups.querylog import QueryLog
from tally.rollups.store import Rollups
from tally.service.answers import Answers, BoundRunner, Planned
from tally.service.ingestion import Ingestion, IngestOutcome
from tally.service.jobs import Jobs
from tally.service.reload import Reloader
from tally.service.rollup_builds import RollupBuilds
from tally.service.shared_jobs import SharedJobs
from tally.service.sources import Reader, Readers
from tally.service.tables import Tables
from tally.sql.dialect import Dialect

__all__ = ["Answers", "BoundRunner", "IngestOutcome", "Planned", "Service"]


class Service:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | CatalogHolder,
        engine: Engine,
        dialect: Dialect,
        cache: ResultCache | None = None,
        versions: DataVersions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        readers: Readers | None = None,
    ) -> None:
        """`engine` and `dialect` hold the datasets Tally owns; `readers` adds the engines of
        external sources (external.py opens them), none by default."""
        self.settings = settings
        self.catalogs = CatalogHolder.of(catalog)
        self.engine = engine
        self.dialect = dialect
        self.cache = cache
        self.versions = versions or DataVersions()
        self.clock = clock
        self.readers = readers or Readers(Reader(engine, dialect))
        compaction = CompactionRules(
            settings.rollup_compact_rows,
            settings.rollup_compact_appends,
            settings.rollup_compact_idle_s,
        )
        self.rollups = Rollups(self.catalogs, engine, compaction)
        self.rollup_builds = RollupBuilds(self.rollups, settings.engine)
        self.answers = Answers(
            settings,
            self.catalogs,
            self.readers,
            cache,
            self.versions,
            lambda: self.clock(),
            self.rollups,
        )
        self.answers.query_log = QueryLog.in_dir(
            settings.data_dir, settings.query_log_shapes, settings.query_log_samples
        )
        self.jobs = Jobs(
            # a thread for every slot and every place in line: jobs wait in admission's fair
            # queues, not first come first served in the pool before them
            settings.query_slots + settings.max_queued_queries,
            settings.job_result_ttl_s,
            settings.job_forget_s,
            settings.max_jobs_per_tenant,
            SharedJobs(
                settings.redis_url,
                settings.redis_prefix,
                settings.job_result_ttl_s,
                settings.job_forget_s,
            )
            if settings.redis_url
            else None,
        )
        self.ingestion = Ingestion(settings, self.catalogs, engine, self.versions, self.rollups)
        self.tables = Tables(self.catalogs, engine, dialect)
        self.reloader = Reloader(settings, self.catalogs, self.tables, self.readers, self.rollups)

    @property
    def catalog(self) -> Catalog:
        """The catalog of the running request; a reload swaps `catalogs` (service/reload.py)."""
        return self.catalogs.current

    def refresh(
        self, dataset_name: str, principal: Principal
    ) -> tuple[Dataset, tuple[str, ...] | None]:
        """Say "new rows landed": answers over the dataset are recomputed and its watermark read
        again on the next query (an ETL job's call after loading an external source).

        A key scoped to some tenants refreshes only theirs, as its ingestion would: one tenant's
        loading job cannot make every other tenant's cached answers recompute. An admin or
        all-tenant key refreshes every tenant. Returns the dataset and the tenants refreshed
        (None: all of them)."""
        principal.require("editor")
        dataset = self.catalog.require(dataset_name)
        if principal.role == "admin" or principal.all_tenants:
            self.versions.bump_all(dataset.name)
            return dataset, None
        tenants = dataset_scope(principal, dataset).columns[dataset.primary_tenant]
        self.versions.bump(dataset.name, tenants)
        return dataset, tenants

    def close(self) -> None:
        self.rollups.close()
        if self.answers.query_log is not None:
            self.answers.query_log.close()
        self.readers.close()
        self.engine.close()
