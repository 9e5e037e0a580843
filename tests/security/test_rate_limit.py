"""Rate limits per principal: headers on every authenticated answer, 429, recovery, Redis."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import redis
from fastapi import APIRouter, Depends, Request, Response
from fastapi.testclient import TestClient

from tally.api.errors import ErrorShape, shaped_route
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.auth.settings import Rate, RateLimitSettings
from tally.config import Settings
from tally.errors import TallyError
from tests.helpers import bearer
from tests.security.support import closed_port, open_client

REDIS_URL = os.environ.get("TALLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
QUERY = {"dataset": "agent_events"}
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def limits(viewer: str, admin: str = "off") -> RateLimitSettings:
    return RateLimitSettings(
        {"viewer": Rate.parse(viewer), "editor": Rate.parse("off"), "admin": Rate.parse(admin)}
    )


def viewer_token(client: TestClient, subject: str | None = None) -> dict[str, str]:
    _, token = client.app.state.keys.create("viewer", {"workspace_id": ("ws_a",)}, subject=subject)
    return bearer(token)


def test_budget_headers_429_and_recovery(tmp_path: Path) -> None:
    with open_client(tmp_path / "data", rate_limits=limits("1/1:3")) as client:
        headers = viewer_token(client)
        remaining, resets = [], []
        for _ in range(3):
            response = client.post("/v1/query", json=QUERY, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["X-RateLimit-Limit"] == "3"
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
            resets.append(int(response.headers["X-RateLimit-Reset"]))
        assert remaining == [2, 1, 0]
        assert resets == [1, 1, 1], "seconds until one more request is available"
        refused = client.post("/v1/query", json=QUERY, headers=headers)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limited" and "trace_id" in error
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        for name in ("Limit", "Remaining", "Reset"):
            assert refused.headers[f"RateLimit-{name}"] == refused.headers[f"X-RateLimit-{name}"]
        assert refused.headers["RateLimit-Reset"] == refused.headers["Retry-After"]
        time.sleep(1.05)
        again = client.post("/v1/query", json=QUERY, headers=headers)
        assert again.status_code == 200, "one token refills each second"
        assert again.headers["X-RateLimit-Remaining"] == "0"


def test_reset_and_retry_after_agree_on_a_slow_rate(tmp_path: Path) -> None:
    """3 per minute refills a token every 20 s: a refused request is told 20 s everywhere,
    not 20 s in Retry-After beside 60 s (the time to a full bucket) in Reset."""
    with open_client(tmp_path / "data", rate_limits=limits("3/60")) as client:
        headers = viewer_token(client)
        for _ in range(3):
            assert client.post("/v1/query", json=QUERY, headers=headers).status_code == 200
        refused = client.post("/v1/query", json=QUERY, headers=headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "20"
        assert refused.headers["RateLimit-Reset"] == "20"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Limit"] == "3"


def test_headers_on_every_authenticated_answer_and_not_on_anonymous_ones(
    tmp_path: Path,
) -> None:
    with open_client(tmp_path / "data", rate_limits=limits("100/60")) as client:
        headers = viewer_token(client)
        answers = [
            client.post("/v1/query", json={"dataset": "nope"}, headers=headers),
            client.post("/v1/query", json={"dataset": "agent_events", "bad": 1}, headers=headers),
            client.post("/v1/datasets/agent_events/rows", json=[], headers=headers),
            client.get("/v1/datasets", headers=headers),
            client.get("/v1/datasets/nope", headers=headers),
        ]
        assert [a.status_code for a in answers] == [400, 400, 403, 200, 404]
        used = [int(a.headers["X-RateLimit-Remaining"]) for a in answers]
        assert used == [99, 98, 97, 96, 95]
        anonymous = client.post("/v1/query", json=QUERY)
        assert anonymous.status_code == 401
        assert not any(h in anonymous.headers for h in HEADERS)


def test_budgets_are_per_principal_and_per_role(tmp_path: Path) -> None:
    with open_client(tmp_path / "data", rate_limits=limits("1/60", admin="5/60")) as client:
        first, second = viewer_token(client), viewer_token(client)
        _, admin = client.app.state.keys.create("admin", {}, all_tenants=True)
        assert client.post("/v1/query", json=QUERY, headers=first).status_code == 200
        assert client.post("/v1/query", json=QUERY, headers=first).status_code == 429
        assert client.post("/v1/query", json=QUERY, headers=second).status_code == 200
        answer = client.post("/v1/query", json=QUERY, headers=bearer(admin))
        assert answer.status_code == 200 and answer.headers["X-RateLimit-Limit"] == "5"
        same_subject = [viewer_token(client, "carol"), viewer_token(client, "carol")]
        assert client.post("/v1/query", json=QUERY, headers=same_subject[0]).status_code == 200
        assert client.post("/v1/query", json=QUERY, headers=same_subject[1]).status_code == 429


def test_an_unlimited_role_has_no_headers(tmp_path: Path) -> None:
    with open_client(tmp_path / "data", rate_limits=limits("1/60")) as client:
        _, admin = client.app.state.keys.create("admin", {}, all_tenants=True)
        for _ in range(3):
            answer = client.post("/v1/query", json=QUERY, headers=bearer(admin))
            assert answer.status_code == 200
            assert "X-RateLimit-Limit" not in answer.headers


def test_the_429_is_rendered_in_the_routers_own_error_shape(tmp_path: Path) -> None:
    def teapot_error(error: TallyError, trace: str) -> dict:
        return {"failure": {"kind": error.code, "status": error.status}}

    router = APIRouter(route_class=shaped_route(ErrorShape(teapot_error)))

    @router.get("/probe/ping")
    async def ping(request: Request, who: Principal = Depends(principal)) -> Response:
        return Response(b"pong")

    with open_client(tmp_path / "data", rate_limits=limits("1/60")) as client:
        client.app.include_router(router)
        headers = viewer_token(client)
        assert client.get("/probe/ping", headers=headers).status_code == 200
        refused = client.get("/probe/ping", headers=headers)
        assert refused.status_code == 429
        assert refused.json() == {"failure": {"kind": "rate_limited", "status": 429}}
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_rates_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALLY_RATE_LIMIT_VIEWER", "30/60")
    monkeypatch.setenv("TALLY_RATE_LIMIT_EDITOR", "10/1:25")
    monkeypatch.setenv("TALLY_RATE_LIMIT_ADMIN", "off")
    rates = Settings.from_env().rate_limits.per_role
    assert rates == {"viewer": Rate(30, 60.0, 30), "editor": Rate(10, 1.0, 25), "admin": None}
    for bad in ("30", "x/60", "30/0", "0/10", "30/60:0", "30/60:x"):
        monkeypatch.setenv("TALLY_RATE_LIMIT_VIEWER", bad)
        with pytest.raises(ValueError, match="rate limit"):
            Settings.from_env()


@pytest.mark.redis
def test_replicas_share_one_budget_through_redis(tmp_path: Path) -> None:
    prefix = f"tally-test-{uuid.uuid4().hex}:"
    shared = {"redis_url": REDIS_URL, "redis_prefix": prefix, "rate_limits": limits("4/60")}
    try:
        with (
            open_client(tmp_path / "a", **shared) as a,
            open_client(tmp_path / "b", **shared) as b,
        ):
            on_a, on_b = viewer_token(a, "dana"), viewer_token(b, "dana")
            seen = []
            for client, headers in ((a, on_a), (b, on_b), (a, on_a), (b, on_b)):
                answer = client.post("/v1/query", json=QUERY, headers=headers)
                assert answer.status_code == 200, answer.text
                seen.append(answer.headers["X-RateLimit-Remaining"])
            assert seen == ["3", "2", "1", "0"]
            assert a.post("/v1/query", json=QUERY, headers=on_a).status_code == 429
            assert b.post("/v1/query", json=QUERY, headers=on_b).status_code == 429
            stored = redis.Redis.from_url(REDIS_URL).keys(f"{prefix}rl:*")
            assert len(stored) == 1 and 0 < redis.Redis.from_url(REDIS_URL).pttl(stored[0])
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_a_redis_that_is_down_falls_back_to_process_buckets(tmp_path: Path) -> None:
    closed = closed_port()
    down = f"redis://127.0.0.1:{closed}/0"
    with open_client(tmp_path / "data", redis_url=down, rate_limits=limits("2/60")) as client:
        headers = viewer_token(client)
        codes = [
            client.post("/v1/query", json=QUERY, headers=headers).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
