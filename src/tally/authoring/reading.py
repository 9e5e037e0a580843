"""Read a declared source's columns, whatever its kind (one reader per kind)."""

from __future__ import annotations

from tally.authoring import ch_schema, duck_schema, pg_schema
from tally.authoring.described import SourceColumn, SourceError
from tally.catalog.sources import Source


def source_columns(source: Source, sample_json: bool = True) -> list[SourceColumn]:
    """The source's columns in its own order; SourceError when it cannot be read (an unset
    `${VAR}` included). `sample_json` reads a few values of each text column to tell JSON from
    text (what `infer` drafts); start-up reads the catalog only."""
    try:
        if source.postgres is not None:
            return pg_schema.describe(source.postgres)
        if source.duckdb is not None:
            return duck_schema.describe_table(source.duckdb, sample_json)
        if source.clickhouse is not None:
            return ch_schema.describe(source.clickhouse, sample_json)
        files = source.csv or source.parquet
        assert files is not None, "a source names one kind"
        return duck_schema.describe_files(files, sample_json)
    except ValueError as exc:  # an unset ${VAR}
        raise SourceError(str(exc)) from None
