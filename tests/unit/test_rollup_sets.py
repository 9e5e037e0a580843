"""The exact sets' SQL functions against Python's sets: building, merging and counting."""

from __future__ import annotations

import random

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from tally.rollups.sketches import FUNCTIONS, ids_cardinality, ids_count, ids_of, ids_union

ID = st.integers(min_value=0, max_value=2**32 - 1)


def _run(start: int, length: int) -> list[int]:
    return list(range(start, start + length))


def _block(key: int, length: int) -> list[int]:
    return random.Random(length).sample(range(key << 16, (key + 1) << 16), length)


# Sparse values (array containers), dense runs (run containers) and full blocks (bitsets).
SETS = st.one_of(
    st.lists(ID, max_size=200),
    st.builds(_run, st.integers(0, 2**31), st.integers(0, 70_000)),
    st.builds(_block, st.integers(0, 2**16 - 1), st.integers(4_000, 30_000)),
)


def _decoded(blob: bytes) -> set[int]:
    return set(BitMap.deserialize(blob))


@settings(max_examples=150, deadline=None)
@given(SETS)
def test_a_sets_cardinality_is_read_off_its_header_as_its_size(ids: list[int]) -> None:
    assert ids_cardinality(ids_of(list(ids))) == len(set(ids))


def test_a_set_with_runs_in_many_containers_is_counted_off_its_header() -> None:
    """Run-encoded sets keep a bitset of which containers are runs, a byte per eight: with 40
    containers it spans five bytes before the sizes."""
    ids = [key << 16 | low for key in range(40) for low in range(0, 3_000 if key % 2 else 50, 1)]
    ids += [i * 65_537 for i in range(40)]
    blob = ids_of(ids)
    assert int.from_bytes(blob[:4], "little") & 0xFFFF == 12347  # runs in it
    assert ids_cardinality(blob) == len(set(ids))


def test_an_empty_or_missing_set_counts_nothing() -> None:
    assert ids_cardinality(None) == 0
    assert ids_cardinality(b"") == 0
    assert ids_cardinality(ids_of([])) == 0
    assert ids_cardinality(ids_of(None)) == 0


def test_nulls_among_the_ids_are_left_out() -> None:
    assert _decoded(ids_of([3, None, 5, None, 3])) == {3, 5}
    assert _decoded(ids_of([None])) == set()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), SETS), max_size=40))
def test_a_union_of_any_number_of_sets_is_the_union_of_their_values(
    parts: list[list[int] | None],
) -> None:
    """Few sets merge smallest first, then into the largest; more than 16 at once."""
    blobs = [None if part is None else ids_of(list(part)) for part in parts]
    expected = set().union(*(part or () for part in parts))
    union = ids_union(blobs)
    assert _decoded(union) == expected
    assert ids_count(blobs) == len(expected)
    assert ids_cardinality(union) == len(expected)


def test_a_union_is_stored_in_one_encoding_however_it_was_reached() -> None:
    """Merged from pieces or built at once, the same values give the same bytes (a compaction's
    sets equal a rebuild's)."""
    values = list(range(1_000, 5_000)) + list(range(100_000, 100_050, 7))
    pieces = [ids_of(values[i::3]) for i in range(3)]
    assert ids_union(pieces) == ids_of(values)
    assert ids_union([ids_of(values[:10]), ids_of(values)]) == ids_of(values)


def test_a_compaction_merges_a_stored_set_with_its_pending_ones_in_one_call() -> None:
    """`tally_ids_merged(stored, pending)`, as DuckDB calls it on Arrow batches: a cell with no
    stored row yet (null) or no pending set (null list) merges what it has."""
    merged = next(f for f in FUNCTIONS if f.name == "tally_ids_merged")
    stored = [ids_of([1, 2, 3]), None, ids_of([7]), None]
    pending = [[ids_of([3, 4]), None, ids_of([9])], [ids_of([5])], None, None]
    out = merged.over(pa.array(stored, pa.binary()), pa.array(pending, pa.list_(pa.binary())))
    assert [_decoded(blob) for blob in out.to_pylist()] == [{1, 2, 3, 4, 9}, {5}, {7}, set()]
