"""Appends leave their rollup cells pending; a compaction merges them in. Queries read both, so
answers never depend on whether it ran, and a server compacts on its own."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tally.query.model import Query
from tally.service import Service
from tally.service.rollup_checks import state
from tests.integration.rollup_support import (
    ADMIN,
    FIRST,
    expected_cells,
    make_rows,
    open_service,
)

FINE = '"rollev__rollup__fine"'
PENDING = '"rollev__rollup__fine__pending"'
AMOUNTS = "SELECT tenant, kind, region, ts, _count, _n__amount, _sum__amount, _min__amount, _max__amount FROM {}"  # noqa: E501


def _count(service: Service, table: str) -> int:
    return service.engine.execute(f"SELECT count(*) FROM {table}", {}, 30)[1][0][0]  # noqa: S608


def _ingest(service: Service, rows: list[dict[str, Any]], batch: int) -> None:
    for start in range(0, len(rows), batch):
        outcome = service.ingestion.ingest("rollev", rows[start : start + batch], ADMIN, False)
        assert not outcome.rejected


def _cells(service: Service, table: str) -> dict:
    _, rows = service.engine.execute(AMOUNTS.format(table), {}, 30)
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def _listed(service: Service) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in state(service) if r["dataset"] == "rollev"}


def _answers_agree(service: Service) -> str:
    """A daily count and distinct count by kind, from the rollups and from the rows; the SQL
    reads pending rows exactly while appends wait to be merged in."""
    body = {
        "dataset": "rollev",
        "time": {"start": FIRST.isoformat(), "end": "2025-04-10T00:00:00+00:00"},
        "measures": [{"op": "count"}, {"op": "count_distinct", "field": "note"}],
        "group_by": ["kind", {"time": "1 day"}],
        "limit": 10_000,
        "cache": "no-cache",
    }
    query = Query.model_validate(body)
    fast = service.answers.answer(query, ADMIN)
    rollups, service.answers.rollups = service.answers.rollups, None
    try:
        slow = service.answers.answer(query, ADMIN)
    finally:
        service.answers.rollups = rollups
    assert fast.rows == slow.rows
    sql = service.answers.explain(query, ADMIN)["sql"]
    assert ("__pending" in sql) == service.rollups.has_pending("rollev")
    return fast.meta["served_from"]


def test_appends_wait_as_pending_rows_until_a_compaction_merges_them(tmp_path: Path) -> None:
    service = open_service(tmp_path, compacting=False)
    rows = make_rows(random.Random(21), 3000)
    _ingest(service, rows, 500)
    assert _count(service, FINE) == 0
    assert _count(service, PENDING) > 0
    listed = _listed(service)
    assert listed["fine"]["rows"] == 0
    assert listed["fine"]["pending_rows"] == _count(service, PENDING)
    # Batches touching the same cell left a pending row each: the cells merged are fewer.
    expected = expected_cells(rows, 900, ("kind", "region"))
    assert _count(service, PENDING) > len(expected)
    assert _answers_agree(service) != "raw"

    assert service.rollups.has_pending("rollev")
    service.rollups.compact_all()
    assert not service.rollups.has_pending("rollev")
    assert _count(service, PENDING) == 0
    assert _cells(service, FINE) == expected
    assert _count(service, FINE) == len(expected)
    listed = _listed(service)
    assert listed["fine"]["pending_rows"] == 0 and listed["fine"]["rows"] == len(expected)
    assert _answers_agree(service) != "raw"

    # More batches into cells already merged: pending again, then merged into those cells.
    more = make_rows(random.Random(22), 1000, ids=range(3000, 4000))
    _ingest(service, more, 500)
    assert _answers_agree(service) != "raw"
    service.rollups.compact_all()
    assert _cells(service, FINE) == expected_cells(rows + more, 900, ("kind", "region"))
    service.close()


def _until_merged(service: Service, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _count(service, PENDING):
        assert time.monotonic() < deadline, "the pending rows were never merged in"
        time.sleep(0.05)


def test_a_server_merges_pending_rows_after_enough_appends(tmp_path: Path) -> None:
    service = open_service(tmp_path, rollup_compact_appends=3, rollup_compact_idle_s=10.0**9)
    rows = make_rows(random.Random(23), 1500)
    _ingest(service, rows[:1000], 500)
    time.sleep(0.5)
    assert _count(service, PENDING) > 0  # two appends: not due
    _ingest(service, rows[1000:], 500)
    _until_merged(service)
    assert _cells(service, FINE) == expected_cells(rows, 900, ("kind", "region"))
    service.close()


def test_a_server_merges_pending_rows_once_appends_stop(tmp_path: Path) -> None:
    service = open_service(tmp_path, rollup_compact_idle_s=0.3)
    rows = make_rows(random.Random(24), 500)
    _ingest(service, rows, 500)
    _until_merged(service)
    assert _cells(service, FINE) == expected_cells(rows, 900, ("kind", "region"))
    service.close()


def test_rows_left_pending_by_a_stopped_server_are_merged_by_the_next(tmp_path: Path) -> None:
    first = open_service(tmp_path, compacting=False)
    rows = make_rows(random.Random(25), 1000)
    _ingest(first, rows, 500)
    first.close()
    second = open_service(tmp_path, rollup_compact_idle_s=0.3)
    _until_merged(second)
    assert _cells(second, FINE) == expected_cells(rows, 900, ("kind", "region"))
    second.close()


def test_an_upsert_drops_the_pending_rows_of_the_cells_it_recomputes(tmp_path: Path) -> None:
    """Rows an append left pending (before the dataset became an upsert one) are in the stored
    rows an upsert recomputes their cells from: kept, they would count twice once merged."""
    service = open_service(tmp_path, compacting=False)
    rows = make_rows(random.Random(26), 600)
    for start in range(0, len(rows), 300):
        outcome = service.ingestion.ingest("rollstate", rows[start : start + 300], ADMIN, False)
        assert not outcome.rejected
    fine, pending = '"rollstate__rollup__fine"', '"rollstate__rollup__fine__pending"'
    assert _count(service, pending) == 0  # upserts keep their cells themselves
    service.engine.transaction([(f"INSERT INTO {pending} SELECT * FROM {fine}", ())])  # noqa: S608
    # Each stored row again, changed in place: every cell is recomputed.
    changed = [{**row, "note": f"again {row['note']}"} for row in rows]
    outcome = service.ingestion.ingest("rollstate", changed, ADMIN, False)
    assert outcome.updated == len(rows)
    assert _count(service, pending) == 0
    service.rollups.compact("rollstate")
    assert _cells(service, fine) == expected_cells(changed, 900, ("kind", "region"))
    service.close()


def test_a_query_asked_again_after_an_append_reads_its_pending_rows(tmp_path: Path) -> None:
    """Compiled while nothing was pending, the same question asked after an append is
    compiled again to read the pending rows (the statement cache tells the two apart)."""
    service = open_service(tmp_path, compacting=False)
    rows = make_rows(random.Random(27), 1500)
    _ingest(service, rows[:1000], 500)
    service.rollups.compact_all()
    assert _answers_agree(service) != "raw"
    _ingest(service, rows[1000:], 500)
    assert _answers_agree(service) != "raw"
    service.close()


def _fullest_pending_table(service: Service) -> int:
    tables = [f'"rollev__rollup__{name}__pending"' for name in ("fine", "hourly", "channels")]
    return max(
        _count(service, table) for table in [*tables, '"rollev__rollup__regions_all__pending"']
    )


def test_pending_rows_are_counted_as_the_tables_hold_them(tmp_path: Path) -> None:
    """What decides a compaction (the fullest pending table's rows) is counted in memory as
    appends insert and compactions empty, and equals the tables' counts (a batch failing
    inside its transaction adds nothing: `test_a_batch_whose_rollup_fails_stores_nothing`)."""
    service = open_service(tmp_path, compacting=False)
    try:
        rows = make_rows(random.Random(41), 900)
        _ingest(service, rows[:400], 100)
        assert service.rollups.pending.waiting() == {"rollev": _fullest_pending_table(service)}
        service.rollups.compact_all()
        assert service.rollups.pending.waiting() == {} and _fullest_pending_table(service) == 0
        _ingest(service, rows[400:], 150)
        assert service.rollups.pending.waiting() == {"rollev": _fullest_pending_table(service)}
        assert _fullest_pending_table(service) > 0
    finally:
        service.engine.close()


def test_a_reload_counts_the_pending_rows_again(tmp_path: Path) -> None:
    """A reload that removes a rollup drops its pending table: the rows counted in it no longer
    decide when the dataset compacts (kept, they would have left it due after every append)."""
    service = open_service(tmp_path, compacting=False)
    try:
        _ingest(service, make_rows(random.Random(43), 600), 150)
        hourly = _count(service, '"rollev__rollup__hourly__pending"')
        assert _count(service, PENDING) > hourly > 0
        path = tmp_path / "datasets" / "rollev.yaml"
        text = path.read_text()
        hourly_only = text[text.index("  - name: hourly") : text.index("  - name: channels")]
        path.write_text(text[: text.index("rollups:")] + "rollups:\n" + hourly_only)
        assert not service.reloader.reload().problems
        assert service.rollups.pending.waiting() == {"rollev": hourly}
    finally:
        service.engine.close()


def test_a_compaction_ending_late_does_not_forget_rows_appended_after_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compactor's compaction merges everything, then ends late; meanwhile an operator's
    compaction runs and an append comes. The late one must not forget that append: its rows
    would stay pending while queries no longer read the pending tables (and a later
    `compact_all` would not merge them). Compactions now run one at a time."""
    service = open_service(tmp_path, compacting=False)
    try:
        rows = make_rows(random.Random(44), 600)
        _ingest(service, rows[:300], 100)
        pending = service.rollups.pending
        ending = threading.Event()
        compacted = pending.compacted

        def late(dataset: str, appends_seen: int) -> None:
            if threading.current_thread().name == "late":
                assert ending.wait(30)
            compacted(dataset, appends_seen)

        monkeypatch.setattr(pending, "compacted", late)
        first = threading.Thread(target=service.rollups.compact, args=("rollev",), name="late")
        first.start()
        while _count(service, PENDING):  # until it merged everything and waits to end
            time.sleep(0.01)
        second = threading.Thread(target=service.rollups.compact_all)
        second.start()
        second.join(1.0)  # ran and ended at once, unless compactions wait for each other
        _ingest(service, rows[300:], 300)
        ending.set()
        first.join()
        second.join()
        assert service.rollups.has_pending("rollev") or _count(service, PENDING) == 0
        service.rollups.compact_all()
        assert _count(service, PENDING) == 0
        assert _cells(service, FINE) == expected_cells(rows, 900, ("kind", "region"))
    finally:
        service.engine.close()
