"""Table management: create or extend each dataset's table, and put rows back in order."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tally.catalog import Catalog, Dataset
from tally.catalog.holder import CatalogHolder
from tally.catalog.model import ColumnType
from tally.catalog.storage import table_spec
from tally.engines.base import Engine
from tally.service.sources import require_owned
from tally.sql.ddl import column_ddl, create_table, stored_types
from tally.sql.dialect import Dialect

log = logging.getLogger(__name__)
EXACT_PREFIXES = ("decimal", "numeric", "nullable(decimal")


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
            self.warn_float_money(dataset)

    def warn_float_money(self, dataset: Dataset) -> None:
        """Decimal columns a table created before stores as floats, each logged once at start.

        Such a table keeps working (rows are written and read as before) but its sums are
        float sums; tables are never retyped in place (DuckDB cannot while its key index
        exists, and rounding stored floats to a scale must be the owner's decision)."""
        decimals = [c for c in dataset.stored_columns if c.type is ColumnType.DECIMAL]
        if not decimals:
            return
        sql, params = stored_types(self.dialect, dataset.name)
        _, rows = self.engine.execute(sql, params, 60)
        stored = {str(name): str(kind) for name, kind in rows}
        inexact = [
            c
            for c in decimals
            if not stored.get(c.physical, "decimal").lower().startswith(EXACT_PREFIXES)
        ]
        for column in inexact:
            log.warning(
                "dataset %s: column %s is stored as %s, declared decimal with scale %s; its "
                "sums stay float sums in this table. To make them exact, export the rows "
                "(e.g. to Parquet), drop the table, restart, and load the file again with "
                "`tally ingest` (floats are read at the column's scale, or refused)",
                dataset.name,
                column.name,
                stored[column.physical],
                column.scale,
            )

    def compact(self, dataset_name: str) -> int:
        """Put a dataset's rows back in (tenant, time) order; answers do not change."""
        dataset = self.catalog.require(dataset_name)
        require_owned(dataset)
        return self.engine.compact(table_spec(dataset))
