"""An HTTP batch to (Arrow rows to store, rejections): a fast path when the batch is clean (an
NDJSON body straight from its lines, parsed rows column by column), a large body slice by slice
from its file, else the row validator, which names every problem with its row index and field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from tally.catalog.model import Dataset
from tally.ingest.checked import check_rows
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
    if isinstance(rows, SpooledRows):
        checked = rows.checked(dataset, validator, scope)
        if checked is not None:
            return checked
        rows = rows.rows
    elif isinstance(rows, NdjsonBody):
        fast = rows.clean_batch(dataset, scope)
        if fast is not None:
            return fast, []
        rows = rows.rows
    return check_rows(rows, dataset, validator, scope)
