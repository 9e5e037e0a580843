"""When a dataset's pending rollup rows fall due for a compaction (`tally.rollups.pending`)."""

from __future__ import annotations

from tally.rollups.pending import CompactionRules, Pending


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pending() -> tuple[Pending, Clock]:
    clock = Clock()
    return Pending(CompactionRules(rows=100, appends=3, idle_s=5.0), clock), clock


def _append(pending: Pending, dataset: str, **tables: int) -> None:
    """An append that inserted the given rows into each pending table, about to commit."""
    pending.appended(dataset, tables)


def test_a_dataset_falls_due_after_its_appends() -> None:
    pending, _ = _pending()
    _append(pending, "ev", daily=10)
    _append(pending, "ev", daily=10)
    assert pending.due() == []
    _append(pending, "ev", daily=10)
    assert pending.due() == ["ev"]
    assert pending.waiting() == {"ev": 30}


def test_a_dataset_falls_due_when_a_rollup_holds_enough_pending_rows() -> None:
    """The rows of each table are added up append by append; the fullest table counts."""
    pending, _ = _pending()
    _append(pending, "ev", daily=60, hourly=90)
    assert pending.due() == [] and pending.waiting() == {"ev": 90}
    _append(pending, "ev", daily=39, hourly=9)
    assert pending.due() == [] and pending.waiting() == {"ev": 99}
    _append(pending, "ev", daily=1, hourly=1)
    _append(pending, "other", daily=5)
    assert pending.due() == ["ev"]


def test_a_table_a_compaction_emptied_counts_from_nothing() -> None:
    """A compaction empties one rollup's table at a time: an append between two of them leaves
    its rows counted in the table emptied before it, not in the one emptied after."""
    pending, _ = _pending()
    _append(pending, "ev", daily=50, hourly=80)
    seen = pending.appends("ev")
    pending.emptied("ev", "daily")
    _append(pending, "ev", daily=7, hourly=7)
    pending.emptied("ev", "hourly")
    pending.compacted("ev", seen)
    assert pending.has("ev") and pending.waiting() == {"ev": 7}


def test_a_dataset_falls_due_once_appends_stop_for_a_while() -> None:
    pending, clock = _pending()
    _append(pending, "ev", daily=1)
    clock.now += 4.9
    assert pending.due() == []
    clock.now += 0.1
    assert pending.due() == ["ev"]


def test_a_compaction_forgets_only_the_appends_it_saw() -> None:
    pending, _ = _pending()
    for _ in range(3):
        _append(pending, "ev", daily=10)
    seen = pending.appends("ev")
    pending.emptied("ev", "daily")
    _append(pending, "ev", daily=12)  # committed while the compaction ran: maybe not merged
    pending.compacted("ev", seen)
    assert pending.appends("ev") == 1 and pending.has("ev")
    pending.compacted("ev", pending.appends("ev"))
    assert pending.waiting() == {} and pending.due() == [] and not pending.has("ev")


def test_rows_found_by_a_reload_during_a_compaction_keep_the_appends_after_it() -> None:
    """A reload finds the pending rows while a compaction runs: the append told after the
    compaction read its count must still be known when the compaction ends."""
    pending, _ = _pending()
    _append(pending, "ev", daily=10)
    seen = pending.appends("ev")
    _append(pending, "ev", daily=20)
    pending.found("ev", {"daily": 20})
    pending.compacted("ev", seen)
    assert pending.has("ev")


def test_rows_found_at_start_are_due_at_once() -> None:
    pending, _ = _pending()
    pending.found("ev", {"daily": 0, "hourly": 0})
    pending.found("left", {"daily": 0, "hourly": 7})
    assert pending.due() == ["left"]
    assert pending.waiting() == {"left": 7}
