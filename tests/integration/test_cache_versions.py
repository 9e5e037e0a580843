"""Cache entries record the data versions they were computed at (against the real Redis).

A hit reads the version counters and the entry in one MGET; the entry counts only while its
versions are the current ones. These tests watch the commands Redis receives (MONITOR, filtered
by this test's key prefix), run ingestions through a second service sharing the Redis, and hold
a computation open while an ingestion lands.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tally.cache.pipelined import PipelinedReads
from tests.helpers import LiveApp, live_app
from tests.integration.cache_support import COUNT_QUERY, REDIS_URL, event_rows

pytestmark = pytest.mark.redis


def _scoped(workspace: str, **extra) -> dict:
    return {**COUNT_QUERY, "scope": {"workspace_id": workspace}, **extra}


def _ask(live: LiveApp, body: dict) -> dict:
    response = live.client.post("/v1/query", json=body, headers=live.admin)
    assert response.status_code == 200, response.text
    return response.json()


def _ingest(live: LiveApp, rows: list[dict]) -> None:
    response = live.client.post("/v1/datasets/agent_events/rows", json=rows, headers=live.admin)
    assert response.status_code == 200, response.text


def _total(answer: dict) -> int:
    return sum(row["count"] for row in answer["rows"])


@contextmanager
def cache_commands(prefix: str) -> Iterator[list[str]]:
    """The commands Redis receives on this prefix's cache keys (entries, counters, locks)."""
    watched = tuple(f"{prefix}{space}:" for space in ("q", "ver", "lock"))
    sentinel = f"end-of-watch-{uuid.uuid4().hex}"
    seen: list[str] = []
    with redis.Redis.from_url(REDIS_URL).monitor() as monitor:

        def listen() -> None:
            for message in monitor.listen():
                command = message["command"]
                if sentinel in command:
                    return
                if any(space in command for space in watched):
                    seen.append(command)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        yield seen
        redis.Redis.from_url(REDIS_URL).echo(sentinel)
        listener.join(timeout=10)
        assert not listener.is_alive(), "MONITOR never showed the end of the watch"


