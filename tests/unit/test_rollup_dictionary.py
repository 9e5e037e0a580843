"""The in-memory mirror of a rollup dictionary numbers values as a plain Python dict would: equal
values one id, new values the next ids in order of arrival, values sharing a hash apart, a
rolled-back write's ids forgotten, whatever has been folded into the sorted arrays."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from tally.rollups import dictionary
from tally.rollups.dictionary import IdCache


def _hashes(values: list, buckets: int | None) -> np.ndarray:
    """A hash per value; with `buckets`, only that many distinct hashes (many collisions)."""
    full = [hash(v) % (1 << 64) for v in values]
    return np.array([h % buckets if buckets else h for h in full], dtype=np.uint64)


class Reference:
    """What the mirror must agree with: a dict numbering values in order of arrival."""

    def __init__(self, initial: list) -> None:
        self.ids = {value: i for i, value in enumerate(initial)}

    def assign(self, values: list) -> list[int]:
        for value in values:
            self.ids.setdefault(value, len(self.ids))
        return [self.ids[v] for v in values]


@pytest.mark.parametrize("buckets", [None, 7, 1])
@pytest.mark.parametrize("kind", ["text", "int", "instant", "date"])
def test_the_mirror_numbers_as_a_dict_does(
    buckets: int | None, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dictionary, "FOLD_AT", 40)  # fold often
    rng = random.Random(f"{buckets}{kind}")
    # Instants and dates as Arrow stores them, up to past year 9999 (Python's datetime ends
    # there); equal when their integers are.
    beyond = {"instant": 253_402_300_800_000_000, "date": 2_932_897}
    universe = [f"v{i}" for i in range(400)] if kind == "text" else list(range(-200, 200))
    if kind in beyond:
        universe = [beyond[kind] + i * 7 for i in universe]
    initial = rng.sample(universe, 150)
    arrow = {"text": pa.string(), "int": pa.int64(), "instant": pa.timestamp("us", tz="UTC")}
    arrow = arrow.get(kind, pa.date32())
    cache = IdCache(_hashes(initial, buckets), pa.array(initial, type=arrow))
    reference = Reference(initial)
    for batch in range(30):
        values = list(dict.fromkeys(rng.choice(universe) for _ in range(rng.randrange(1, 60))))
        before = len(reference.ids)
        ids, first_new = cache.assign(pa.array(values, type=arrow), _hashes(values, buckets))
        assert first_new == before
        committed = batch % 4 != 3
        if committed:
            assert ids.tolist() == reference.assign(values)
        cache.settle(committed)
        assert cache.size == len(reference.ids)


def test_a_rolled_back_write_gives_its_ids_again() -> None:
    cache = IdCache(_hashes(["a", "b"], None), pa.array(["a", "b"]))
    ids, first_new = cache.assign(pa.array(["c", "a"]), _hashes(["c", "a"], None))
    assert (ids.tolist(), first_new) == ([2, 0], 2)
    cache.settle(False)
    ids, _ = cache.assign(pa.array(["d", "c"]), _hashes(["d", "c"], None))
    assert ids.tolist() == [2, 3]


def test_an_empty_dictionary_numbers_from_zero() -> None:
    cache = IdCache(np.array([], dtype=np.uint64), pa.array([], type=pa.string()))
    ids, first_new = cache.assign(pa.array(["x", "y"]), _hashes(["x", "y"], None))
    assert (ids.tolist(), first_new) == ([0, 1], 0)
