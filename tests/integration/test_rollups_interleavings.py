"""Rollups stay true when a reload, a build, a compaction, an append and a query interleave, or
when a reload's rollups fail halfway: each interleaving is forced with events, and every answer
is checked against the same question answered from the rows."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tally.query.model import Query
from tally.service import Service
from tests.integration.rollup_support import (
    ADMIN,
    APPEND,
    COLUMNS,
    ROLLUPS,
    make_rows,
    open_service,
)

HOURLY_BY_REGION = ROLLUPS.replace("dimensions: [kind]\n", "dimensions: [kind, region]\n", 1)
REGRAINED = ROLLUPS.replace(
    "grain: 1 hour\n    dimensions: [kind]\n", "grain: 30 minutes\n    dimensions: [kind]\n", 1
)
WITHOUT_HOURLY = (
    ROLLUPS[: ROLLUPS.index("  - name: hourly")] + ROLLUPS[ROLLUPS.index("  - name: channels") :]
)
BY_KIND_AND_REGION = {
    "dataset": "rollev",
    "time": {"start": "2025-03-01T00:00:00+00:00", "end": "2025-04-10T00:00:00+00:00"},
    "measures": [{"op": "count"}, {"op": "count_distinct", "field": "region"}],
    "group_by": ["kind", "region"],
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = open_service(tmp_path, compacting=False)
    yield svc
    svc.close()


def _ingest(service: Service, rows: list[dict[str, Any]]) -> None:
    outcome = service.ingestion.ingest("rollev", rows, ADMIN, False)
    assert not outcome.rejected and outcome.accepted == len(rows)


def _declare(root: Path, rollups: str, extra_column: str = "") -> None:
    (root / "datasets" / "rollev.yaml").write_text(APPEND + COLUMNS + extra_column + rollups)


def _both_ways(service: Service, body: dict[str, Any]) -> tuple[Any, Any]:
    """The answer as served (rollups on), and from the rows."""
    query = Query.model_validate({**body, "cache": "no-cache", "limit": 10_000})
    served = service.answers.answer(query, ADMIN)
    rollups, service.answers.rollups = service.answers.rollups, None
    try:
        return served, service.answers.answer(query, ADMIN)
    finally:
        service.answers.rollups = rollups


def _ordered(rows: list[dict[str, Any]]) -> list[tuple]:
    return sorted(tuple(map(str, row.values())) for row in rows)


def _held_on(
    service: Service, thread: str, nth: int, between: threading.Event, go: threading.Event
):
    """`writes_held` that stops the thread named `thread` before its `nth` use, until `go`."""
    held, calls, caller = service.engine.writes_held, [0], threading.current_thread

    @contextmanager
    def writes_held() -> Iterator[None]:
        if caller().name == thread:
            calls[0] += 1
            if calls[0] == nth:
                between.set()
                assert go.wait(30)
        with held():
            yield

    return writes_held


def test_a_compaction_takes_each_rollup_as_a_reload_between_two_of_them_left_it(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction merges `fine`; before it takes `hourly`, a reload gives `hourly` another
    dimension (its table made anew), a build fills it and an append leaves rows pending in it.
    It merges them with the new declaration (with the one it started with, it merged every
    region's rows of a cell into one without a region, and the answer lied)."""
    _ingest(service, make_rows(random.Random(1), 300))
    _ingest(service, make_rows(random.Random(2), 300, ids=range(300, 600)))
    between, go = threading.Event(), threading.Event()
    monkeypatch.setattr(
        service.engine, "writes_held", _held_on(service, "compacting", 2, between, go)
    )
    failures: list[BaseException] = []

    def compact() -> None:
        try:
            service.rollups.compact("rollev")
        except BaseException as exc:
            failures.append(exc)

    compacting = threading.Thread(target=compact, name="compacting")
    compacting.start()
    assert between.wait(30), failures
    _declare(tmp_path, HOURLY_BY_REGION)
    assert service.reloader.reload().changed == ["rollev"]
    assert [layout.label for layout in service.rollups.build("rollev", incomplete_only=True)] == [
        "hourly"
    ]
    _ingest(service, make_rows(random.Random(3), 300, ids=range(1000, 1300)))
    go.set()
    compacting.join(30)
    assert not failures
    served, raw = _both_ways(service, BY_KIND_AND_REGION)
    assert served.meta["served_from"] == "hourly"
    assert _ordered(served.rows) == _ordered(raw.rows)


