"""The DuckDB engine on its own: real file, timeouts that interrupt, concurrent readers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tally.engines.duckdb import DuckDBEngine
from tally.errors import TallyError


def test_a_slow_query_is_interrupted_and_answers_503(tmp_path) -> None:
    engine = DuckDBEngine(tmp_path / "t.duckdb")
    slow = "SELECT count(DISTINCT (a * 7919) % 1000003) FROM range(2000000000) t(a)"
    started = time.perf_counter()
    with pytest.raises(TallyError) as caught:
        engine.execute(slow, {}, timeout_s=0.3)
    elapsed = time.perf_counter() - started
    assert caught.value.status == 503
    assert caught.value.retry_after == 1
    assert "took longer than 0.3 s" in caught.value.message
    assert elapsed < 5, f"the interrupt took {elapsed:.1f} s"
    columns, rows = engine.execute("SELECT 41 + 1 AS answer", {}, timeout_s=5)
    assert (columns, rows) == (["answer"], [(42,)])
    engine.close()


@pytest.mark.parametrize("columnar", [False, True])
def test_a_ping_or_a_failed_query_leaves_the_threads_cursor_usable(tmp_path, columnar) -> None:
    """/readyz pings on a worker thread that later answers queries: the ping once left its
    result unfinished on the thread's cursor, and every later query of that thread failed."""
    engine = DuckDBEngine(tmp_path / "t.duckdb")
    try:
        engine.ping()
        assert engine.frame("SELECT 41 + 1 AS n", {}, 10, columnar).first("n") == 42
        bad = "SELECT CAST(v AS INTEGER) AS n FROM (SELECT 'x' || range AS v FROM range(9)) t"
        with pytest.raises(TallyError):
            engine.frame(bad, {}, 10, columnar)
        assert engine.frame("SELECT 7 AS n", {}, 10, columnar).first("n") == 7
    finally:
        engine.close()


def test_concurrent_readers_get_their_own_answers(tmp_path) -> None:
    engine = DuckDBEngine(tmp_path / "t.duckdb")

    def ask(n: int) -> int:
        _, rows = engine.execute("SELECT sum(x) FROM range($n) t(x)", {"n": n}, timeout_s=10)
        return rows[0][0]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(1, 200)))
    assert answers == [n * (n - 1) // 2 for n in range(1, 200)]
    engine.close()


def test_a_second_process_cannot_open_a_file_in_use(tmp_path) -> None:
    import subprocess
    import sys

    engine = DuckDBEngine(tmp_path / "t.duckdb")
    code = (
        "from pathlib import Path; from tally.engines.duckdb import DuckDBEngine\n"
        "from tally.errors import TallyError\n"
        f"try:\n    DuckDBEngine(Path({str(tmp_path / 't.duckdb')!r}))\n"
        "except TallyError as e:\n    print(e.status, e.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("503 cannot open the database"), out.stdout + out.stderr
    engine.close()


@pytest.mark.parametrize("upsert", [False, True])
@pytest.mark.parametrize("repeated", [False, True])
def test_a_bulk_load_is_stored_in_tenant_time_order(tmp_path, upsert, repeated) -> None:
    """A batch of at least a row group is sorted on the way in, so scans of one tenant's
    window skip the other row groups; the rows arrive here in a shuffled order, with tenants
    whose string order is not their numeric one (t10 before t2), and with a key repeated
    inside the batch (the path that drops repeats first) or not."""
    import random
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    from tally.catalog.storage import TableSpec
    from tally.engines.duckdb import ROW_GROUP_ROWS

    engine = DuckDBEngine(tmp_path / "t.duckdb")
    engine.ensure_table(
        'CREATE TABLE IF NOT EXISTS "ev" ("tenant" VARCHAR, "id" VARCHAR, "ts" TIMESTAMPTZ)',
        TableSpec("ev", ("tenant", "id"), upsert, ("tenant", "ts")),
        {},
    )
    count = ROW_GROUP_ROWS + 1000
    shuffled = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (f"t{shuffled.randrange(12)}", str(i), start + timedelta(seconds=shuffled.randrange(10**7)))
        for i in range(count)
    ]
    if repeated:
        rows.append(rows[-1])
    batch = pa.table(
        {
            "tenant": [r[0] for r in rows],
            "id": [r[1] for r in rows],
            "ts": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )
    outcome = engine.write(TableSpec("ev", ("tenant", "id"), upsert, ("tenant", "ts")), batch)
    assert outcome.accepted == count
    if repeated:
        rows.pop()
    _, stored = engine.execute('SELECT "tenant", "ts" FROM "ev" ORDER BY rowid', {}, 30)
    assert stored == sorted((r[0], r[2]) for r in rows)
    engine.close()


def test_close_waits_for_a_serialized_reader(tmp_path: Path) -> None:
    """A rollup dictionary is loaded on a thread of its own at start: closing the engine
    meanwhile waits for it (DuckDB refuses to close a connection one of whose cursors works),
    and nothing runs after the close."""
    engine = DuckDBEngine(tmp_path / "close.duckdb")
    reading = threading.Event()
    counted: list[int] = []

    def slow(cursor: Any) -> None:
        reading.set()
        counted.append(
            cursor.execute("SELECT sum(i % 7) FROM range(20000000) t(i)").fetchall()[0][0]
        )

    reader = threading.Thread(target=engine.serialized, args=(slow,))
    reader.start()
    reading.wait(5)
    engine.close()
    reader.join(5)
    assert counted == [sum(range(7)) * (20_000_000 // 7) + sum(range(20_000_000 % 7))]
    engine.serialized(lambda cursor: counted.append(-1))
    assert counted == [sum(range(7)) * (20_000_000 // 7) + sum(range(20_000_000 % 7))]
