"""Claims of a verified JWT become the principal: subject, role, teams and every scope kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tally.auth.settings import ClaimsMapping
from tally.config import Settings
from tests.helpers import bearer
from tests.security.jwt_support import AUDIENCE, ISSUER, Jwks, Signer
from tests.security.support import WINDOW, count, event, ingest, open_client


def metric_row(i: int, tenant: str, slug: str, teams: list[str]) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "id": f"req_{i}",
        "ts": "2026-11-01T10:00:00Z",
        "is_failure": False,
        "latency_ms": 100.0 + i,
        "created_by_subject_slug": slug,
        "created_by_subject_type": "user",
        "team": teams,
    }


def feedback_row(i: int, project: str) -> dict[str, Any]:
    return {
        "project_id": project,
        "id": f"fb_{i}",
        "created_at": "2026-11-01T10:00:00Z",
        "feedback_type": "wandb.annotation.note",
        "scorer_tags": [],
        "weave_ref": f"weave:///e/p/call/{i}",
        "span_status_code": "OK",
    }


def test_every_scope_kind_subject_teams_and_role_from_claims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jwks: Jwks, rsa_signer: Signer
) -> None:
    mapping = {
        "subject": "email",
        "role": "https://tally.example/roles",
        "roles": {"owner": "admin", "member": "viewer", "writer": "editor"},
        "teams": "groups",
        "scopes": {
            "orgs": "workspace_id",
            "brands": "brand_id",
            "catalogs": "catalog_id",
            "tenancy.tenants": "tenant_id",
            "projects": "project_id",
        },
    }
    monkeypatch.setenv("TALLY_JWT_JWKS_URL", jwks.url)
    monkeypatch.setenv("TALLY_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("TALLY_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("TALLY_JWT_LEEWAY_S", "5")
    monkeypatch.setenv("TALLY_JWT_CLAIMS", json.dumps(mapping))
    env = Settings.from_env().jwt
    assert env.jwks_url == jwks.url and env.leeway_s == 5.0
    assert env.claims == ClaimsMapping(**mapping)
    rows = [
        event(1, "ws_a", "br_1", catalog_id="cat_1"),
        event(2, "ws_a", "br_1", catalog_id="cat_2"),
        event(3, "ws_a", "br_2", catalog_id="cat_1"),
        event(4, "ws_b", "br_1", catalog_id="cat_1"),
    ]
    metrics = [
        metric_row(1, "t_1", "alice@example.test", ["red"]),
        metric_row(2, "t_1", "bob@example.test", ["blue"]),
        metric_row(3, "t_1", "carol@example.test", ["blue", "red"]),
        metric_row(4, "t_1", "dave@example.test", ["green"]),
        metric_row(5, "t_2", "alice@example.test", ["red"]),
    ]
    feedback = [feedback_row(1, "p_1"), feedback_row(2, "p_1"), feedback_row(3, "p_2")]
    with open_client(tmp_path / "data") as client:
        _, admin = client.app.state.keys.create("admin", {}, all_tenants=True)
        ingest(client, bearer(admin), rows, "agent_events")
        ingest(client, bearer(admin), metrics, "agent_metrics")
        ingest(client, bearer(admin), feedback, "feedback")

        def token(role: str, **claims: Any) -> dict[str, str]:
            base = {
                "sub": "user-123",
                "email": "alice@example.test",
                "https://tally.example/roles": [role],
                "groups": ["red"],
                "orgs": "ws_a",
                "brands": ["br_1"],
                "catalogs": ["cat_1"],
                "tenancy": {"tenants": ["t_1"]},
                "projects": ["p_1"],
                "workspaces": None,
            }
            return bearer(rsa_signer.token(**{**base, **claims}))

        viewer = token("member")
        expected_events = sum(
            r["workspace_id"] == "ws_a" and r["brand_id"] == "br_1" and r["catalog_id"] == "cat_1"
            for r in rows
        )
        assert count(client, viewer, "agent_events", time=WINDOW) == expected_events == 1
        expected_metrics = sum(
            m["tenant_id"] == "t_1"
            and (m["created_by_subject_slug"] == "alice@example.test" or "red" in m["team"])
            for m in metrics
        )
        assert count(client, viewer, "agent_metrics") == expected_metrics == 2
        assert count(client, viewer, "feedback") == 2
        outside = client.post(
            "/v1/query",
            json={"dataset": "agent_events", "scope": {"workspace_id": "ws_b"}},
            headers=viewer,
        )
        assert outside.status_code == 403
        refused = client.post(
            "/v1/datasets/agent_events/rows", json=[event(9, "ws_a")], headers=viewer
        )
        assert refused.status_code == 403
        editor = token("writer", catalogs=None, brands=None)
        ingest(client, editor, [event(9, "ws_a", "br_3")], "agent_events")
        assert count(client, editor, "agent_events") == 4
        owner = token("owner", catalogs=None, brands=None, orgs=["ws_a", "ws_b"])
        sql = client.post("/v1/query/sql", json={"dataset": "agent_events"}, headers=owner)
        assert sql.status_code == 200, sql.text
        assert count(client, owner, "agent_metrics") == 4, "admins are not held to row access"
