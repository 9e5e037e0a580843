"""Limits against abuse, each set by its environment variable and each a clear 400 or 413."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.helpers import bearer
from tests.security.support import event, ingest, open_client

LIMITS = {
    "TALLY_MAX_ROWS": "5",
    "TALLY_DEFAULT_LIMIT": "3",
    "TALLY_MAX_BUCKETS": "24",
    "TALLY_MAX_WINDOW_DAYS": "10",
    "TALLY_MAX_MEASURES": "3",
    "TALLY_MAX_GROUPS": "2",
    "TALLY_MAX_FILTER_DEPTH": "3",
    "TALLY_MAX_FILTER_LEAVES": "4",
    "TALLY_MAX_BODY_BYTES": "20000",
    "TALLY_MAX_INGEST_ROWS": "6",
}
TYPES = ["view", "search", "add_to_cart", "purchase", "refund"]
DAY = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict]]:
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    with open_client(tmp_path / "data") as client:
        _, token = client.app.state.keys.create("admin", {}, all_tenants=True)
        headers = bearer(token)
        ingest(
            client, headers, [event(i, event_type=t) for i, t in enumerate(TYPES)], "agent_events"
        )
        yield client, headers


def leaf(value: str = "purchase") -> dict[str, Any]:
    return {"field": "event_type", "op": "eq", "value": value}


def nested(depth: int) -> dict[str, Any]:
    node = leaf()
    for _ in range(depth - 1):
        node = {"not": node}
    return node


def ask(client: TestClient, headers: dict, **body: Any):
    return client.post("/v1/query", json={"dataset": "agent_events", **body}, headers=headers)


def refused_at(response, path: str, words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    assert any(d["path"] == path and words in d["reason"] for d in error["details"]), error


def test_filter_depth(limited) -> None:
    client, headers = limited
    assert ask(client, headers, filter=nested(3)).status_code == 200
    refused_at(ask(client, headers, filter=nested(4)), "/filter", "deeper than 3")
    measure = {"op": "count", "filter": nested(4)}
    refused_at(ask(client, headers, measures=[measure]), "/measures/0/filter", "deeper than 3")


def test_filter_size(limited) -> None:
    client, headers = limited
    assert ask(client, headers, filter={"or": [leaf(t) for t in TYPES[:4]]}).status_code == 200
    refused_at(ask(client, headers, filter={"or": [leaf(t) for t in TYPES]}), "/filter", "4")


def test_number_of_measures_and_groups(limited) -> None:
    client, headers = limited
    ops = [{"op": "count"}, {"op": "sum", "field": "amount"}, {"op": "max", "field": "amount"}]
    assert ask(client, headers, measures=ops).status_code == 200
    more = [*ops, {"op": "min", "field": "amount"}]
    refused_at(ask(client, headers, measures=more), "/measures", "at most 3")
    assert ask(client, headers, group_by=["event_type", "brand_id"]).status_code == 200
    three = ["event_type", "brand_id", "workspace_id"]
    refused_at(ask(client, headers, group_by=three), "/group_by", "at most 2")


def test_window_length_and_buckets(limited) -> None:
    client, headers = limited
    ten = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-11T00:00:00Z"}
    eleven = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-12T00:00:00Z"}
    assert ask(client, headers, time=ten).status_code == 200
    refused_at(ask(client, headers, time=eleven), "/time", "longer than 10 days")
    refused_at(ask(client, headers, time={"last": "11d"}), "/time", "longer than 10 days")
    hourly = [{"time": "1 hour"}]
    assert ask(client, headers, time=DAY, group_by=hourly).status_code == 200
    two_days = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-03T00:00:00Z"}
    refused_at(ask(client, headers, time=two_days, group_by=hourly), "/group_by/0/time", "24")


def test_rows_returned(limited) -> None:
    client, headers = limited
    default = ask(client, headers, group_by=["event_type"])
    assert default.status_code == 200
    assert len(default.json()["rows"]) == 3, "TALLY_DEFAULT_LIMIT caps an unlimited query"
    assert default.json()["meta"]["total_groups"] == len(TYPES)
    assert len(ask(client, headers, group_by=["event_type"], limit=5).json()["rows"]) == 5
    refused_at(ask(client, headers, group_by=["event_type"], limit=6), "/limit", "at most 5")


def test_body_size_on_query_and_ingest(limited) -> None:
    client, headers = limited
    padding = "x" * 20_000
    big = ask(client, headers, filter=leaf(padding))
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    rows = [event(100 + i, event_type=padding[:6000]) for i in range(4)]
    stored = client.post("/v1/datasets/agent_events/rows", json=rows, headers=headers)
    assert stored.status_code == 413
    data = orjson.dumps(rows)
    chunks = (data[i : i + 4096] for i in range(0, len(data), 4096))
    streamed = client.post(
        "/v1/datasets/agent_events/rows",
        content=chunks,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413, "a body without Content-Length is counted as it streams"
    sql = client.post(
        "/v1/query/sql", json={"dataset": "agent_events", "filter": leaf(padding)}, headers=headers
    )
    assert sql.status_code == 413


def test_rows_per_ingest_batch(limited) -> None:
    client, headers = limited
    rows = [event(200 + i) for i in range(7)]
    response = client.post("/v1/datasets/agent_events/rows", json=rows, headers=headers)
    assert response.status_code == 413 and "at most 6 rows" in response.json()["error"]["message"]


@pytest.mark.parametrize("depth", [100, 300, 2000])
def test_absurd_nesting_is_a_400_never_a_500(limited, depth: int) -> None:
    client, headers = limited
    text = '{"dataset": "agent_events", "filter": ' + '{"not": ' * depth
    text += orjson.dumps(leaf()).decode() + "}" * depth + "}"
    response = client.post(
        "/v1/query", content=text, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("invalid_query", "invalid_json")
