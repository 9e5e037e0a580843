"""HTTP Basic with the API key as password: what W&B's SDKs send (user `api`). It must be the
same principal as the key sent as a bearer token: same answers, scope, rate limit and last-use
record; anything that is not `base64(user:key)` with a valid key is a 401."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tally.auth.keys import KeyStore
from tests.helpers import basic, bearer
from tests.security.support import open_client
from tests.security.test_rate_limit import limits

QUERY = {"dataset": "agent_events"}
FEEDBACK = {
    "project_id": "team/alpha",
    "after_ms": 1_714_521_600_000,
    "before_ms": 1_714_608_000_000,
}


@pytest.mark.parametrize("user", ["api", "someone", ""])
def test_the_key_as_basic_password_is_the_same_principal(
    client: TestClient, keys: KeyStore, user: str
) -> None:
    _, token = keys.create("viewer", {"project_id": ("team/alpha",)})
    for path, body in (("/feedback/aggregate", FEEDBACK), ("/v1/capabilities", None)):
        method = client.post if body is not None else client.get
        extra = {"json": body} if body is not None else {}
        via_basic = method(path, headers=basic(token, user), **extra)
        assert via_basic.status_code == 200, via_basic.text
        assert via_basic.json() == method(path, headers=bearer(token), **extra).json()


def test_basic_has_the_scope_of_the_key(client: TestClient, keys: KeyStore) -> None:
    _, token = keys.create("viewer", {"project_id": ("team/alpha",)})
    other = {**FEEDBACK, "project_id": "team/beta"}
    response = client.post("/feedback/aggregate", json=other, headers=basic(token))
    assert response.status_code == 403
    assert "team/beta" in response.json()["detail"]


def test_basic_records_the_keys_last_use(client: TestClient, keys: KeyStore) -> None:
    key_id, token = keys.create("viewer", {"workspace_id": ("ws_a",)})
    before = datetime.now(UTC).replace(microsecond=0)
    assert client.post("/v1/query", json=QUERY, headers=basic(token)).status_code == 200
    used = next(k for k in keys.list() if k.id == key_id).last_used_at
    assert used is not None and datetime.fromisoformat(used) >= before


def test_basic_and_bearer_draw_on_one_rate_limit(tmp_path: Path) -> None:
    with open_client(tmp_path / "data", rate_limits=limits("1/60:2")) as client:
        _, token = client.app.state.keys.create("viewer", {"workspace_id": ("ws_a",)})
        assert client.post("/v1/query", json=QUERY, headers=bearer(token)).status_code == 200
        assert client.post("/v1/query", json=QUERY, headers=basic(token)).status_code == 200
        refused = client.post("/v1/query", json=QUERY, headers=basic(token))
        assert refused.status_code == 429
        assert client.post("/v1/query", json=QUERY, headers=bearer(token)).status_code == 429


def _raw(text: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        basic("tly_0000_not-a-key"),
        _raw("api"),  # no colon: no password
        _raw("api:"),  # an empty password
        {"Authorization": "Basic not base64!"},
        {"Authorization": "Basic"},
    ],
    ids=["unknown key", "no colon", "empty password", "not base64", "no credentials"],
)
def test_anything_else_in_basic_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/query", json=QUERY, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
