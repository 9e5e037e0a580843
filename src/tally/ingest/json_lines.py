"""The NDJSON fast path: clean JSON lines become an Arrow batch without a Python object per row.

Parsing a 10,000-line body into Python dicts costs more than everything else ingestion does. Here
DuckDB's C++ JSON reader (a private in-memory connection, never the engine's) splits every line
into the catalog's columns as JSON text, one parse per line, and `json_texts` checks and converts
those texts column by column with Arrow kernels.

This path must never accept what the row validator would reject, nor store another value, so it
declines (returns None) on anything unusual and the caller falls back to orjson and the row
validator, which name every problem. DuckDB reads more than orjson accepts, and each difference
is closed: trailing commas (a pattern on the raw line), NaN and Infinity (values must look like
what their column takes; nested ones fail orjson), numbers too big for a double (finite check),
nesting deeper than orjson reads (too deep for orjson to write, so never stored), and repeated
keys, where DuckDB keeps the first value and orjson the last (declined at the top level, re-read
by orjson inside objects).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.expressions as exp

from tally.catalog.arrow import arrow_schema
from tally.catalog.model import ColumnType, Dataset
from tally.ingest.columnar import NotClean, in_scope
from tally.ingest.json_texts import column_array, rows_with_repeats

NOT_AN_OBJECT = r"^[ \t]*[^ \t{]"
TRAILING_COMMA = r",[ \t]*[\]}]"
CHUNK_ROWS = 2048  # DuckDB scans Arrow chunks in parallel

_local = threading.local()
_connect_lock = threading.Lock()
_connection: list[duckdb.DuckDBPyConnection] = []


def _connection_cursor() -> duckdb.DuckDBPyConnection:
    """A new cursor on the private connection, made on first use."""
    with _connect_lock:
        if not _connection:
            config = {"preserve_insertion_order": True}
            _connection.append(duckdb.connect(":memory:", config=config))
    return _connection[0].cursor()


def _cursor() -> duckdb.DuckDBPyConnection:
    """This thread's cursor on the private connection (registered names are per cursor)."""
    cursor = getattr(_local, "cursor", None)
    if cursor is None:
        cursor = _local.cursor = _connection_cursor()
    return cursor


def _extra(kind: ColumnType, value: exp.Expression) -> exp.Expression | None:
    """What a column needs besides its JSON text: the strings of a string list, the keys of
    a JSON object."""
    if kind is ColumnType.STRING_ARRAY:
        return exp.func("json_transform", value, exp.Literal.string('["VARCHAR"]'))
    if kind is ColumnType.JSON:
        return exp.func("json_keys", value)
    return None


@lru_cache(maxsize=256)
def _extract_sql(dataset: Dataset) -> str:
    """Per line: its keys, each column's value as JSON text (NULL if null or absent) in `doc`,
    and `_<i>` for the extras of column i. Names and literals come from the catalog only."""
    columns = dataset.stored_columns
    structure = orjson.dumps({c.name: "JSON" for c in columns}).decode()
    line = exp.column("line")
    split = exp.select(
        exp.func("json_keys", line).as_("keys"),
        exp.func("json_transform", line, exp.Literal.string(structure)).as_("doc"),
    ).from_("_lines")
    values = [exp.func("struct_extract", "doc", exp.Literal.string(c.name)) for c in columns]
    extras = [_extra(c.type, v) for c, v in zip(columns, values, strict=True)]
    named = [e.as_(f"_{i}") for i, e in enumerate(extras) if e is not None]
    return exp.select("keys", "doc", *named).from_(split.subquery("split")).sql("duckdb")


def _extract(lines: pa.StringArray, dataset: Dataset) -> pa.Table:
    cursor = _cursor()
    chunks = pa.table({"line": lines}).to_batches(CHUNK_ROWS)
    cursor.register("_lines", pa.Table.from_batches(chunks))
    try:
        return cursor.sql(_extract_sql(dataset)).to_arrow_table().combine_chunks()
    finally:
        cursor.unregister("_lines")


# DuckDB keeps each record's text as sent (blank NDJSON lines skipped, a CRLF's CR dropped)
FILE_RECORDS = "SELECT json::VARCHAR AS line FROM read_json_objects($path, format := $format)"
COUNT_RECORDS = "SELECT count(*) FROM read_json_objects($path, format := $format)"
SLICE_RECORDS = 16_384  # a file's records are checked this many at a time: memory stays bounded


def _file_params(path: Path, ndjson: bool) -> dict[str, str]:
    return {"path": str(path), "format": "newline_delimited" if ndjson else "array"}


def file_count(path: Path, ndjson: bool) -> int | None:
    """How many records a JSON array or NDJSON file holds, or None if DuckDB cannot read it."""
    try:
        # execute, not sql: a relation holds the GIL for part of the scan (tens of ms)
        return _cursor().execute(COUNT_RECORDS, _file_params(path, ndjson)).fetchall()[0][0]
    except duckdb.Error:
        return None


def file_slices(path: Path, ndjson: bool) -> Iterator[pa.Array]:
    """The records of a JSON array or NDJSON file as texts, `SLICE_RECORDS` at a time, streamed
    by DuckDB's C++ reader without the GIL (only one slice's texts are in memory at once).
    Raises duckdb.Error (at the start), OSError (midway) or pa.ArrowException if DuckDB cannot
    read the file. What DuckDB reads beyond orjson between records (a leading byte order mark,
    form feeds and vertical tabs as whitespace) is for the caller to rule out."""
    reader = _connection_cursor()  # the thread's cursor checks the slices meanwhile
    try:
        read = reader.sql(FILE_RECORDS, params=_file_params(path, ndjson))
        for records in read.to_arrow_reader(SLICE_RECORDS):
            yield records.column(0)
    finally:
        reader.close()


def _keys_known_once(keys: pa.ListArray, dataset: Dataset) -> bool:
    """Every key of every row is a column of the dataset, and no row repeats a key."""
    names = pa.array([c.name for c in dataset.stored_columns])
    known = pc.index_in(keys.flatten(), value_set=names)
    if known.null_count:
        return False
    codes = known.to_numpy().astype(np.int64)
    return not rows_with_repeats(keys, codes, len(names)).any()


def lines_batch(
    lines: pa.StringArray | pa.ChunkedArray,
    dataset: Dataset,
    scope: Mapping[str, Sequence[str]] | None,
) -> pa.Table | None:
    """Non-blank NDJSON lines as the dataset's Arrow batch, if every row is clean and in scope."""
    if not len(lines) or pc.any(pc.match_substring_regex(lines, NOT_AN_OBJECT)).as_py():
        return None
    if pc.any(pc.match_substring_regex(lines, TRAILING_COMMA)).as_py():
        return None
    try:
        extracted = _extract(lines, dataset)
    except duckdb.Error:
        return None
    doc = extracted.column("doc").chunk(0)
    if doc.null_count or not _keys_known_once(extracted.column("keys").chunk(0), dataset):
        return None
    names = set(extracted.column_names)
    try:
        arrays = [
            column_array(
                c,
                doc.field(c.name),
                extracted.column(f"_{i}").chunk(0) if f"_{i}" in names else None,
            )
            for i, c in enumerate(dataset.stored_columns)
        ]
    except NotClean:
        return None
    batch = pa.Table.from_arrays(arrays, schema=arrow_schema(dataset))
    return batch if in_scope(batch, dataset, scope) else None
