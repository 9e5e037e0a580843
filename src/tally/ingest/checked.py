"""Parsed rows to (Arrow rows to store, rejections): column by column when all are clean, else
the row validator, which names every problem with its row index and field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from tally.catalog.model import Dataset
from tally.ingest.columnar import clean_batch
from tally.ingest.rows import Rejection, RowValidator


def check_rows(
    rows: Sequence[Any],
    dataset: Dataset,
    validator: RowValidator,
    scope: Mapping[str, Sequence[str]],
    first: int = 0,
) -> tuple[pa.Table, list[Rejection]]:
    """`first` is the index of `rows[0]` in its body (a slice of a large body)."""
    fast = clean_batch(rows, dataset, scope)
    if fast is not None:
        return fast, []
    good: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    physical_scope = {dataset.column(c).physical: set(v) for c, v in scope.items()}
    for index, raw in enumerate(rows, first):
        clean, problems = validator.check(index, raw)
        if clean is not None and any(clean[c] not in v for c, v in physical_scope.items()):
            problems = [Rejection(index, dataset.primary_tenant, "outside this token's scope")]
            clean = None
        if clean is None:
            rejected.extend(problems)
        else:
            good.append(clean)
    return validator.to_arrow(good), rejected
