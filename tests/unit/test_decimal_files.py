"""Files (Parquet, CSV, demo tables) into a decimal column: read exactly or refused with the path.

Arrow casts a double to a decimal by rounding to the scale; a money column takes only the
doubles that are already amounts of that scale, so a file never stores a rounded value.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from tally.catalog.model import Dataset
from tally.errors import TallyError
from tally.ingest.arrow_batch import conform

LEDGER = Dataset.model_validate(
    {
        "name": "ledger",
        "tenant_columns": ["tenant"],
        "key_columns": ["tenant"],
        "columns": [
            {"name": "tenant", "type": "string", "nullable": False},
            {"name": "amount", "type": "decimal", "scale": 2},
        ],
    }
)


def _file(amounts: pa.Array) -> pa.Table:
    return pa.table({"tenant": pa.array(["t"] * len(amounts)), "amount": amounts})


@pytest.mark.parametrize(
    "amounts",
    [
        pa.array([12.3, 0.1, -0.05, 300244.8, None]),
        pa.array(["12.30", "0.1", "-0.05", "300244.80", None]),
        pa.array([Decimal("12.3"), Decimal("0.1"), Decimal("-0.05"), Decimal("300244.8"), None]),
    ],
    ids=["doubles", "strings", "decimals"],
)
def test_amounts_of_the_scale_are_read_exactly(amounts: pa.Array) -> None:
    table, rejected = conform(_file(amounts), LEDGER)
    assert rejected == []
    assert table.column("amount").type == pa.decimal128(18, 2)
    assert table.column("amount").to_pylist() == [
        Decimal("12.30"), Decimal("0.10"), Decimal("-0.05"), Decimal("300244.80"), None
    ]  # fmt: skip


def test_whole_numbers_are_read() -> None:
    table, _ = conform(_file(pa.array([5, -7], pa.int64())), LEDGER)
    assert table.column("amount").to_pylist() == [Decimal("5.00"), Decimal("-7.00")]


@pytest.mark.parametrize(
    "amounts",
    [
        pa.array([12.3, 12.345]),
        pa.array(["12.345"]),
        pa.array([Decimal("12.345")], pa.decimal128(10, 3)),
        pa.array([1e300]),
        pa.array(["12345678901234567.5"]),
    ],
    ids=["double with 3 places", "string with 3 places", "decimal of scale 3", "huge", "long"],
)
def test_anything_that_would_be_rounded_refuses_the_column_with_its_path(
    amounts: pa.Array,
) -> None:
    with pytest.raises(TallyError) as caught:
        conform(_file(amounts), LEDGER)
    assert caught.value.code == "invalid_file"
    assert [d.path for d in caught.value.details] == ["/amount"]


def test_a_whole_number_too_large_for_the_column_is_refused() -> None:
    with pytest.raises(TallyError) as caught:
        conform(_file(pa.array([10**17], pa.int64())), LEDGER)
    assert [d.path for d in caught.value.details] == ["/amount"]
