"""Every answering route says in its headers whether the answer came from the cache, and how
old it is, so a client whose body must stay exactly as its API defines still sees it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tally.profiles import all_profiles
from tests.helpers import LiveApp, live_app

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The clock is pinned: a window that ends at "now" must not move between the two asks."""
    with live_app(tmp_path_factory.mktemp("headers"), clock=lambda: NOW) as app:
        yield app


def _asks() -> list[tuple[str, str, dict]]:
    asks = [("POST", "/v1/query", {"json": {"dataset": "agent_events"}})]
    for profile in all_profiles():
        path = profile.path
        for name, value in profile.example.path.items():
            path = path.replace("{" + name + "}", value)
        parts = {"headers": dict(profile.example.headers), "params": dict(profile.example.query)}
        if profile.example.body is not None:
            parts["json"] = profile.example.body
        asks.append((profile.method, path, parts))
    return asks


@pytest.mark.parametrize(
    "method,path,parts", _asks(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_miss_then_a_hit_with_its_age(live: LiveApp, method: str, path: str, parts: dict) -> None:
    if live.service.cache is not None:
        live.service.cache.clear()
    headers = {**live.admin, **parts.pop("headers", {})}
    first = live.client.request(method, path, headers=headers, **parts)
    assert first.status_code == 200, first.text
    assert first.headers["X-Cache"] == "miss" and first.headers["Age"] == "0"
    time.sleep(1.1)
    again = live.client.request(method, path, headers=headers, **parts)
    assert again.status_code == 200
    assert again.headers["X-Cache"] == "hit"
    assert int(again.headers["Age"]) >= 1
    assert again.headers["X-Tally-Cache"] == "hit"
