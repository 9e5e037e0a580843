"""API keys: expiry, revocation, last use, and rotation with an optional grace period."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tally.auth.keys import KeyStore
from tests.helpers import bearer
from tests.integration.test_cli import tally

QUERY = {"dataset": "agent_events"}


def status(client: TestClient, token: str) -> int:
    return client.post("/v1/query", json=QUERY, headers=bearer(token)).status_code


def test_an_expired_key_is_refused(client: TestClient, keys: KeyStore) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    future = datetime.now(UTC) + timedelta(days=1)
    _, expired = keys.create("viewer", {"workspace_id": ("ws_a",)}, expires_at=past)
    _, valid = keys.create("viewer", {"workspace_id": ("ws_a",)}, expires_at=future)
    assert status(client, expired) == 401
    assert status(client, valid) == 200


def test_revocation_takes_effect_on_the_next_request(client: TestClient, keys: KeyStore) -> None:
    key_id, token = keys.create("viewer", {"workspace_id": ("ws_a",)})
    assert status(client, token) == 200
    assert keys.revoke(key_id)
    assert status(client, token) == 401
    assert not keys.revoke(key_id), "a revoked key cannot be revoked again"


def test_last_used_is_recorded(client: TestClient, keys: KeyStore) -> None:
    key_id, token = keys.create("viewer", {"workspace_id": ("ws_a",)})
    assert next(k for k in keys.list() if k.id == key_id).last_used_at is None
    before = datetime.now(UTC).replace(microsecond=0)
    assert status(client, token) == 200
    used = next(k for k in keys.list() if k.id == key_id).last_used_at
    assert used is not None and datetime.fromisoformat(used) >= before


def test_rotate_keeps_everything_and_revokes_the_old_key(
    client: TestClient, keys: KeyStore
) -> None:
    expires = datetime.now(UTC) + timedelta(days=10)
    old_id, old = keys.create(
        "editor", {"workspace_id": ("ws_a", "ws_b")}, name="ci", teams=("red",),
        expires_at=expires, subject="svc-ci",
    )  # fmt: skip
    new_id, new = keys.rotate(old_id)
    assert status(client, old) == 401 and status(client, new) == 200
    listed = {k.id: k for k in keys.list()}
    before, after = listed[old_id], listed[new_id]
    assert (after.role, after.scopes, after.teams, after.subject, after.name) == (
        "editor", {"workspace_id": ["ws_a", "ws_b"]}, ["red"], "svc-ci", "ci",
    )  # fmt: skip
    assert before.revoked_at is not None and after.revoked_at is None
    lifetime = datetime.fromisoformat(after.expires_at) - datetime.fromisoformat(after.created_at)
    assert abs(lifetime - timedelta(days=10)) < timedelta(seconds=5)
    with pytest.raises(ValueError):
        keys.rotate(old_id)


def test_rotate_with_grace_keeps_the_old_key_working_until_then(
    client: TestClient, keys: KeyStore
) -> None:
    old_id, old = keys.create("viewer", {"workspace_id": ("ws_a",)})
    _, new = keys.rotate(old_id, grace=timedelta(minutes=5))
    assert status(client, old) == 200 and status(client, new) == 200
    revoked_at = next(k for k in keys.list() if k.id == old_id).revoked_at
    assert datetime.fromisoformat(revoked_at) > datetime.now(UTC) + timedelta(minutes=4)
    assert keys.revoke(old_id), "a key in its grace period can still be revoked at once"
    assert status(client, old) == 401 and status(client, new) == 200


def test_cli_create_with_expiry_rotate_with_grace_and_list(tmp_path: Path) -> None:
    created = tally(
        "keys", "create", "--role", "editor", "--scope", "workspace_id=ws_cli", "--team", "ops",
        "--subject", "deployer", "--expires-days", "7", "--name", "deploy", data_dir=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    old_token = created.stdout.strip()
    old_id = re.search(r"created key (\w+)", created.stderr).group(1)
    rotated = tally("keys", "rotate", old_id, "--grace-minutes", "30", data_dir=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip()
    new_id = re.search(r"created key (\w+)", rotated.stderr).group(1)
    assert new_token.startswith("tly_") and new_token != old_token
    store = KeyStore(tmp_path / "keys.sqlite")
    try:
        old, new = store.authenticate(old_token), store.authenticate(new_token)
        assert old is not None and new is not None, "the old key works during its grace period"
        assert (new.role, new.scopes, new.teams, new.subject) == (
            "editor", {"workspace_id": ("ws_cli",)}, ("ops",), "deployer",
        )  # fmt: skip
        listed = {k.id: k for k in store.list()}
        assert listed[old_id].revoked_at is not None and listed[new_id].revoked_at is None
        expires = datetime.fromisoformat(listed[new_id].expires_at)
        assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    finally:
        store.close()
    shown = tally("keys", "list", data_dir=tmp_path)
    assert shown.returncode == 0 and old_id in shown.stdout and new_id in shown.stdout
    assert old_token not in shown.stdout and new_token not in shown.stdout
    now = tally("keys", "rotate", new_id, data_dir=tmp_path)
    assert now.returncode == 0, now.stderr
    gone = KeyStore(tmp_path / "keys.sqlite")
    try:
        assert gone.authenticate(new_token) is None, "without grace the old key stops at once"
        assert gone.authenticate(now.stdout.strip()) is not None
    finally:
        gone.close()
    missing = tally("keys", "rotate", "nope", data_dir=tmp_path)
    assert missing.returncode != 0 and "no active key" in missing.stderr


def test_only_an_admin_of_every_tenant_manages_keys_over_http(
    client: TestClient, keys: KeyStore, admin_headers: dict[str, str]
) -> None:
    scope = {"workspace_id": ("ws_a",)}
    for role in ("viewer", "editor", "admin"):
        _, token = keys.create(role, scope)
        for method, url in (("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/x")):
            response = client.request(method, url, json={}, headers=bearer(token))
            assert response.status_code == 403, (role, method, response.text)
    listed = client.get("/v1/keys", headers=admin_headers)
    assert listed.status_code == 200
    assert {k["role"] for k in listed.json()["keys"]} == {"viewer", "editor", "admin"}
    assert "tly_" not in listed.text and "hash" not in listed.text


def test_create_rotate_and_revoke_over_http(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    body = {"role": "editor", "scopes": {"workspace_id": ["ws_h"]}, "teams": ["ops"],
            "subject": "svc", "name": "http", "expires_days": 3}  # fmt: skip
    created = client.post("/v1/keys", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    key_id, token = created.json()["id"], created.json()["token"]
    assert status(client, token) == 200
    row = {"workspace_id": "ws_h", "brand_id": "b", "event_id": "e1", "event_type": "t",
           "ts": "2026-11-01T10:00:00Z"}  # fmt: skip
    stored = client.post("/v1/datasets/agent_events/rows", json=[row], headers=bearer(token))
    assert stored.status_code == 200, "the new key has the editor role it was given"
    rotated = client.post(
        f"/v1/keys/{key_id}/rotate", json={"grace_minutes": 10}, headers=admin_headers
    )
    assert rotated.status_code == 201, rotated.text
    new_id, new_token = rotated.json()["id"], rotated.json()["token"]
    assert status(client, token) == 200 and status(client, new_token) == 200
    assert client.delete(f"/v1/keys/{key_id}", headers=admin_headers).status_code == 200
    assert status(client, token) == 401 and status(client, new_token) == 200
    assert client.delete(f"/v1/keys/{key_id}", headers=admin_headers).status_code == 404
    bare = client.post(f"/v1/keys/{new_id}/rotate", headers=admin_headers)
    assert bare.status_code == 201 and status(client, new_token) == 401
    for bad in ({"role": "root", "scopes": {"workspace_id": ["a"]}}, {"role": "viewer"},
                {"role": "viewer", "all_tenants": True, "extra": 1}):  # fmt: skip
        refused = client.post("/v1/keys", json=bad, headers=admin_headers)
        assert refused.status_code == 400, refused.text
