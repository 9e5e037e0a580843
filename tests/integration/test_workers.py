"""`tally serve --workers 2` on PostgreSQL and Redis: real worker processes on one port.

Each response names the process that answered (`X-Tally-Worker`). A kept-alive connection stays
with the worker that accepted it, so the tests open connections until two of them are held by
different workers, then ask through each on purpose; every answer checks its worker, so a
connection that was dropped and reopened elsewhere fails the test instead of passing it wrongly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tally.auth.keys import KeyStore
from tally.catalog import Catalog
from tally.engines.base import Engine
from tally.service.tables import Tables
from tally.sql.dialect import Dialect
from tally.wiring import open_engine
from tests.engines_support import PG_URL, isolated_settings
from tests.helpers import bearer
from tests.integration.cache_support import COUNT_QUERY, REDIS_URL, event_rows
from tests.server_support import running_server

WORKER = "X-Tally-Worker"
CANCEL_S = 6.0  # the cancel reaches the running worker within ~0.5 s; DELETE waits for the end


class Pinned:
    """One kept-alive connection, and the worker process that holds it."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base, headers=bearer(token), timeout=30)
        self.pid = self.client.get("/healthz").headers[WORKER]

    def post(self, path: str, body: object) -> httpx.Response:
        response = self.client.post(path, json=body)
        assert response.status_code == 200, response.text
        assert response.headers[WORKER] == self.pid, "the connection moved to another worker"
        return response


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str, str]]:
    """Two workers on a fresh PostgreSQL schema and a Redis prefix of their own, an admin
    token and the schema's URL; the schema is dropped and the prefix's keys deleted after."""
    root = tmp_path_factory.mktemp("workers")
    prefix = f"tally-test-{uuid.uuid4().hex[:8]}:"
    store = KeyStore(root / "data" / "keys.sqlite")
    _, token = store.create("admin", {}, all_tenants=True)
    store.close()
    with isolated_settings("postgres", root) as settings:
        env = {
            "TALLY_ENGINE": "postgres",
            "TALLY_POSTGRES_URL": str(settings.postgres_url),
            "TALLY_REDIS_URL": REDIS_URL,
            "TALLY_REDIS_PREFIX": prefix,
        }
        try:
            with running_server(root / "data", flags=["--workers", "2"], **env) as base:
                yield base, token, str(settings.postgres_url)
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)


@pytest.fixture
def two(server) -> Iterator[tuple[Pinned, Pinned]]:
    """Connections held by two different workers (new connections until the second appears)."""
    base, token, _ = server
    held: dict[str, Pinned] = {}
    opened: list[Pinned] = []
    for _ in range(200):
        pinned = Pinned(base, token)
        opened.append(pinned)
        held.setdefault(pinned.pid, pinned)
        if len(held) == 2:
            break
    try:
        assert len(held) == 2, f"200 connections, all answered by {sorted(held)}"
        first, second = held.values()
        yield first, second
    finally:
        for pinned in opened:
            pinned.client.close()


def _ask(pinned: Pinned, workspace: str) -> tuple[str, int]:
    """(X-Cache, total count) of the count query over `workspace`, through `pinned`'s worker."""
    response = pinned.post("/v1/query", {**COUNT_QUERY, "scope": {"workspace_id": workspace}})
    return response.headers["X-Cache"], sum(row["count"] for row in response.json()["rows"])


def _ingest(pinned: Pinned, rows: list[dict]) -> None:
    assert pinned.post("/v1/datasets/agent_events/rows", rows).json()["accepted"] == len(rows)


def test_two_processes_answer_on_one_port(two) -> None:
    a, b = two
    assert a.pid != b.pid and os.getpid() not in (int(a.pid), int(b.pid))
    assert _ask(a, "ws_nobody") == ("miss", 0)
    assert _ask(b, "ws_nobody") == ("hit", 0)


def test_a_miss_in_one_worker_is_a_hit_in_the_other(two) -> None:
    a, b = two
    _ingest(a, event_rows("ws_shared", 6))
    assert _ask(a, "ws_shared") == ("miss", 6)
    assert _ask(b, "ws_shared") == ("hit", 6)


