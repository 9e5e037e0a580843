"""Read a declared source's columns, whatever its kind (one reader per kind)."""

from __future__ import annotations

from tally.authoring import ch_schema, duck_schema, pg_schema
from tally.authoring.described import SourceColumn, SourceError
from tally.catalog.sources import Source


def source_columns(source: Source) -> list[SourceColumn]:
    """The source's columns in its own order; SourceError when it cannot be read (an unset
    `${VAR}` included)."""
    try:
        if source.postgres is not None:
            return pg_schema.describe(source.postgres)
        if source.duckdb is not None:
            return duck_schema.describe_table(source.duckdb)
        if source.clickhouse is not None:
            return ch_schema.describe(source.clickhouse)
        files = source.csv or source.parquet
        assert files is not None, "a source names one kind"
        return duck_schema.describe_files(files)
    except ValueError as exc:  # an unset ${VAR}
        raise SourceError(str(exc)) from None
