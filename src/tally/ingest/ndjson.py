"""An NDJSON request body, kept as bytes until someone needs its rows as Python values.

A clean body goes straight from its lines to Arrow (`json_lines`); the row validator gets the
rows parsed by orjson line by line, exactly as before, whenever that path declines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tally.catalog.model import Dataset
from tally.ingest.json_lines import lines_batch
from tally.ingest.rows import UnparsableRow

BLANK = r"^[ \t\x0b\x0c]*$"  # what bytes.strip() removes, line breaks aside


@dataclass(frozen=True)
class NdjsonBody:
    """One JSON object per line; blank lines are ignored and do not count as rows."""

    data: bytes

    def __len__(self) -> int:
        lines = self.lines
        return len(self.rows) if lines is None else len(lines)

    @cached_property
    def rows(self) -> list[Any]:
        """Every non-blank line parsed by orjson; a line that is not JSON becomes its error."""
        rows: list[Any] = []
        for line in self.data.splitlines():
            if not line.strip():
                continue
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                rows.append(UnparsableRow(f"not valid JSON: {exc.msg}"))
        return rows

    @cached_property
    def lines(self) -> pa.StringArray | None:
        """The non-blank lines split as `bytes.splitlines` does, or None if the body is not
        UTF-8 or has a carriage return outside a CRLF (left to the row path)."""
        try:
            text = self.data.decode()
        except UnicodeDecodeError:
            return None
        if "\r" in text:
            if text.count("\r") != text.count("\r\n"):
                return None
            text = text.replace("\r\n", "\n")
        lines = pc.list_flatten(pc.split_pattern(pa.array([text]), "\n"))
        return lines.filter(pc.invert(pc.match_substring_regex(lines, BLANK)))

    def clean_batch(
        self, dataset: Dataset, scope: Mapping[str, Sequence[str]] | None
    ) -> pa.Table | None:
        """The body as an Arrow batch if every row is clean and inside `scope`, else None."""
        lines = self.lines
        return None if lines is None else lines_batch(lines, dataset, scope)
