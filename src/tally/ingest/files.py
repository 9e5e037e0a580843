"""Read JSONL, CSV and Parquet files into Arrow tables for the bulk path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tally.catalog.model import Dataset
from tally.ingest.rows import Rejection, RowValidator, UnparsableRow

FORMATS = ("jsonl", "csv", "parquet")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("ndjson", "jsonl", "json"):
        return "jsonl"
    if suffix in ("csv", "parquet"):
        return suffix
    raise ValueError(f"cannot tell the format of {path.name}; pass --format jsonl|csv|parquet")


def read_columnar(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    return pacsv.read_csv(path)


def read_jsonl(
    path: Path,
    dataset: Dataset,
    progress: Callable[[int], None] = lambda n: None,
    chunk_rows: int = 50_000,
) -> tuple[pa.Table, list[Rejection]]:
    """Line by line through the row validator: JSON objects (metadata, nested records) intact."""
    validator = RowValidator(dataset)
    good, rejected, batches = [], [], []
    with path.open("rb") as handle:
        for index, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raw = UnparsableRow(f"not valid JSON: {exc.msg}")
            clean, problems = validator.check(index, raw)
            if clean is None:
                rejected.extend(problems)
            else:
                good.append(clean)
            if len(good) >= chunk_rows:
                batches.append(validator.to_arrow(good))
                progress(len(good))
                good = []
    batches.append(validator.to_arrow(good))
    progress(len(good))
    return pa.concat_tables(batches), rejected
