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

from tally.service import Service
from tests.integration.rollup_support import (
    ADMIN,
    make_rows,
    open_service,
    rollup_rows,
    write_datasets,
)

ROLLUPS = ("fine", "hourly", "channels", "regions_all")


def _append_waiting(service: Service, rows: list[dict[str, Any]]) -> tuple[threading.Thread, list]:
    """An append started while the test holds the writes back: it has read the catalog and
    waits for the write lock."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            outcome = service.ingestion.ingest("rollev", rows, ADMIN, partial=False)
            assert not outcome.rejected and outcome.accepted == len(rows)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive(), failures
    return thread, failures


def _stored_rows(service: Service) -> int:
    return service.engine.execute("SELECT count(*) FROM rollev", {}, 30)[1][0][0]


def test_rollups_added_while_an_append_waits_keep_its_rows(tmp_path: Path) -> None:
    """The dataset is empty when the reload ensures the new rollups, so they are complete at
    once; the append waiting from before must then be kept in them, or they would answer
    without its rows."""
    service = open_service(tmp_path, rollups=False, compacting=False)
    try:
        rows = make_rows(random.Random(31), 300)
        with service.engine.writes_held():
            append, failures = _append_waiting(service, rows)
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


def test_rollups_removed_while_an_append_waits_do_not_fail_it(tmp_path: Path) -> None:
    """The reload drops the removed rollups' tables; the append waiting from before stores its
    rows without them (it failed with a 500 when it kept the statements it chose before)."""
    service = open_service(tmp_path, compacting=False)
    try:
        rows = make_rows(random.Random(32), 400)
        outcome = service.ingestion.ingest("rollev", rows[:200], ADMIN, partial=False)
        assert outcome.accepted == 200
        with service.engine.writes_held():
            append, failures = _append_waiting(service, rows[200:])
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