@contextmanager
def first_execution_held(service) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The service's next engine execution, once computed, waits for `release` before it
    answers; `computed` is set when it has computed. Later executions run freely."""
    real_execute = service.answers._execute
    computed, release = threading.Event(), threading.Event()

    def held(*args, **kwargs):
        result = real_execute(*args, **kwargs)
        if not computed.is_set():
            computed.set()
            assert release.wait(10)
        return result

    service.answers._execute = held
    try:
        yield computed, release
    finally:
        release.set()
        service.answers._execute = real_execute


def test_a_hit_is_one_mget_of_the_counters_and_the_entry(tmp_path: Path, prefix: str) -> None:
    with live_app(tmp_path, redis_url=REDIS_URL, redis_prefix=prefix) as live:
        _ingest(live, event_rows("ws_a", 6))
        body = _scoped("ws_a")
        assert _ask(live, body)["meta"]["cache"]["hit"] is False
        with cache_commands(prefix) as seen:
            hit = _ask(live, body)
        assert hit["meta"]["cache"]["hit"] is True and _total(hit) == 6
        assert len(seen) == 1, seen
        command, *names = seen[0].split()
        assert command == "MGET"
        assert names[0] == f"{prefix}ver:agent_events:ws_a"
        assert names[1] == f"{prefix}all:agent_events"  # moved by a refresh call
        assert names[2].startswith(f"{prefix}q:") and len(names) == 3


def test_ingestion_through_one_service_invalidates_the_other(tmp_path: Path, prefix: str) -> None:
    """Two replicas share the Redis; new ws_a rows through A end B's ws_a entry only. (Each
    has its own DuckDB file here, so hits and misses are compared, not counts.)"""
    shared = {"redis_url": REDIS_URL, "redis_prefix": prefix}
    with (
        live_app(tmp_path / "a", **shared) as a,
        live_app(tmp_path / "b", **shared) as b,
    ):
        for live in (a, b):
            _ingest(live, event_rows("ws_a", 4) + event_rows("ws_b", 6))
        before = {ws: _ask(b, _scoped(ws)) for ws in ("ws_a", "ws_b")}
        assert all(_ask(b, _scoped(ws))["meta"]["cache"]["hit"] for ws in before)
        _ingest(a, event_rows("ws_a", 3, offset=100))
        after_a = _ask(b, _scoped("ws_a"))
        assert after_a["meta"]["cache"]["hit"] is False
        assert (
            after_a["meta"]["cache"]["generated_at"]
            > before["ws_a"]["meta"]["cache"]["generated_at"]
        )
        after_b = _ask(b, _scoped("ws_b"))
        assert after_b["meta"]["cache"]["hit"] is True and _total(after_b) == 6


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_an_entry_computed_across_an_ingestion_is_never_served(
    tmp_path: Path, prefix: str, backend: str
) -> None:
    """The engine answers from the old rows, then rows land before the entry is stored: the
    entry records the versions read before computing, so it never matches again."""
    overrides = {"redis_url": REDIS_URL, "redis_prefix": prefix} if backend == "redis" else {}
    with live_app(tmp_path, **overrides) as live:
        _ingest(live, event_rows("ws_a", 4))
        with first_execution_held(live.service) as (computed, landed):
            with ThreadPoolExecutor(1) as pool:
                slow = pool.submit(_ask, live, _scoped("ws_a"))
                assert computed.wait(10)
                _ingest(live, event_rows("ws_a", 3, offset=100))
                landed.set()
                assert _total(slow.result(10)) == 4
        again = _ask(live, _scoped("ws_a"))
        assert again["meta"]["cache"]["hit"] is False and _total(again) == 7
        assert _ask(live, _scoped("ws_a"))["meta"]["cache"]["hit"] is True


def test_a_caller_never_joins_a_computation_older_than_an_ingestion(tmp_path: Path) -> None:
    """Single-flight is keyed by the versions too: after new rows, a second caller computes
    anew instead of waiting for (and sharing) the answer already under way."""
    with live_app(tmp_path) as live:
        _ingest(live, event_rows("ws_a", 4))
        with first_execution_held(live.service) as (started, release):
            with ThreadPoolExecutor(2) as pool:
                older = pool.submit(_ask, live, _scoped("ws_a"))
                assert started.wait(10)
                _ingest(live, event_rows("ws_a", 3, offset=100))
                newer = pool.submit(_ask, live, _scoped("ws_a")).result(10)
                assert not older.done(), "the newer caller must not have waited for the older one"
                release.set()
                assert _total(older.result(10)) == 4
        assert newer["meta"]["cache"]["hit"] is False and _total(newer) == 7


def test_stale_while_revalidate_on_redis_serves_stale_only_within_versions(
    tmp_path: Path, prefix: str
) -> None:
    overrides = {"redis_url": REDIS_URL, "redis_prefix": prefix, "cache_ttl_s": 0.3}
    with live_app(tmp_path, **overrides) as live:
        _ingest(live, event_rows("ws_a", 5))
        swr = _scoped("ws_a", cache="stale-while-revalidate")
        first = _ask(live, swr)
        time.sleep(0.4)
        stale = _ask(live, swr)
        assert stale["meta"]["cache"]["stale"] is True and stale["meta"]["cache"]["hit"] is True
        assert stale["meta"]["cache"]["generated_at"] == first["meta"]["cache"]["generated_at"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            refreshed = _ask(live, swr)
            if not refreshed["meta"]["cache"]["stale"]:
                break
            time.sleep(0.05)
        assert refreshed["meta"]["cache"]["hit"] is True
        assert refreshed["meta"]["cache"]["generated_at"] > first["meta"]["cache"]["generated_at"]
        time.sleep(0.4)
        _ingest(live, event_rows("ws_a", 2, offset=100))
        after = _ask(live, swr)
        assert after["meta"]["cache"] | {"generated_at": None, "age_ms": 0} == {
            "hit": False,
            "stale": False,
            "generated_at": None,
            "age_ms": 0,
        }
        assert _total(after) == 7


def test_concurrent_hits_of_different_tenants_each_get_their_own(
    tmp_path: Path, prefix: str
) -> None:
    """Hits asked together share pipelined reads; every answer must still be its own."""
    sizes = {"ws_a": 3, "ws_b": 5, "ws_c": 8}
    with live_app(tmp_path, redis_url=REDIS_URL, redis_prefix=prefix) as live:
        _ingest(live, [row for ws, n in sizes.items() for row in event_rows(ws, n)])
        for ws in sizes:
            _ask(live, _scoped(ws))
        asked = [ws for ws in sizes for _ in range(20)]
        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(lambda ws: _ask(live, _scoped(ws)), asked))
        assert all(answer["meta"]["cache"]["hit"] for answer in answers)
        assert [_total(answer) for answer in answers] == [sizes[ws] for ws in asked]


def test_pipelined_reads_answer_each_caller_in_order(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for i in range(50):
        client.set(f"{prefix}q:{i}", f"entry-{i}")
        client.set(f"{prefix}ver:{i}", i)

    async def read_all() -> list[list[bytes | None]]:
        reads = PipelinedReads(REDIS_URL, timeout_s=1)
        try:
            names = [[f"{prefix}ver:{i}", f"{prefix}q:{i}", f"{prefix}q:none"] for i in range(50)]
            return await asyncio.gather(*(reads.mget(n) for n in names))
        finally:
            await reads.close()

    replies = asyncio.run(read_all())
    assert replies == [[str(i).encode(), f"entry-{i}".encode(), None] for i in range(50)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(port: int, data: Path) -> subprocess.Popen:
    """A private redis-server that keeps its data across a kill (append-only file)."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return server
        except redis.ConnectionError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_bump_redis_missed_is_sent_before_the_next_read(tmp_path: Path) -> None:
    """Redis is down while rows land, then comes back with its old entries and counters: the
    bump it missed goes first, so the entry from before those rows is not served."""
    port, data = _free_port(), tmp_path / "redis"
    data.mkdir()
    server = _start_redis(port, data)
    try:
        with live_app(tmp_path / "d", redis_url=f"redis://127.0.0.1:{port}/0") as live:
            _ingest(live, event_rows("ws_a", 5))
            _ask(live, _scoped("ws_a"))
            assert _ask(live, _scoped("ws_a"))["meta"]["cache"]["hit"] is True
            server.kill()
            server.wait()
            _ingest(live, event_rows("ws_a", 3, offset=100))
            server = _start_redis(port, data)
            time.sleep(live.service.cache.store.RETRY_AFTER_S + 0.5)
            after = _ask(live, _scoped("ws_a"))
            assert after["meta"]["cache"]["hit"] is False and _total(after) == 8
            assert _ask(live, _scoped("ws_a"))["meta"]["cache"]["hit"] is True
    finally:
        server.kill()
        server.wait()
