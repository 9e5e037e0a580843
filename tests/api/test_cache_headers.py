"""Every answering route says in its headers whether the answer came from the cache, how old it
is, and where it was served from (a rollup or the rows), so a client whose body must stay
exactly as its API defines still sees it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from tally.auth.principal import Principal
from tally.profiles import all_profiles
from tests.helpers import LiveApp, live_app

NOW = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
ADMIN = Principal(subject="admin", role="admin", all_tenants=True)


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
    assert first.headers["X-Tally-Served-From"] == "raw"  # the built-in datasets declare none
    time.sleep(1.1)
    again = live.client.request(method, path, headers=headers, **parts)
    assert again.status_code == 200
    assert again.headers["X-Cache"] == "hit"
    assert int(again.headers["Age"]) >= 1
    assert again.headers["X-Tally-Cache"] == "hit"
    assert again.headers["X-Tally-Served-From"] == "raw"


DAILY_TYPES = """
[[rollups]]
name = "types"
dimensions = ["event_type"]
measures = [{op = "count"}, {op = "sum", field = "amount"}]
"""


def test_a_profile_answer_names_the_rollup_it_was_served_from(tmp_path: Path) -> None:
    """Profile 000's body has no meta: the header is the only place its answer can say that a
    rollup served it, and the native answer to the same rows says the same."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    builtin = resources.files("tally.catalog.datasets").joinpath("agent_events.toml")
    (folder / "agent_events.toml").write_text(builtin.read_text() + DAILY_TYPES)
    with live_app(tmp_path, clock=lambda: NOW) as app:
        rows = [
            {
                "workspace_id": "ws_acme",
                "brand_id": "br_acme_main",
                "event_id": f"e{i}",
                "event_type": ("purchase", "add_to_cart", "view")[i % 3],
                "ts": (NOW - timedelta(hours=5 * i)).isoformat(),
                "amount": i,
            }
            for i in range(60)
        ]
        outcome = app.service.ingestion.ingest("agent_events", rows, ADMIN, partial=False)
        assert outcome.accepted == len(rows)
        body = {"event_types": ["purchase"], "group_by": "day", "aggregation": "sum",
                "value_field": "amount", "time_window_days": 7}  # fmt: skip
        headers = {**app.admin, "X-Active-Brand": "br_acme_main"}
        path = "/api/workspace/ws_acme/dashboards/aggregate"
        answer = app.client.post(path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Tally-Served-From"] == "types"
        native = {
            "dataset": "agent_events",
            "measures": [{"op": "count"}],
            "group_by": ["event_type"],
        }
        asked = app.client.post("/v1/query", json=native, headers=app.admin)
        assert (
            asked.json()["meta"]["served_from"] == asked.headers["X-Tally-Served-From"] == "types"
        )
