"""The orchestration every route uses, split by job: answering questions (`answers`), storing
rows (`ingestion`), managing tables (`tables`) and reloading the dataset files (`reloader`), over
one catalog, engine and cache.

Profiles hand in a `Query` and get a `Result` back; they never see SQL or an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tally.cache.layer import ResultCache
from tally.cache.versions import DataVersions
from tally.catalog import Catalog
from tally.catalog.holder import CatalogHolder
from tally.config import Settings
from tally.engines.base import Engine
from tally.service.answers import Answers, BoundRunner, Planned
from tally.service.ingestion import Ingestion, IngestOutcome
from tally.service.reload import Reloader
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
    ) -> None:
        self.settings = settings
        self.catalogs = CatalogHolder.of(catalog)
        self.engine = engine
        self.dialect = dialect
        self.cache = cache
        self.versions = versions or DataVersions()
        self.clock = clock
        self.answers = Answers(
            settings, self.catalogs, engine, dialect, cache, self.versions, lambda: self.clock()
        )
        self.ingestion = Ingestion(settings, self.catalogs, engine, self.versions)
        self.tables = Tables(self.catalogs, engine, dialect)
        self.reloader = Reloader(self.catalogs, self.tables, dialect, settings.datasets_dir)

    @property
    def catalog(self) -> Catalog:
        """The catalog of the running request; a reload swaps `catalogs` (service/reload.py)."""
        return self.catalogs.current