def test_ingestion_through_one_worker_invalidates_the_others_answers(two) -> None:
    a, b = two
    _ingest(a, event_rows("ws_fresh", 4))
    assert _ask(b, "ws_fresh") == ("miss", 4)
    assert _ask(b, "ws_fresh") == ("hit", 4)
    _ingest(a, event_rows("ws_fresh", 3, offset=4))
    assert _ask(b, "ws_fresh") == ("miss", 7)
    assert _ask(a, "ws_fresh") == ("hit", 7)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"TALLY_ENGINE": "duckdb"}, "cannot serve DuckDB: its file belongs to one process"),
        (
            {"TALLY_ENGINE": "clickhouse", "TALLY_CLICKHOUSE_URL": "chdb:///tmp/nowhere"},
            "cannot serve chDB: it runs ClickHouse inside one process",
        ),
        (
            {"TALLY_ENGINE": "postgres", "TALLY_POSTGRES_URL": "postgresql://nobody@127.0.0.1/x"},
            "needs TALLY_REDIS_URL: without it each worker keeps its own cache",
        ),
    ],
    ids=["duckdb", "chdb", "no-redis"],
)
def test_workers_are_refused_in_one_line_where_they_cannot_share(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    environment |= {"TALLY_DATA_DIR": str(tmp_path), **env}
    done = subprocess.run(
        [sys.executable, "-m", "tally.cli", "serve", "--workers", "2"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and reason in errors[0], done.stderr
    assert not (tmp_path / "tally.duckdb").exists()


@pytest.mark.postgres
def test_workers_starting_at_once_create_the_tables_once(tmp_path: Path) -> None:
    """Every worker creates the missing tables as it starts; two at once on an empty schema
    must both succeed (unguarded, concurrent CREATE TABLE IF NOT EXISTS collide)."""
    with isolated_settings("postgres", tmp_path) as settings:
        engines = [open_engine(settings) for _ in range(4)]
        catalog = Catalog.load(settings.datasets_dir)
        start = threading.Barrier(len(engines))

        def ensure(engine: Engine, dialect: Dialect) -> None:
            start.wait()
            Tables(catalog, engine, dialect).ensure()

        try:
            with ThreadPoolExecutor(len(engines)) as pool:
                for done in [pool.submit(ensure, *pair) for pair in engines]:
                    done.result()
        finally:
            for engine, _ in engines:
                engine.close()


def _heavy(tag: str) -> dict:
    """Seconds of PostgreSQL work over the rows of `_fill`; `tag` names a measure, so each is
    a question of its own (no cached answer, no running job shared)."""
    return {
        "dataset": "agent_events",
        "scope": {"workspace_id": "ws_heavy"},
        "time": {"last": "2d"},
        "group_by": ["event_type"],
        "measures": [
            {"op": "count_distinct", "field": "event_id", "as": tag},
            {"op": "count_distinct", "field": "session_id"},
        ],
    }


def _fill(pg_url: str, rows: int) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_events (workspace_id, brand_id, event_id, event_type, ts, "
            "session_id) SELECT 'ws_heavy', 'br_1', 'heavy-' || i, 'type_' || (i %% 13), "
            "now() - make_interval(secs => i %% 80000), 'sess_' || (i::bigint * 7919 %% 500003) "
            "FROM generate_series(1, %s) i",
            [rows],
        )


def _running_heavy() -> set[tuple[int, object]]:
    """(pid, query start) of each active statement shaped like `_heavy`'s (bound values are
    placeholders in pg_stat_activity, so the shape is what names it)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        found = conn.execute(
            "SELECT pid, query_start FROM pg_stat_activity WHERE state = 'active' "
            "AND query ILIKE '%%session_id%%agent_events%%COUNT(DISTINCT%%' "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return {(pid, start) for pid, start in found}


@pytest.fixture(scope="module")
def heavy_rows(server) -> int:
    """Rows for seconds of PostgreSQL work, stored before any connection is pinned (a
    connection idle past uvicorn's keep-alive is dropped, and reopened on any worker)."""
    rows = 600_000
    _fill(server[2], rows)
    return rows


def _other_worker(server, pid: str) -> Pinned:
    """A connection held by a worker other than `pid`."""
    for _ in range(200):
        pinned = Pinned(server[0], server[1])
        if pinned.pid != pid:
            return pinned
        pinned.client.close()
    raise AssertionError(f"200 connections, all answered by {pid}")


def test_a_job_started_in_one_worker_is_polled_and_canceled_through_the_other(
    server, heavy_rows
) -> None:
    """Jobs share their state through Redis: the worker that accepted the job runs it, the
    other answers its polls (running, then the answer) and takes its cancel, which stops the
    statement in PostgreSQL within CANCEL_S."""
    prefer = {**bearer(server[1]), "Prefer": "respond-async, wait=0"}
    tag = f"heavy_{uuid.uuid4().hex[:8]}"
    started = httpx.post(f"{server[0]}/v1/query", json=_heavy(tag), headers=prefer, timeout=30)
    assert started.status_code == 202, started.text
    other = _other_worker(server, started.headers[WORKER])
    location = started.headers["Location"]
    try:
        polled = other.client.get(location)
        assert polled.headers[WORKER] == other.pid
        assert polled.json()["status"] in ("pending", "running")
        deadline = time.monotonic() + 120
        while polled.json()["status"] in ("pending", "running"):
            assert time.monotonic() < deadline, "the job did not end within 120 s"
            time.sleep(0.3)
            polled = other.client.get(location)
        assert polled.headers[WORKER] == other.pid
        done = polled.json()
        assert done["status"] == "succeeded", done
        assert sum(row[tag] for row in done["result"]["rows"]) == heavy_rows
    finally:
        other.client.close()

    tag = f"heavy_{uuid.uuid4().hex[:8]}"
    started = httpx.post(f"{server[0]}/v1/query", json=_heavy(tag), headers=prefer, timeout=30)
    assert started.status_code == 202, started.text
    other = _other_worker(server, started.headers[WORKER])
    try:
        deadline = time.monotonic() + 10
        while not (running := _running_heavy()):
            assert time.monotonic() < deadline, "the statement never showed in pg_stat_activity"
            time.sleep(0.1)
        asked = time.monotonic()
        canceled = other.client.delete(started.headers["Location"])
        took = time.monotonic() - asked
    finally:
        other.client.close()
    assert canceled.headers[WORKER] == other.pid
    assert canceled.json()["status"] == "canceled", canceled.text
    assert took < CANCEL_S, f"the cancel took {took:.1f} s"
    assert not running & _running_heavy(), "PostgreSQL still runs the canceled statement"
