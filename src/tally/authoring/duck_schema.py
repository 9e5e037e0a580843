"""Columns of what DuckDB reads: Parquet and CSV files in place, or a table of a DuckDB file
opened read-only. String columns whose sampled values are all JSON objects are JSON."""

from __future__ import annotations

import glob
import re

import duckdb

from tally.authoring import typemap
from tally.authoring.described import (
    HOLDS_JSON,
    JSON_SAMPLE_ROWS,
    SourceColumn,
    SourceError,
    all_json_objects,
)
from tally.catalog.sources import CsvSource, DuckDBSource, FilesSource, expand

_HIVE_SEGMENT = re.compile(r"/[^/=]+=[^/]*/")
COLUMNS = """
SELECT column_name, data_type, is_nullable FROM duckdb_columns()
 WHERE schema_name = ? AND table_name = ? ORDER BY column_index
"""
SNIFF = "SELECT Delimiter, HasHeader FROM sniff_csv(?)"
PRIMARY_KEY = """
SELECT constraint_column_names FROM duckdb_constraints()
 WHERE schema_name = ? AND table_name = ? AND constraint_type = 'PRIMARY KEY'
"""


def matching_files(pattern: str) -> list[str]:
    found = sorted(glob.glob(pattern, recursive=True))
    if not found:
        raise SourceError(f"no file matches {pattern}")
    return found


def sniff_csv(path: str) -> tuple[str, bool]:
    """The delimiter of a CSV file and whether its first line is a header, as DuckDB reads it."""
    con = duckdb.connect()
    try:
        delimiter, header = con.execute(SNIFF, [path]).fetchone() or (",", True)
    except duckdb.Error as exc:
        raise SourceError(f"DuckDB cannot read {path} as CSV: {exc}") from None
    finally:
        con.close()
    return delimiter, bool(header)


def hive_partitioned(files: list[str]) -> bool:
    """Whether the files lie in key=value folders (the layout hive partitioning reads)."""
    return any(_HIVE_SEGMENT.search(f) for f in files)


def describe_files(spec: FilesSource, sample_json: bool = True) -> list[SourceColumn]:
    path = expand(spec.path)
    matching_files(path)
    con = duckdb.connect()
    try:
        if isinstance(spec, CsvSource):
            rel = con.read_csv(
                path, header=spec.header, sep=spec.delimiter,
                hive_partitioning=spec.hive_partitioning,
            )  # fmt: skip
        else:
            rel = con.read_parquet(path, hive_partitioning=spec.hive_partitioning)
        described = [(n, str(t), True) for n, t in zip(rel.columns, rel.types, strict=True)]
        return _columns(rel, described, {}, sample_json)
    except duckdb.Error as exc:
        raise SourceError(f"DuckDB cannot read {path}: {exc}") from None
    finally:
        con.close()


def describe_table(spec: DuckDBSource, sample_json: bool = True) -> list[SourceColumn]:
    path = expand(spec.path)
    schema, _, table = spec.table.rpartition(".")
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        raise SourceError(f"DuckDB cannot open {path} read-only: {exc}") from None
    try:
        described = con.execute(COLUMNS, [schema or "main", table]).fetchall()
        if not described:
            raise SourceError(f"{path} has no table {spec.table}")
        keys = con.execute(PRIMARY_KEY, [schema or "main", table]).fetchall()
        positions = {name: i + 1 for i, name in enumerate(keys[0][0] if keys else [])}
        return _columns(con.table(spec.table), described, positions, sample_json)
    except duckdb.Error as exc:
        raise SourceError(f"DuckDB cannot read {spec.table} of {path}: {exc}") from None
    finally:
        con.close()


def _columns(
    rel: duckdb.DuckDBPyRelation,
    described: list[tuple[str, str, bool]],
    keys: dict[str, int],
    sample_json: bool,
) -> list[SourceColumn]:
    columns = []
    for name, spelled, nullable in described:
        mapped = typemap.duckdb(spelled)
        if sample_json and spelled.upper() == "VARCHAR" and _holds_json(rel, name):
            mapped = HOLDS_JSON
        columns.append(SourceColumn(name, spelled, mapped, nullable, keys.get(name)))
    return columns


def _holds_json(rel: duckdb.DuckDBPyRelation, name: str) -> bool:
    column = duckdb.ColumnExpression(name)
    sample = rel.select(column).filter(column.isnotnull()).limit(JSON_SAMPLE_ROWS).fetchall()
    return all_json_objects(v for (v,) in sample)
