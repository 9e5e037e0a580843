"""Storing rows: validate every row against the catalog, write the good ones in one transaction,
then bump the data versions of the tenants written so cached answers over them are not reused."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tally.auth.principal import Principal
from tally.auth.scope import dataset_scope
from tally.cache.versions import DataVersions
from tally.catalog import Catalog, Dataset
from tally.catalog.holder import CatalogHolder
from tally.catalog.storage import table_spec
from tally.config import Settings
from tally.engines.base import Engine
from tally.errors import TallyError
from tally.ingest.arrow_batch import conform
from tally.ingest.batch import Body, validate_batch
from tally.ingest.rows import Rejection, RowValidator
from tally.rollups.store import Rollups
from tally.service.sources import require_owned


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


class Ingestion:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | CatalogHolder,
        engine: Engine,
        versions: DataVersions,
        rollups: Rollups | None = None,
    ) -> None:
        self.settings = settings
        self._catalogs = CatalogHolder.of(catalog)
        self.engine = engine
        self.versions = versions
        self.rollups = rollups
        self._validators: dict[str, RowValidator] = {}

    @property
    def catalog(self) -> Catalog:
        """The catalog of the running request (see CatalogHolder)."""
        return self._catalogs.current

    def ingest(
        self, dataset_name: str, rows: Body, principal: Principal, partial: bool
    ) -> IngestOutcome:
        """Validate every row, store the good ones in one transaction, report the rest."""
        principal.require("editor")
        dataset = self.catalog.require(dataset_name)
        require_owned(dataset)
        if len(rows) > self.settings.max_ingest_rows:
            raise TallyError(
                "too_large", f"at most {self.settings.max_ingest_rows} rows per batch", 413
            )
        scope = dataset_scope(principal, dataset)
        validator = self._validators.setdefault(dataset.fingerprint, RowValidator(dataset))
        batch, rejected = validate_batch(rows, dataset, validator, scope.columns)
        outcome = IngestOutcome(rejected=rejected)
        if rejected and not partial:
            return outcome
        if batch.num_rows:
            self._store(dataset, batch, outcome)
        return outcome

    def load_table(self, dataset_name: str, table: pa.Table, partial: bool) -> IngestOutcome:
        """Bulk path for files and the demo (an operator's action, not scoped to a tenant)."""
        dataset = self.catalog.require(dataset_name)
        require_owned(dataset)
        batch, rejected = conform(table, dataset)
        outcome = IngestOutcome(rejected=rejected)
        if rejected and not partial:
            return outcome
        self._store(dataset, batch, outcome)
        return outcome

    def _store(self, dataset: Dataset, batch: pa.Table, outcome: IngestOutcome) -> None:
        """One transaction for the batch and its rollups (which ones, the engine asks once it
        holds its write lock: a reload may change them meanwhile), then bump the data version
        of every tenant in it."""
        maintain = functools.partial(self.rollups.maintenance, dataset) if self.rollups else None
        written = self.engine.write(table_spec(dataset), batch, maintain)
        outcome.accepted = written.accepted
        outcome.duplicates = written.duplicates
        outcome.updated = written.updated
        tenant = batch.column(dataset.column(dataset.primary_tenant).physical)
        self.versions.bump(dataset.name, pc.unique(tenant).to_pylist())
