"""Row dicts from result columns: the generated builders agree with `dict(zip(...))` for every
width, and keys that look like code stay plain keys."""

from __future__ import annotations

import pytest

from tally.records import records


@pytest.mark.parametrize("width", [1, 2, 5, 12])
def test_rows_match_a_plain_zip_for_each_width(width: int) -> None:
    names = [f"col_{i}" for i in range(width)]
    columns = [[(i * 7 + j) if j % 3 else None for j in range(50)] for i in range(width)]
    expected = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    assert records(names, columns, 50) == expected


def test_keys_that_look_like_code_are_only_keys() -> None:
    names = ["}]; import os #", "k0", "v0", "a'b\"c", "names", "columns"]
    columns = [[i, i + 1] for i in range(len(names))]
    rows = records(names, columns, 2)
    assert rows == [{n: i + r for i, n in enumerate(names)} for r in (0, 1)]
    assert list(rows[0]) == names


def test_no_keys_still_gives_one_dict_per_row() -> None:
    assert records([], [], 3) == [{}, {}, {}]


def test_no_rows() -> None:
    assert records(["a", "b"], [[], []], 0) == []


def test_every_row_is_its_own_dict() -> None:
    rows = records(["a"], [[1, 1]], 2)
    rows[0]["a"] = 5
    assert rows[1] == {"a": 1}