def _failing_count(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("as an I/O error would")

    monkeypatch.setattr(service.rollups, "_count_pending", failing)


def test_a_reload_whose_rollups_fail_halfway_is_refused_and_nothing_lies(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload made `hourly` anew for its new dimension, then failed: the file is refused
    at `rollups`, the dataset is served as before, appends keep no table the new declaration
    made (they stored the old declaration's cells there, with no region), and every answer is
    the rows'. A reload that then succeeds serves the new declaration once built."""
    _ingest(service, make_rows(random.Random(1), 600))
    _declare(tmp_path, HOURLY_BY_REGION)
    _failing_count(service, monkeypatch)
    report = service.reloader.reload()
    monkeypatch.undo()
    assert report.changed == []
    assert [(p.file, p.field) for p in report.problems] == [("rollev.yaml", "rollups")]
    assert service.rollups.build("rollev", incomplete_only=True) == []
    _ingest(service, make_rows(random.Random(3), 300, ids=range(1000, 1300)))
    pending = 'SELECT count(*) FROM "rollev__rollup__hourly__pending"'
    assert service.engine.execute(pending, {}, 30)[1] == [(0,)]
    for body in (BY_KIND_AND_REGION, {**BY_KIND_AND_REGION, "group_by": ["kind"]}):
        served, raw = _both_ways(service, body)
        assert _ordered(served.rows) == _ordered(raw.rows)
    assert service.reloader.reload().changed == ["rollev"]
    assert [layout.label for layout in service.rollups.build("rollev", incomplete_only=True)] == [
        "hourly"
    ]
    served, raw = _both_ways(service, BY_KIND_AND_REGION)
    assert served.meta["served_from"] == "hourly"
    assert _ordered(served.rows) == _ordered(raw.rows)


def test_appends_go_on_after_a_reload_adding_a_column_failed_in_its_rollups(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refused file leaves the dataset as it was, so an append is checked against the
    columns the rollups were ensured for (each was refused with a 503 while the new columns
    were served over the old rollups)."""
    _ingest(service, make_rows(random.Random(1), 100))
    _declare(tmp_path, ROLLUPS, "  - {name: extra, type: string}\n")
    _failing_count(service, monkeypatch)
    assert [p.field for p in service.reloader.reload().problems] == ["rollups"]
    monkeypatch.undo()
    _ingest(service, make_rows(random.Random(5), 10, ids=range(2000, 2010)))
    served, raw = _both_ways(service, {**BY_KIND_AND_REGION, "group_by": ["kind"]})
    assert _ordered(served.rows) == _ordered(raw.rows)


def _waiting_in_line(service: Service, monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]):
    """A question asked on a thread of its own, which, once routed, waits for its admission
    slot until the returned `go` is set; `answers` gets its answer."""
    routed, go = threading.Event(), threading.Event()
    admitted = service.answers._admitted

    def waiting(tenant: str, shape: str) -> Any:
        if threading.current_thread().name == "asking" and not routed.is_set():
            routed.set()
            assert go.wait(30)
        return admitted(tenant, shape)

    monkeypatch.setattr(service.answers, "_admitted", waiting)
    answers: list[Any] = []
    asking = threading.Thread(
        target=lambda: answers.append(_both_ways(service, body)[0]), name="asking"
    )
    asking.start()
    assert routed.wait(30)
    return asking, go, answers


def _reloaded_while_waiting(
    service: Service,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: dict[str, Any],
    rollups: str,
) -> tuple[Any, Any]:
    """The answer to `body` routed before a reload declaring `rollups` and run after it, and
    the same question answered from the rows."""
    asking, go, answers = _waiting_in_line(service, monkeypatch, body)
    _declare(root, rollups)
    assert service.reloader.reload().changed == ["rollev"]
    go.set()
    asking.join(30)
    (served,) = answers
    return served, _both_ways(service, body)[1]


def test_a_query_routed_before_a_reload_made_its_rollup_anew_answers_from_the_rows(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routed to `hourly` (the only rollup keeping regions' sets by kind), the query waits for
    a slot while a reload gives `hourly` another grain: its table, made anew with the same
    columns, is empty until built. The statement read it (an answer without a row), so the
    question is asked again of the rows."""
    _ingest(service, make_rows(random.Random(1), 600))
    service.rollups.compact_all()
    body = {**BY_KIND_AND_REGION, "group_by": ["kind"]}
    assert _both_ways(service, body)[0].meta["served_from"] == "hourly"
    served, raw = _reloaded_while_waiting(service, tmp_path, monkeypatch, body, REGRAINED)
    assert served.meta["served_from"] == "raw"
    assert sum(row["count"] for row in raw.rows) == 600
    assert _ordered(served.rows) == _ordered(raw.rows)


def test_a_query_routed_to_a_rollup_a_reload_then_removed_answers_from_the_rows(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload drops `hourly`'s table while the question routed to it waits for a slot:
    its statement fails on the missing table, and the question is asked of the rows instead
    of failing."""
    _ingest(service, make_rows(random.Random(1), 600))
    body = {**BY_KIND_AND_REGION, "group_by": ["kind"]}
    served, raw = _reloaded_while_waiting(service, tmp_path, monkeypatch, body, WITHOUT_HOURLY)
    assert served.meta["served_from"] == "raw"
    assert _ordered(served.rows) == _ordered(raw.rows)


def test_a_query_routed_before_an_append_and_run_after_it_reads_its_pending_cells(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routed while nothing was pending, the query waits for an admission slot while an append
    is acknowledged: its SQL reads a snapshot holding the batch, so it is run again reading
    the pending rows (it answered without the batch's whole grains, and with a ragged edge it
    would have mixed both states)."""
    _ingest(service, make_rows(random.Random(1), 600))
    service.rollups.compact_all()
    assert not service.rollups.has_pending("rollev")
    body = {**BY_KIND_AND_REGION, "group_by": ["kind"]}
    asking, go, answers = _waiting_in_line(service, monkeypatch, body)
    _ingest(service, make_rows(random.Random(2), 300, ids=range(1000, 1300)))
    go.set()
    asking.join(30)
    (served,) = answers
    _, raw = _both_ways(service, body)
    assert served.meta["served_from"] != "raw"
    assert sum(row["count"] for row in raw.rows) == 900
    assert _ordered(served.rows) == _ordered(raw.rows)


def test_a_build_skips_a_rollup_a_reload_made_anew_meanwhile(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build takes its rollups from the catalog when it starts; between its first and its
    second rollup a reload changes `hourly`. The build does not fill the new table with the
    old declaration, nor mark the old one ready: `hourly` waits for a build of its own."""
    _ingest(service, make_rows(random.Random(1), 300))
    between, go = threading.Event(), threading.Event()
    monkeypatch.setattr(
        service.engine, "writes_held", _held_on(service, "building", 2, between, go)
    )
    built: list[list[str]] = []

    def build() -> None:
        built.append([layout.label for layout in service.rollups.build("rollev")])

    building = threading.Thread(target=build, name="building")
    building.start()
    assert between.wait(30)
    _declare(tmp_path, HOURLY_BY_REGION)
    assert service.reloader.reload().changed == ["rollev"]
    go.set()
    building.join(30)
    assert built == [["fine", "channels", "regions_all"]]
    dataset = service.catalog.require("rollev")
    assert [layout.label for layout in service.rollups.incomplete(dataset)] == ["hourly"]
    assert [layout.label for layout in service.rollups.build("rollev", incomplete_only=True)] == [
        "hourly"
    ]
    served, raw = _both_ways(service, BY_KIND_AND_REGION)
    assert served.meta["served_from"] == "hourly"
    assert _ordered(served.rows) == _ordered(raw.rows)


@pytest.mark.parametrize("rollups", [REGRAINED, WITHOUT_HOURLY], ids=["made anew", "dropped"])
def test_a_query_run_again_for_an_append_is_checked_again_for_a_reload(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rollups: str
) -> None:
    """The query's first statement reads no pending rows; an append is told before that is
    checked, so it runs again reading them, and before that statement a reload makes `hourly`
    anew or drops it. The run again is checked too, and the question is asked of the rows (it
    answered 0 rows of 900 from the new table, or failed on the dropped one)."""
    _ingest(service, make_rows(random.Random(1), 600))
    service.rollups.compact_all()
    original = service.answers._run_planned
    runs: list[tuple[str, bool]] = []
    first_ran, appended, again, go = (threading.Event() for _ in range(4))

    def run_planned(planned: Any, compiled: Any, previous: Any) -> Any:
        if threading.current_thread().name != "asking":
            return original(planned, compiled, previous)
        runs.append((planned.served_from, planned.pending))
        if len(runs) == 1:
            result = original(planned, compiled, previous)
            first_ran.set()
            assert appended.wait(30)
            return result
        if len(runs) == 2:
            again.set()
            assert go.wait(30)
        return original(planned, compiled, previous)

    monkeypatch.setattr(service.answers, "_run_planned", run_planned)
    body = {**BY_KIND_AND_REGION, "group_by": ["kind"]}
    answers: list[Any] = []
    asking = threading.Thread(
        target=lambda: answers.append(_both_ways(service, body)[0]), name="asking"
    )
    asking.start()
    assert first_ran.wait(30)
    _ingest(service, make_rows(random.Random(2), 300, ids=range(1000, 1300)))
    appended.set()
    assert again.wait(30)
    _declare(tmp_path, rollups)
    assert service.reloader.reload().changed == ["rollev"]
    go.set()
    asking.join(30)
    assert runs[:3] == [("hourly", False), ("hourly", True), ("raw", True)]  # then its raw twin
    (served,) = answers
    _, raw = _both_ways(service, body)
    assert served.meta["served_from"] == "raw"
    assert sum(row["count"] for row in raw.rows) == 900
    assert _ordered(served.rows) == _ordered(raw.rows)
