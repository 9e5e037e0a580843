"""The orchestration every route uses, split by job: answering questions (`answers`, and as
jobs: `jobs`), storing rows (`ingestion`) and managing tables (`tables`), over one catalog,
engine and cache.

Profiles hand in a `Query` and get a `Result` back; they never see SQL or an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tally.cache.layer import ResultCache
from tally.cache.versions import DataVersions
from tally.catalog import Catalog
from tally.config import Settings
from tally.engines.base import Engine
from tally.service.answers import Answers, BoundRunner, Planned
from tally.service.ingestion import Ingestion, IngestOutcome
from tally.service.jobs import Jobs
from tally.service.shared_jobs import SharedJobs
from tally.service.tables import Tables
from tally.sql.dialect import Dialect

__all__ = ["Answers", "BoundRunner", "IngestOutcome", "Planned", "Service"]


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
        self.answers = Answers(
            settings, catalog, engine, dialect, cache, self.versions, lambda: self.clock()
        )
        self.jobs = Jobs(
            settings.max_concurrent_queries,
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
        self.ingestion = Ingestion(settings, catalog, engine, self.versions)
        self.tables = Tables(catalog, engine, dialect)
