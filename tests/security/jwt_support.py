"""Signers, hand-made tokens and a JWKS served over HTTP, for the JWT tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from tally.auth.settings import JwtSettings

ISSUER = "https://idp.example.test/"
AUDIENCE = "tally-api"


@dataclass
class Jwks:
    """A JWKS document served over HTTP, and every request made to it."""

    keys: list[dict] = field(default_factory=list)
    hits: int = 0
    url: str = ""


@dataclass
class Signer:
    private: Any
    kid: str
    alg: str

    def jwk(self) -> dict:
        algorithm = (
            jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        )
        data = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, **claims: Any) -> str:
        return jwt.encode(
            payload(**claims), self.private, algorithm=self.alg, headers={"kid": self.kid}
        )


def payload(**claims: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "workspaces": ["ws_a"],
    }
    merged = {**base, **claims}
    return {k: v for k, v in merged.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(secret: bytes, header: dict, body: dict) -> str:
    """An HS256 token signed with any bytes, as an attacker would craft it."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def jwt_settings(**overrides: Any) -> JwtSettings:
    values: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "leeway_s": 30.0}
    return JwtSettings(**{**values, **overrides})


@contextmanager
def serve_jwks(state: Jwks) -> Iterator[Jwks]:
    """A tiny HTTP server on 127.0.0.1 answering every GET with `state.keys`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            data = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
