"""The result cache against the real Redis of this machine and in process memory.

Engine executions are counted through the service's query observers (called once per SQL run
on the real engine), so "ran once" is measured, not assumed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from tally.api.app import create_app
from tally.config import Settings
from tally.wiring import build_service
from tests.helpers import bearer
from tests.integration.cache_support import COUNT_QUERY, REDIS_URL, event_rows

pytestmark = pytest.mark.redis


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def __call__(self, dataset: str, seconds: float) -> None:
        with self._lock:
            self.n += 1


def _app(data_dir: Path, **overrides):
    settings = Settings.from_env(data_dir=data_dir, datasets_dir=data_dir / "datasets", **overrides)
    service = build_service(settings)
    executions = Counter()
    service.answers.observers.append(executions)
    return create_app(settings, service), executions


@pytest.fixture
def redis_app(tmp_path: Path, prefix: str):
    app, executions = _app(tmp_path / "a", redis_url=REDIS_URL, redis_prefix=prefix)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True)
        client.headers.update(bearer(token))
        yield app, client, executions


def _count(client: TestClient, body: dict | None = None, headers: dict | None = None) -> dict:
    response = client.post("/v1/query", json=body or COUNT_QUERY, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_hit_after_miss_keeps_generated_at_and_counts_metrics(redis_app) -> None:
    app, client, executions = redis_app
    client.post("/v1/datasets/agent_events/rows", json=event_rows("ws_a", 10))
    first = _count(client)
    runs_after_first = executions.n
    second = _count(client)
    assert first["meta"]["cache"]["hit"] is False
    assert second["meta"]["cache"]["hit"] is True
    assert second["meta"]["cache"]["generated_at"] == first["meta"]["cache"]["generated_at"]
    assert second["rows"] == first["rows"]
    assert executions.n == runs_after_first, "a hit must not touch the engine"
    keys = redis.Redis.from_url(REDIS_URL).keys(f"{app.state.settings.redis_prefix}q:*")
    assert len(keys) == 1
    metrics = client.get("/metrics").text
    assert 'tally_cache_events_total{event="hit"} 1.0' in metrics
    assert "tally_cache_backend_up 1.0" in metrics


def test_ttl_expiry_recomputes(tmp_path: Path, prefix: str) -> None:
    # The TTL counts from before the first computation, so it must outlast that computation on
    # a busy CI machine (0.5 s did not, once) for the second ask to be a hit.
    app, executions = _app(tmp_path, redis_url=REDIS_URL, redis_prefix=prefix, cache_ttl_s=2.0)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True)
        client.headers.update(bearer(token))
        client.post("/v1/datasets/agent_events/rows", json=event_rows("ws_a", 5))
        first = _count(client)
        assert _count(client)["meta"]["cache"]["hit"] is True
        time.sleep(2.2)
        later = _count(client)
        assert later["meta"]["cache"]["hit"] is False
        assert later["meta"]["cache"]["generated_at"] > first["meta"]["cache"]["generated_at"]


def test_two_app_instances_share_an_entry(tmp_path: Path, prefix: str) -> None:
    """Two replicas over the same data and the same Redis: the second answers from the first."""
    app_a, runs_a = _app(tmp_path / "a", redis_url=REDIS_URL, redis_prefix=prefix)
    app_b, runs_b = _app(tmp_path / "b", redis_url=REDIS_URL, redis_prefix=prefix)
    with TestClient(app_a) as a, TestClient(app_b) as b:
        for app, client in ((app_a, a), (app_b, b)):
            _, token = app.state.keys.create("admin", {}, all_tenants=True)
            client.headers.update(bearer(token))
        first = _count(a)
        executions_before = runs_b.n
        shared = _count(b)
        assert shared["meta"]["cache"]["hit"] is True
        assert shared["meta"]["cache"]["generated_at"] == first["meta"]["cache"]["generated_at"]
        assert runs_b.n == executions_before


def test_ingestion_invalidates_only_the_affected_tenant(redis_app) -> None:
    app, client, executions = redis_app
    client.post(
        "/v1/datasets/agent_events/rows", json=event_rows("ws_a", 4) + event_rows("ws_b", 6)
    )
    scoped = {
        tenant: {**COUNT_QUERY, "scope": {"workspace_id": tenant}} for tenant in ("ws_a", "ws_b")
    }
    before = {t: _count(client, q) for t, q in scoped.items()}
    assert all(not b["meta"]["cache"]["hit"] for b in before.values())
    client.post("/v1/datasets/agent_events/rows", json=event_rows("ws_a", 3, offset=100))
    after_a = _count(client, scoped["ws_a"])
    after_b = _count(client, scoped["ws_b"])
    assert after_a["meta"]["cache"]["hit"] is False
    assert sum(r["count"] for r in after_a["rows"]) == 7
    assert after_b["meta"]["cache"]["hit"] is True
    assert sum(r["count"] for r in after_b["rows"]) == 6


def test_two_principals_with_different_scopes_never_share(redis_app) -> None:
    app, client, executions = redis_app
    client.post(
        "/v1/datasets/agent_events/rows", json=event_rows("ws_a", 4) + event_rows("ws_b", 6)
    )
    _, token_a = app.state.keys.create("viewer", {"workspace_id": ("ws_a",)})
    _, token_b = app.state.keys.create("viewer", {"workspace_id": ("ws_b",)})
    answer_a = _count(client, headers=bearer(token_a))
    answer_b = _count(client, headers=bearer(token_b))
    assert answer_b["meta"]["cache"]["hit"] is False
    assert sum(r["count"] for r in answer_a["rows"]) == 4
    assert sum(r["count"] for r in answer_b["rows"]) == 6
    again_a = _count(client, headers=bearer(token_a))
    assert again_a["meta"]["cache"]["hit"] is True and again_a["rows"] == answer_a["rows"]


def test_fifty_concurrent_identical_misses_run_once(tmp_path: Path) -> None:
    app, executions = _app(tmp_path)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True)
        client.post(
            "/v1/datasets/agent_events/rows", json=event_rows("ws_a", 2000), headers=bearer(token)
        )
        body = {**COUNT_QUERY, "measures": [{"op": "count"}, {"op": "p99", "field": "amount"}]}
        service = app.state.service
        slow_execute = service.answers._execute

        def slowed(*args, **kwargs):
            time.sleep(0.3)
            return slow_execute(*args, **kwargs)

        service.answers._execute = slowed
        baseline = executions.n
        start = threading.Barrier(50)

        def ask(_: int) -> dict:
            start.wait()
            return _count(client, body, headers=bearer(token))

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(ask, range(50)))
        sql_runs = executions.n - baseline
        assert sql_runs == 1, f"{sql_runs} engine executions for 50 identical requests"
        assert all(a["rows"] == answers[0]["rows"] for a in answers)
        assert 'tally_cache_events_total{event="join"}' in client.get("/metrics").text


def test_no_cache_recomputes_and_stale_while_revalidate_serves_stale(tmp_path: Path) -> None:
    app, executions = _app(tmp_path, cache_ttl_s=0.3)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True)
        client.headers.update(bearer(token))
        client.post("/v1/datasets/agent_events/rows", json=event_rows("ws_a", 5))
        first = _count(client)
        forced = _count(client, {**COUNT_QUERY, "cache": "no-cache"})
        assert forced["meta"]["cache"]["hit"] is False
        assert forced["meta"]["cache"]["generated_at"] > first["meta"]["cache"]["generated_at"]
        time.sleep(0.4)
        swr = {**COUNT_QUERY, "cache": "stale-while-revalidate"}
        stale = _count(client, swr)
        assert stale["meta"]["cache"] | {"age_ms": 0} == {
            "hit": True,
            "stale": True,
            "generated_at": forced["meta"]["cache"]["generated_at"],
            "age_ms": 0,
        }
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            refreshed = _count(client, swr)
            if not refreshed["meta"]["cache"]["stale"]:
                break
            time.sleep(0.05)
        assert refreshed["meta"]["cache"]["stale"] is False
        assert refreshed["meta"]["cache"]["generated_at"] > stale["meta"]["cache"]["generated_at"]


def test_errors_are_never_cached(tmp_path: Path) -> None:
    app, executions = _app(tmp_path)
    with TestClient(app) as client:
        _, token = app.state.keys.create("admin", {}, all_tenants=True)
        client.headers.update(bearer(token))
        service = app.state.service
        real_execute = service.answers._execute
        failures = {"left": 1}

        def flaky(*args, **kwargs):
            if failures["left"]:
                failures["left"] -= 1
                from tally.errors import unavailable

                raise unavailable("engine busy")
            return real_execute(*args, **kwargs)

        service.answers._execute = flaky
        assert client.post("/v1/query", json=COUNT_QUERY).status_code == 503
        ok = _count(client)
        assert ok["meta"]["cache"]["hit"] is False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_redis_stopped_mid_test_keeps_answering_and_recovers(tmp_path: Path) -> None:
    port = _free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(50):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        app, executions = _app(tmp_path / "d", redis_url=url)
        with TestClient(app) as client:
            _, token = app.state.keys.create("admin", {}, all_tenants=True)
            client.headers.update(bearer(token))
            client.post("/v1/datasets/agent_events/rows", json=event_rows("ws_a", 8))
            _count(client)
            assert _count(client)["meta"]["cache"]["hit"] is True
            server.kill()
            server.wait()
            down = _count(client)
            assert down["meta"]["cache"]["hit"] is False
            assert sum(r["count"] for r in down["rows"]) == 8
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["cache"].startswith("down")
            assert "tally_cache_backend_up 0.0" in client.get("/metrics").text
            server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            time.sleep(2.5)
            recovered = [_count(client)["meta"]["cache"]["hit"] for _ in range(3)]
            assert recovered[-1] is True
            assert client.get("/readyz").json()["checks"]["cache"] == "ok"
    finally:
        server.kill()
        server.wait()
