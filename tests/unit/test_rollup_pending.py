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


def test_a_dataset_falls_due_after_its_appends() -> None:
    pending, _ = _pending()
    pending.appended("ev", 10)
    pending.appended("ev", 20)
    assert pending.due() == []
    pending.appended("ev", 30)
    assert pending.due() == ["ev"]
    assert pending.waiting() == {"ev": 30}


def test_a_dataset_falls_due_when_a_rollup_holds_enough_pending_rows() -> None:
    pending, _ = _pending()
    pending.appended("ev", 99)
    assert pending.due() == []
    pending.appended("ev", 100)
    pending.appended("other", 5)
    assert pending.due() == ["ev"]


def test_a_dataset_falls_due_once_appends_stop_for_a_while() -> None:
    pending, clock = _pending()
    pending.appended("ev", 1)
    clock.now += 4.9
    assert pending.due() == []
    clock.now += 0.1
    assert pending.due() == ["ev"]


def test_a_compaction_forgets_only_the_appends_it_saw() -> None:
    pending, _ = _pending()
    for _ in range(3):
        pending.appended("ev", 10)
    seen = pending.appends("ev")
    pending.appended("ev", 12)  # committed while the compaction ran: maybe not merged
    pending.compacted("ev", seen)
    assert pending.appends("ev") == 1 and pending.has("ev")
    pending.compacted("ev", pending.appends("ev"))
    assert pending.waiting() == {} and pending.due() == [] and not pending.has("ev")


def test_rows_found_by_a_reload_during_a_compaction_keep_the_appends_after_it() -> None:
    """A reload finds the pending rows while a compaction runs: the append told after the
    compaction read its count must still be known when the compaction ends."""
    pending, _ = _pending()
    pending.appended("ev", 10)
    seen = pending.appends("ev")
    pending.appended("ev", 20)
    pending.found("ev", 20)
    pending.compacted("ev", seen)
    assert pending.has("ev")


def test_rows_found_at_start_are_due_at_once() -> None:
    pending, _ = _pending()
    pending.found("ev", 0)
    pending.found("left", 7)
    assert pending.due() == ["left"]
