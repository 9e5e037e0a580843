"""Table management: create or extend each dataset's table, and put rows back in order."""

from __future__ import annotations

from collections.abc import Iterable

from tally.catalog import Catalog, Dataset
from tally.catalog.holder import CatalogHolder
from tally.catalog.storage import table_spec
from tally.engines.base import Engine
from tally.service.sources import require_owned
from tally.sql.ddl import column_ddl, create_table
from tally.sql.dialect import Dialect


class Tables:
    def __init__(self, catalog: Catalog | CatalogHolder, engine: Engine, dialect: Dialect) -> None:
        self._catalogs = CatalogHolder.of(catalog)
        self.engine = engine
        self.dialect = dialect

    @property
    def catalog(self) -> Catalog:
        return self._catalogs.current

    def ensure(self, datasets: Iterable[Dataset] | None = None) -> None:
        """Create the table of every dataset Tally owns (or of those of `datasets`), or add the
        columns it lacks (an external dataset's source is never touched)."""
        for dataset in self.catalog if datasets is None else datasets:
            if not dataset.owned:
                continue
            self.engine.ensure_table(
                create_table(dataset, self.dialect),
                table_spec(dataset),
                column_ddl(dataset, self.dialect),
            )

    def compact(self, dataset_name: str) -> int:
        """Put a dataset's rows back in (tenant, time) order; answers do not change."""
        dataset = self.catalog.require(dataset_name)
        require_owned(dataset)
        return self.engine.compact(table_spec(dataset))
