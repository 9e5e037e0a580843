"""A result read from Arrow columns gives the same Python values as the same result read as row
tuples, whichever way each column is read (per value, or once per distinct value)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from tally.engines.frame import Frame, arrow_tuples


def _bucket(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _table(rows: int) -> pa.Table:
    return pa.table(
        {
            "g0": pa.array([None if i % 11 == 0 else f"agent_{i % 5}" for i in range(rows)]),
            "_t": pa.array([3_600_000 * (i % 7) for i in range(rows)], pa.int64()),
            "a0": pa.array([Decimal(i * 1000) for i in range(rows)], pa.decimal128(38, 0)),
            "a1": pa.array([None if i % 3 == 0 else i / 7 for i in range(rows)], pa.float64()),
            "a2": pa.array([f"unique_{i}" for i in range(rows)]),
        }
    )


@pytest.mark.parametrize("rows", [0, 5, 64, 500])
def test_arrow_columns_equal_the_tuple_reading(rows: int) -> None:
    table = _table(rows)
    names = table.column_names
    tuples = [
        (g, t, int(a0), a1, a2)
        for g, t, a0, a1, a2 in zip(*(table.column(n).to_pylist() for n in names), strict=True)
    ]
    from_arrow = Frame(names, table=table).value_columns(5, {1: _bucket})
    from_tuples = Frame(names, tuples=tuples).value_columns(5, {1: _bucket})
    assert from_arrow == from_tuples
    assert [type(v) for v in from_arrow[2]] == [int] * rows
    assert all(isinstance(v, datetime) for v in from_arrow[1])


def test_repeated_values_share_one_object_and_are_converted_once() -> None:
    calls: list[int] = []

    def bucket(ms: int) -> datetime:
        calls.append(ms)
        return _bucket(ms)

    values = Frame(["g0", "_t"], table=_table(500).select(["g0", "_t"])).value_columns(
        2, {1: bucket}
    )
    assert sorted(calls) == [3_600_000 * i for i in range(7)]
    assert values[1][0] is values[1][7]
    assert values[0][1] is values[0][6]


def test_arrow_tuples_are_what_a_driver_returns() -> None:
    table = _table(70)
    rows = arrow_tuples(table)
    assert rows[1] == ("agent_1", 3_600_000, 1000, 1 / 7, "unique_1")
    assert rows[0][0] is None and rows[0][3] is None
