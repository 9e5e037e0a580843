"""An HTTP batch to (Arrow rows to store, rejections): a fast path when the batch is clean (an
NDJSON body straight from its lines, a large body straight from its file, parsed rows column by
column), else the row validator, which names every problem with its row index and field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from tally.catalog.model import Dataset
from tally.ingest.columnar import clean_batch
from tally.ingest.ndjson import NdjsonBody
from tally.ingest.rows import Rejection, RowValidator
from tally.ingest.spooled import SpooledRows

Body = Sequence[Any] | NdjsonBody | SpooledRows


def validate_batch(
    rows: Body,
    dataset: Dataset,
    validator: RowValidator,
    scope: Mapping[str, Sequence[str]],
) -> tuple[pa.Table, list[Rejection]]:
    if isinstance(rows, NdjsonBody | SpooledRows):
        fast = rows.clean_batch(dataset, scope)
        if fast is not None:
            return fast, []
        rows = rows.rows
    fast = clean_batch(rows, dataset, scope)
    if fast is not None:
        return fast, []
    good: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    physical_scope = {dataset.column(c).physical: set(v) for c, v in scope.items()}
    for index, raw in enumerate(rows):
        clean, problems = validator.check(index, raw)
        if clean is not None and any(clean[c] not in v for c, v in physical_scope.items()):
            problems = [Rejection(index, dataset.primary_tenant, "outside this token's scope")]
            clean = None
        if clean is None:
            rejected.extend(problems)
        else:
            good.append(clean)
    return validator.to_arrow(good), rejected
