"""Each engine stops a running statement when its cancel handle is canceled from another
thread: the statement raises `canceled` promptly (far before its natural end), the engine no
longer runs it (PostgreSQL: gone from pg_stat_activity; chDB: gone from system.processes) and
the engine answers the next statement. Progress is read while it runs where the engine has it.

Bounds on a loaded 2-core machine: each statement would run for tens of seconds; the cancel
must land within STOP_S.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tally.engines.cancel import Cancel
from tally.errors import TallyError
from tally.wiring import open_engine
from tests.engines_support import ENGINE_PARAMS, PG_URL, chdb_dir, isolated_settings

STOP_S = 3.0
RUN_FIRST_S = 1.0
# Each runs far longer than the test waits: DuckDB and chDB count distinct billions of numbers,
# PostgreSQL sleeps.
LONG = {
    "duckdb": "SELECT count(DISTINCT (a * 7919) % 1000003) AS n FROM range(4000000000) t(a)",
    "clickhouse": "SELECT number % 7 AS g, uniqExact(number) AS n FROM numbers(4000000000) "
    "GROUP BY g",
    "postgres": "SELECT pg_sleep(60) AS tally_cancel_probe",
}


def _postgres_running() -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%tally_cancel_probe%' AND pid <> pg_backend_pid()"
        ).fetchone()
    return found[0] if found else 0


def _chdb_running() -> int:
    """Asked on a connection of its own: the engine's runs one statement at a time."""
    import chdb

    conn = chdb.connect(str(chdb_dir()))
    try:
        found = conn.query(
            "SELECT count() FROM system.processes WHERE query LIKE '%uniqExact(number)%' "
            "AND query NOT LIKE '%system.processes%'",
            "CSV",
        )
        return int(str(found).strip())
    finally:
        conn.close()


def _running(name: str) -> Callable[[], int] | None:
    """How many copies of the long statement the engine runs, where it can be asked."""
    if name == "postgres":
        return _postgres_running
    if name == "clickhouse":
        return _chdb_running
    return None


@pytest.mark.parametrize("name", ENGINE_PARAMS)
def test_cancel_stops_the_running_statement(name: str, tmp_path: Path) -> None:
    with isolated_settings(name, tmp_path) as settings:
        engine, _ = open_engine(settings)
        try:
            cancel = Cancel()
            outcome: list[BaseException | None] = []

            def run() -> None:
                try:
                    engine.frame(LONG[name], {}, 120, False, cancel)
                    outcome.append(None)
                except BaseException as exc:
                    outcome.append(exc)

            worker = threading.Thread(target=run)
            worker.start()
            time.sleep(RUN_FIRST_S)
            count = _running(name)
            if count is not None:
                assert count() == 1, "the statement runs before the cancel"
            progress = cancel.progress()
            if name == "clickhouse":
                assert progress["rows_scanned"] > 0
            asked = time.monotonic()
            cancel.cancel()
            worker.join(STOP_S)
            took = time.monotonic() - asked
            assert not worker.is_alive(), f"still running {STOP_S} s after the cancel"
            assert isinstance(outcome[0], TallyError) and outcome[0].code == "canceled", outcome
            if count is not None:
                assert count() == 0, "the engine still runs the statement"
            assert took < STOP_S
            assert engine.frame("SELECT 41 + 1 AS n", {}, 10, False).first("n") == 42
        finally:
            engine.close()


def test_a_handle_canceled_before_the_statement_refuses_it(tmp_path: Path) -> None:
    with isolated_settings("duckdb", tmp_path) as settings:
        engine, _ = open_engine(settings)
        try:
            cancel = Cancel()
            cancel.cancel()
            with pytest.raises(TallyError) as caught:
                engine.frame("SELECT 1 AS n", {}, 10, False, cancel)
            assert caught.value.code == "canceled"
            assert engine.frame("SELECT 2 AS n", {}, 10, False).first("n") == 2
        finally:
            engine.close()
