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
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tally.auth.keys import KeyStore
from tally.catalog import Catalog
from tally.engines.base import Engine
from tally.service.tables import Tables
from tally.sql.dialect import Dialect
from tally.wiring import open_engine
from tests.engines_support import isolated_settings
from tests.helpers import bearer
from tests.integration.cache_support import COUNT_QUERY, REDIS_URL, event_rows
from tests.server_support import running_server

WORKER = "X-Tally-Worker"


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
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """Two workers on a fresh PostgreSQL schema and a Redis prefix of their own, and an admin
    token; the schema is dropped and the prefix's keys deleted afterwards."""
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
                yield base, token
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)


@pytest.fixture
def two(server) -> Iterator[tuple[Pinned, Pinned]]:
    """Connections held by two different workers (new connections until the second appears)."""
    base, token = server
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


def test_workers_answer_respond_async_synchronously(server) -> None:
    """Jobs live in one process's memory and a poll may reach another worker, so under
    `--workers` a question asking for a job is answered at once, the preference not applied."""
    base, token = server
    headers = {**bearer(token), "Prefer": "respond-async, wait=0"}
    answer = httpx.post(f"{base}/v1/query", json=COUNT_QUERY, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert "Preference-Applied" not in answer.headers
    assert "rows" in answer.json()
