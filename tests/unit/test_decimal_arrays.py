"""The bulk decimal path accepts exactly what the per-value rule (`catalog/decimals.py`)
accepts, with the same value, or declines; it never accepts a value the rule refuses."""

from __future__ import annotations

import random

import pytest

from tally.catalog.decimals import exact_decimal
from tally.catalog.model import Column
from tally.ingest.decimal_arrays import from_values


def _values(rng: random.Random, scale: int, count: int) -> list:
    """Amounts of the scale, longer doubles, huge and tiny numbers, integers of every size and
    numeric strings: most valid, many not."""
    out: list = []
    for _ in range(count):
        r = rng.random()
        if r < 0.3:
            out.append(round(rng.uniform(-1e6, 1e6), scale))
        elif r < 0.5:
            magnitude = 10 ** rng.randint(0, 17)
            out.append(round(rng.uniform(-magnitude, magnitude), rng.randint(0, 9)))
        elif r < 0.65:
            out.append(rng.randint(-(10 ** rng.randint(0, 18)), 10 ** rng.randint(0, 18)))
        elif r < 0.75:
            out.append(rng.uniform(-100, 100))
        else:
            digits = str(rng.randint(0, 10 ** rng.randint(1, 18)))
            places = rng.randint(0, min(len(digits) - 1, 10))
            text = digits[: len(digits) - places] + ("." + digits[-places:] if places else "")
            out.append(("-" if rng.random() < 0.3 else "") + text)
    return out


@pytest.mark.parametrize("scale", [0, 2, 6, 9])
def test_bulk_and_per_value_agree(scale: int) -> None:
    column = Column(name="amount", type="decimal", scale=scale)
    rng = random.Random(scale)
    agreed = 0
    for value in _values(rng, scale, 4000):
        try:
            wanted = exact_decimal(value, scale)
        except ValueError:
            wanted = None
        bulk = from_values(column, [value])
        if bulk is None:
            continue
        assert wanted is not None, f"bulk accepted {value!r}, the rule refuses it"
        assert bulk.to_pylist() == [wanted], value
        agreed += 1
    assert agreed > 1500  # the bulk path really takes most valid values


def test_a_column_of_valid_doubles_is_taken_in_bulk() -> None:
    column = Column(name="amount", type="decimal", scale=2)
    rng = random.Random(1)
    values = [round(rng.uniform(0, 500), 2) for _ in range(10_000)] + [None, 5, 0.1]
    bulk = from_values(column, values)
    assert bulk is not None
    assert bulk.to_pylist() == [None if v is None else exact_decimal(v, 2) for v in values]


def test_mixed_numbers_and_strings_take_the_per_value_path() -> None:
    column = Column(name="amount", type="decimal", scale=2)
    assert from_values(column, [1.5, "2.50"]) is None
