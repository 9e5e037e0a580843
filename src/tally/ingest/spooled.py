"""A large ingestion body, spooled to a file as it arrived, read without holding the GIL.

Parsing a 60 MB body with orjson, or checking its rows in Python, holds the GIL for seconds even
in a worker thread, and the event loop then answers nothing (not even /healthz); the parsed rows
also cost ten times the body in memory. Here DuckDB's C++ reader splits the file into its
records (the elements of a JSON array, or the lines of NDJSON) and the NDJSON fast path
(`json_lines`) checks and converts them with DuckDB and Arrow, both of which release the GIL, a
slice of records at a time, so memory stays within a small multiple of the body; only a slice
with a problem goes through orjson and the row validator.

The fast path may never accept what orjson and the row validator would refuse, so before DuckDB
reads anything one pass over the file rules out what DuckDB reads beyond orjson between records:
a leading byte order mark, form feeds and vertical tabs (no JSON that orjson accepts holds them
raw), and in NDJSON a carriage return outside a CRLF (Python splits lines there, DuckDB does
not). NDJSON that DuckDB cannot read is sliced by its lines in Python; an array that DuckDB
cannot read is parsed as a small body is (`parse`): it is not JSON, and orjson says why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from tally.catalog.model import Dataset
from tally.ingest import json_lines
from tally.ingest.checked import check_rows
from tally.ingest.json_lines import file_count, file_slices, lines_batch
from tally.ingest.rows import Rejection, RowValidator, UnparsableRow

BYTE_ORDER_MARK = b"\xef\xbb\xbf"
# One large body is read at a time: the others wait as files on disk, memory holds one body's
# working set (DuckDB already uses every core for it), and fewer threads contend for the GIL
# with the event loop.
ONE_AT_A_TIME = threading.Lock()
READ_BYTES = 1 << 20  # one pass in slices: each holds the GIL for well under a millisecond


def plain(path: Path, ndjson: bool) -> bool:
    """Whether the file holds nothing DuckDB reads differently from orjson between records."""
    with path.open("rb") as handle:
        piece = handle.read(READ_BYTES)
        if piece.startswith(BYTE_ORDER_MARK):
            return False
        while piece:
            if piece.endswith(b"\r"):
                piece += handle.read(1)
            if b"\x0b" in piece or b"\x0c" in piece:
                return False
            if ndjson and piece.count(b"\r") != piece.count(b"\r\n"):
                return False
            piece = handle.read(READ_BYTES)
    return True


@dataclass(frozen=True)
class SpooledRows:
    """A JSON array (or NDJSON when `ndjson`) in a file; `parse` reads the bytes as the API
    reads a small body, into rows (or an object with `rows`), for when the fast path declines."""

    path: Path
    ndjson: bool
    parse: Callable[[bytes], Any]

    def __len__(self) -> int:
        count = file_count(self.path, self.ndjson) if self.plain else None
        if count is None and self.plain and self.ndjson:
            count = sum(len(lines) for lines in line_slices(self.path))
        return len(self.rows) if count is None else count

    @cached_property
    def plain(self) -> bool:
        return plain(self.path, self.ndjson)

    @cached_property
    def rows(self) -> list[Any]:
        parsed = self.parse(self.path.read_bytes())
        return getattr(parsed, "rows", parsed)

    def checked(
        self, dataset: Dataset, validator: RowValidator, scope: Mapping[str, Sequence[str]]
    ) -> tuple[pa.Table, list[Rejection]] | None:
        """The rows to store and the rejections, slice by slice: a clean slice straight from
        its texts, another through orjson and the row validator (so a few bad rows in a large
        body cost Python time and memory for their slices only). NDJSON that DuckDB cannot read
        (a line that is not JSON) is sliced by its lines instead. None when only orjson over
        the whole body can tell what it is: an array DuckDB cannot read, or one with an element
        orjson refuses (the whole body is then not JSON)."""
        if not self.plain:
            return None
        with ONE_AT_A_TIME:
            try:
                return self._checked(file_slices(self.path, self.ndjson), dataset, validator, scope)
            except (duckdb.Error, pa.ArrowException, OSError):  # the reader raises OSError midway
                if not self.ndjson:
                    return None
            return self._checked(line_slices(self.path), dataset, validator, scope)

    def _checked(
        self,
        slices: Iterable[pa.Array | list[bytes]],
        dataset: Dataset,
        validator: RowValidator,
        scope: Mapping[str, Sequence[str]],
    ) -> tuple[pa.Table, list[Rejection]] | None:
        batches: list[pa.Table] = []
        rejected: list[Rejection] = []
        first = 0
        for records in slices:
            texts = records if isinstance(records, pa.Array) else _utf8(records)
            batch = None if texts is None else lines_batch(texts, dataset, scope)
            if batch is None:
                rows = parsed(records, self.ndjson)
                if rows is None:
                    return None
                batch, problems = check_rows(rows, dataset, validator, scope, first)
                rejected.extend(problems)
            batches.append(batch)
            first += len(records)
        return (pa.concat_tables(batches), rejected) if batches else None


def line_slices(path: Path) -> Iterator[list[bytes]]:
    """The non-blank lines of an NDJSON file (without their CRLF or LF), `SLICE_RECORDS` at a
    time: what `bytes.splitlines` gives a small body, once lone carriage returns are ruled out."""
    lines: list[bytes] = []
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                lines.append(line.rstrip(b"\n").removesuffix(b"\r"))
                if len(lines) == json_lines.SLICE_RECORDS:
                    yield lines
                    lines = []
    if lines:
        yield lines


def _utf8(lines: list[bytes]) -> pa.Array | None:
    try:
        return pa.array([line.decode() for line in lines], pa.string())
    except UnicodeDecodeError:
        return None


def parsed(records: pa.Array | list[bytes], ndjson: bool) -> list[Any] | None:
    """Records as orjson reads them; an NDJSON line orjson refuses is that row's problem, as
    for a small body, and one in an array makes the result None. An element of an array is read
    inside brackets, at the depth it has in the body (orjson limits nesting)."""
    rows: list[Any] = []
    for text in records.to_pylist() if isinstance(records, pa.Array) else records:
        try:
            rows.append(orjson.loads(text) if ndjson else orjson.loads(f"[{text}]")[0])
        except orjson.JSONDecodeError as exc:
            if not ndjson:
                return None
            rows.append(UnparsableRow(f"not valid JSON: {exc.msg}"))
    return rows
