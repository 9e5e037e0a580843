"""The rollups benchmark's own decisions: which rows it appends, and when two answers count as
the same rows (a rollup adds floats in another order)."""

from __future__ import annotations

from pathlib import Path

from bench.data import END, START
from bench.rollups import appended, parse, same_rows


def test_appended_rows_follow_the_loaded_ones(tmp_path: Path) -> None:
    options, _ = parse(["--rows", "5000", "--append-rows", "1000", "--work", str(tmp_path)])
    live = appended(options, "time")
    spread = appended(options, "random")
    stamps = live.column("ts").to_pylist()
    # as dense as the loaded rows: 1000 of 5000 are the last fifth of the year
    assert stamps == sorted(stamps) and min(stamps) >= END - (END - START) / 5
    assert max(stamps) - min(stamps) > (END - START) / 5 * 0.9
    ids = {int(i[3:]) for t in (live, spread) for i in t.column("event_id").to_pylist()}
    assert ids == set(range(5000, 7000))
    spread_stamps = spread.column("ts").to_pylist()
    assert spread_stamps != sorted(spread_stamps)
    assert max(spread_stamps) - min(spread_stamps) > (END - START) * 0.9


def test_same_rows_allows_float_rounding_only() -> None:
    row = {"channel": "email", "sum_amount": 1e6 / 3, "count": 3}
    nudged = {**row, "sum_amount": row["sum_amount"] * (1 + 1e-12)}
    assert same_rows([row], [nudged])
    assert not same_rows([row], [{**row, "sum_amount": row["sum_amount"] * 1.001}])
    assert not same_rows([row], [{**row, "count": 4}])
    assert not same_rows([row], [row, row])
