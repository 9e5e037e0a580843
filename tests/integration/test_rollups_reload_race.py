"""An append in flight while a reload adds or removes rollups: it keeps the rollups ensured
when it gets to write, whichever catalog its request read. The append is made to wait at the
engine's write lock (held by the test, which runs the reload meanwhile: the lock is
reentrant), as one arriving just before a reload would."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tally.service import Service
from tests.integration.rollup_support import (
    ADMIN,
    make_rows,
    open_service,
    rollup_rows,
    write_datasets,
)

ROLLUPS = ("fine", "hourly", "channels", "regions_all")


def _append_waiting(
    service: Service, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Thread, list[BaseException]]:
    """An append started while the test holds the writes back: once it enters the engine's
    write it has read the catalog and checked its batch, and waits for the write lock."""
    failures: list[BaseException] = []
    entered = threading.Event()
    write = service.engine.write

    def entering(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        return write(*args, **kwargs)

    monkeypatch.setattr(service.engine, "write", entering)

    def run() -> None:
        try:
            outcome = service.ingestion.ingest("rollev", rows, ADMIN, partial=False)
            assert not outcome.rejected and outcome.accepted == len(rows)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(30), failures
    time.sleep(0.1)
    assert thread.is_alive(), failures
    return thread, failures


def _stored_rows(service: Service) -> int:
    return service.engine.execute("SELECT count(*) FROM rollev", {}, 30)[1][0][0]


def test_rollups_added_while_an_append_waits_keep_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dataset is empty when the reload ensures the new rollups, so they are complete at
    once; the append waiting from before must then be kept in them, or they would answer
    without its rows."""
    service = open_service(tmp_path, rollups=False, compacting=False)
    try:
        rows = make_rows(random.Random(31), 300)
        with service.engine.writes_held():
            append, failures = _append_waiting(service, rows, monkeypatch)
            write_datasets(tmp_path / "datasets", rollups=True)
            assert not service.reloader.reload().problems
            dataset = service.catalog.require("rollev")
            assert len(service.rollups.ready(dataset)) == len(ROLLUPS)
        append.join()
        assert not failures
        assert _stored_rows(service) == len(rows)
        tables = [f"rollev__rollup__{name}" for name in ROLLUPS]
        maintained = {t: rollup_rows(service, t) for t in tables}
        assert all(maintained.values())
        service.rollups.build("rollev")
        assert {t: rollup_rows(service, t) for t in tables} == maintained
    finally:
        service.engine.close()


def test_rollups_removed_while_an_append_waits_do_not_fail_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload drops the removed rollups' tables; the append waiting from before stores its
    rows without them (it failed with a 500 when it kept the statements it chose before)."""
    service = open_service(tmp_path, compacting=False)
    try:
        rows = make_rows(random.Random(32), 400)
        outcome = service.ingestion.ingest("rollev", rows[:200], ADMIN, partial=False)
        assert outcome.accepted == 200
        with service.engine.writes_held():
            append, failures = _append_waiting(service, rows[200:], monkeypatch)
            write_datasets(tmp_path / "datasets", rollups=False)
            assert not service.reloader.reload().problems
        append.join()
        assert not failures
        assert _stored_rows(service) == len(rows)
        _, tables = service.engine.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'rollev__rollup__%'",
            {},
            30,
        )
        assert tables == []
    finally:
        service.engine.close()


def test_an_append_checked_against_columns_a_reload_changed_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload adds a column and a rollup over it while an append waits, checked against the
    columns before: its rollups' statements would read a column its batch lacks. It is
    refused with a 503 before anything is stored; sent again, it is stored and kept."""
    service = open_service(tmp_path, compacting=False)
    try:
        rows = make_rows(random.Random(33), 300)
        service.ingestion.ingest("rollev", rows[:100], ADMIN, partial=False)
        path = tmp_path / "datasets" / "rollev.yaml"
        text = path.read_text()
        extra = "  - {name: extra, type: string}\n"
        by_extra = "  - name: by_extra\n    dimensions: [extra]\n    measures: [{op: count}]\n"
        changed = text.replace("rollups:\n", extra + "rollups:\n" + by_extra, 1)
        with service.engine.writes_held():
            append, failures = _append_waiting(service, rows[100:], monkeypatch)
            path.write_text(changed)
            assert not service.reloader.reload().problems
        append.join()
        assert [(type(f).__name__, getattr(f, "status", None)) for f in failures] == [
            ("TallyError", 503)
        ]
        assert _stored_rows(service) == 100
        outcome = service.ingestion.ingest("rollev", rows[100:], ADMIN, partial=False)
        assert outcome.accepted == 200 and _stored_rows(service) == 300
        tables = [f"rollev__rollup__{name}" for name in (*ROLLUPS, "by_extra")]
        service.rollups.build("rollev", incomplete_only=True)
        maintained = {t: rollup_rows(service, t) for t in tables}
        service.rollups.build("rollev")
        assert {t: rollup_rows(service, t) for t in tables} == maintained
    finally:
        service.engine.close()
