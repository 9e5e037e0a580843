"""Roles across the native API, and a request's scope narrowing held inside the principal's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.security.support import count, event, ingest

ROWS = [event(1, "ws_a"), event(2, "ws_a", amount=5.0), event(3, "ws_b"), event(4, "ws_c")]
QUERY = {"dataset": "agent_events", "measures": [{"op": "count"}]}


@pytest.fixture
def tokens(client: TestClient, keys: KeyStore, admin_headers: dict[str, str]) -> dict[str, str]:
    ingest(client, admin_headers, ROWS, "agent_events")
    scope = {"workspace_id": ("ws_a", "ws_b")}
    return {role: keys.create(role, scope)[1] for role in ("viewer", "editor", "admin")}


def call(client: TestClient, token: str, action: str) -> int:
    headers = bearer(token)
    if action == "query":
        return client.post("/v1/query", json=QUERY, headers=headers).status_code
    if action == "datasets":
        return client.get("/v1/datasets", headers=headers).status_code
    if action == "ingest":
        rows = [event(100 + len(token) % 7, "ws_a", event_type="probe")]
        return client.post("/v1/datasets/agent_events/rows", json=rows, headers=headers).status_code
    if action == "sql":
        return client.post("/v1/query/sql", json=QUERY, headers=headers).status_code
    return client.post("/v1/cache/clear", headers=headers).status_code


@pytest.mark.parametrize(
    "role, allowed",
    [
        ("viewer", {"query", "datasets"}),
        ("editor", {"query", "datasets", "ingest"}),
        ("admin", {"query", "datasets", "ingest", "sql", "cache"}),
    ],
)
def test_each_role_can_do_exactly_its_actions(
    client: TestClient, tokens: dict[str, str], role: str, allowed: set[str]
) -> None:
    for action in ("query", "datasets", "ingest", "sql", "cache"):
        code = call(client, tokens[role], action)
        assert code == (200 if action in allowed else 403), (role, action, code)


def test_a_short_role_is_403_in_the_native_error_shape(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.post("/v1/query/sql", json=QUERY, headers=bearer(tokens["editor"]))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "admin" in error["message"]
    assert {"code", "message", "trace_id"} <= set(error)


def test_a_refused_ingest_stores_nothing(
    client: TestClient, tokens: dict[str, str], admin_headers: dict[str, str]
) -> None:
    assert call(client, tokens["viewer"], "ingest") == 403
    assert count(client, admin_headers, "agent_events") == len(ROWS)


def test_scope_narrowing_inside_the_principal_and_403_outside(
    client: TestClient, tokens: dict[str, str]
) -> None:
    viewer = bearer(tokens["viewer"])
    by_ws = {ws: sum(r["workspace_id"] == ws for r in ROWS) for ws in ("ws_a", "ws_b", "ws_c")}
    assert count(client, viewer, "agent_events") == by_ws["ws_a"] + by_ws["ws_b"]
    assert count(client, viewer, "agent_events", scope={"workspace_id": "ws_a"}) == by_ws["ws_a"]
    assert count(client, viewer, "agent_events", scope={"workspace_id": ["ws_b"]}) == by_ws["ws_b"]
    for outside in ("ws_c", ["ws_a", "ws_c"]):
        body = {**QUERY, "scope": {"workspace_id": outside}}
        response = client.post("/v1/query", json=body, headers=viewer)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert "ws_c" in response.json()["error"]["message"]


def test_a_token_without_the_datasets_tenant_cannot_read_it(
    client: TestClient, keys: KeyStore, tokens: dict[str, str]
) -> None:
    _, other = keys.create("admin", {"tenant_id": ("t_1",)})
    response = client.post("/v1/query", json=QUERY, headers=bearer(other))
    assert response.status_code == 403
