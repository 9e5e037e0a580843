"""JWT bearer tokens: keys from a real JWKS endpoint on 127.0.0.1, every refusal a 401."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from tally.auth.jwks import JwksCache
from tally.auth.jwt_tokens import JwtVerifier
from tests.helpers import bearer
from tests.security.jwt_support import (
    Jwks,
    Signer,
    b64,
    hs256_by_hand,
    jwt_settings,
    payload,
)
from tests.security.support import closed_port, count, event, ingest, open_client


@pytest.fixture
def jwks_client(tmp_path: Path, jwks: Jwks) -> Iterator[TestClient]:
    settings = jwt_settings(jwks_url=jwks.url, jwks_min_refresh_s=0.0)
    with open_client(tmp_path / "data", jwt=settings) as client:
        _, admin = client.app.state.keys.create("admin", {}, all_tenants=True)
        rows = [event(i, "ws_a") for i in range(3)] + [event(10 + i, "ws_b") for i in range(5)]
        ingest(client, bearer(admin), rows, "agent_events")
        yield client


def test_rs256_and_es256_tokens_from_the_jwks_are_accepted_and_scoped(
    jwks_client: TestClient, rsa_signer: Signer, ec_signer: Signer
) -> None:
    for signer in (rsa_signer, ec_signer):
        headers = bearer(signer.token(workspaces=["ws_a"]))
        assert count(jwks_client, headers, "agent_events") == 3
        both = bearer(signer.token(workspaces=["ws_a", "ws_b"]))
        assert count(jwks_client, both, "agent_events") == 8


def test_a_new_kid_refreshes_the_jwks_and_passes(
    jwks_client: TestClient, jwks: Jwks, rsa_signer: Signer
) -> None:
    assert count(jwks_client, bearer(rsa_signer.token()), "agent_events") == 3
    hits = jwks.hits
    rotated = Signer(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa-2", "RS256"
    )
    jwks.keys = [rotated.jwk()]
    assert count(jwks_client, bearer(rotated.token()), "agent_events") == 3
    assert jwks.hits == hits + 1
    assert count(jwks_client, bearer(rotated.token(sub="bob")), "agent_events") == 3
    assert jwks.hits == hits + 1, "a known kid must not fetch the JWKS again"
    gone = jwks_client.post(
        "/v1/query", json={"dataset": "agent_events"}, headers=bearer(rsa_signer.token())
    )
    assert gone.status_code == 401, "a key dropped from the JWKS no longer verifies"


def test_unknown_kids_refresh_at_most_once_per_interval(jwks: Jwks, rsa_signer: Signer) -> None:
    now = [1000.0]
    cache = JwksCache(jwks.url, min_refresh_s=30.0, max_age_s=600.0, clock=lambda: now[0])
    assert [k.key_id for k in cache.keys_for("rsa-1", "RS256")] == ["rsa-1"]
    for _ in range(5):
        assert cache.keys_for("made-up", "RS256") == []
    assert cache.fetches == 1
    now[0] += 31
    assert cache.keys_for("made-up", "RS256") == []
    assert cache.fetches == 2
    assert cache.keys_for("rsa-1", "ES256") == [], "a key serves only its own algorithm"


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"exp": -120}, "expired"),
        ({"nbf": 120}, "not valid yet"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example.test/"}, "issuer"),
        ({"exp": None}, "exp"),
        ({"sub": None}, "sub"),
        ({"role": "superuser"}, "role"),
    ],
)
def test_bad_claims_are_refused_with_401(
    jwks_client: TestClient, rsa_signer: Signer, claims: dict, reason: str
) -> None:
    """exp and nbf are given as offsets from now (the leeway is 30 s)."""
    now = int(time.time())
    timed = {"exp", "nbf"}
    claims = {k: now + v if k in timed and v is not None else v for k, v in claims.items()}
    response = jwks_client.post(
        "/v1/query", json={"dataset": "agent_events"}, headers=bearer(rsa_signer.token(**claims))
    )
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and reason in error["message"]


def test_clock_skew_within_the_leeway_is_accepted(
    jwks_client: TestClient, rsa_signer: Signer
) -> None:
    now = int(time.time())
    late = rsa_signer.token(exp=now - 10, nbf=now + 10)
    assert count(jwks_client, bearer(late), "agent_events") == 3


def test_tampered_none_and_confused_tokens_are_refused(
    jwks_client: TestClient, rsa_signer: Signer
) -> None:
    header_b64, _, signature = rsa_signer.token().split(".")
    widened = b64(json.dumps(payload(workspaces=["ws_a", "ws_b"])).encode())
    tampered = f"{header_b64}.{widened}.{signature}"
    none_header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    unsigned = f"{none_header}.{widened}."
    confused = hs256_by_hand(
        rsa_signer.public_pem(), {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, payload()
    )
    for token in (tampered, unsigned, confused, "not-a-jwt", f"{header_b64}.{widened}"):
        response = jwks_client.post(
            "/v1/query", json={"dataset": "agent_events"}, headers=bearer(token)
        )
        assert response.status_code == 401, (token, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


def test_hs256_secret_and_pem_key_with_no_confusion(tmp_path: Path, rsa_signer: Signer) -> None:
    pem = tmp_path / "idp.pem"
    pem.write_bytes(rsa_signer.public_pem())
    secret = "s" * 48
    settings = jwt_settings(public_key_file=pem, hs256_secret=secret)
    with open_client(tmp_path / "data", jwt=settings) as client:
        _, admin = client.app.state.keys.create("admin", {}, all_tenants=True)
        ingest(client, bearer(admin), [event(1), event(2, "ws_b")], "agent_events")
        assert count(client, bearer(rsa_signer.token()), "agent_events") == 1
        shared = jwt.encode(payload(), secret, algorithm="HS256")
        assert count(client, bearer(shared), "agent_events") == 1
        confused = hs256_by_hand(rsa_signer.public_pem(), {"alg": "HS256"}, payload())
        refused = client.post(
            "/v1/query", json={"dataset": "agent_events"}, headers=bearer(confused)
        )
        assert refused.status_code == 401
        other = jwt.encode(payload(), "x" * 48, algorithm="HS256")
        assert (
            client.post(
                "/v1/query", json={"dataset": "agent_events"}, headers=bearer(other)
            ).status_code
            == 401
        )


def test_algorithms_come_from_configuration_only(tmp_path: Path, rsa_signer: Signer) -> None:
    pem = tmp_path / "idp.pem"
    pem.write_bytes(rsa_signer.public_pem())
    with pytest.raises(ValueError, match="no JWT algorithm"):
        JwtVerifier(jwt_settings(hs256_secret="k" * 48, algorithms=("ES256",)))
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtVerifier(jwt_settings(hs256_secret="short"))
    only_pem = jwt_settings(public_key_file=pem)
    with open_client(tmp_path / "data", jwt=only_pem) as client:
        hs = jwt.encode(payload(), "k" * 48, algorithm="HS256")
        response = client.post("/v1/query", json={"dataset": "agent_events"}, headers=bearer(hs))
        assert response.status_code == 401
        assert "HS256" in response.json()["error"]["message"]


def test_without_a_verifier_only_api_keys_pass(client: TestClient, rsa_signer: Signer) -> None:
    response = client.post(
        "/v1/query", json={"dataset": "agent_events"}, headers=bearer(rsa_signer.token())
    )
    assert response.status_code == 401


def test_an_unreachable_jwks_is_a_503_with_retry_after(tmp_path: Path, rsa_signer: Signer) -> None:
    closed = closed_port()
    settings = jwt_settings(jwks_url=f"http://127.0.0.1:{closed}/jwks.json")
    with open_client(tmp_path / "data", jwt=settings) as client:
        response = client.post(
            "/v1/query", json={"dataset": "agent_events"}, headers=bearer(rsa_signer.token())
        )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
