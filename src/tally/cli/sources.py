"""The files `tally ingest` reads: paths, folders and globs expanded, each file's row count (so
progress can show a percentage and an ETA), and its rows as NDJSON batches for `--url`."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from tally.ingest.files import detect_format, read_columnar

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")


def expand(arguments: list[str]) -> list[Path]:
    """Files named, the data files of folders (recursively) and glob matches, each once, in a
    stable order; a name that matches nothing is an error, never silently skipped."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if glob.has_magic(argument):
            matches = [Path(m) for m in sorted(glob.glob(argument, recursive=True))]
            files = [m for m in matches if m.is_file()]
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"{argument}: no such file or folder")
        if not files:
            raise FileNotFoundError(f"{argument}: no data file there ({', '.join(SUFFIXES)})")
        found.extend(files)
    return list(dict.fromkeys(found))


def count_rows(path: Path, kind: str) -> int:
    """Rows of a file without parsing them: Parquet's footer, or its non-blank lines."""
    if kind == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return max(lines - 1, 0) if kind == "csv" else lines


def kind_of(path: Path, fmt: str | None) -> str:
    return fmt or detect_format(path)


def ndjson_batches(path: Path, kind: str, rows: int) -> Iterator[tuple[bytes, int]]:
    """The file as NDJSON bodies of at most `rows` rows each, with their row counts; JSON lines
    are sent as they are, CSV and Parquet rows as Arrow reads them."""
    if kind == "jsonl":
        with path.open("rb") as handle:
            lines = (line.rstrip(b"\r\n") for line in handle if line.strip())
            yield from _chunks(lines, rows)
        return
    table = read_columnar(path, kind)
    for batch in table.to_batches(max_chunksize=rows):
        encoded = (orjson.dumps(r, option=orjson.OPT_NAIVE_UTC) for r in batch.to_pylist())
        yield from _chunks(encoded, rows)


def _chunks(lines: Iterator[bytes], rows: int) -> Iterator[tuple[bytes, int]]:
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= rows:
            yield b"\n".join(chunk) + b"\n", len(chunk)
            chunk = []
    if chunk:
        yield b"\n".join(chunk) + b"\n", len(chunk)
