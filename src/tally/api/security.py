"""Bearer tokens to principals, as a FastAPI dependency."""

from __future__ import annotations

from fastapi import Request

from tally.auth.principal import Principal
from tally.errors import unauthorized


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal(request: Request) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise unauthorized("send Authorization: Bearer <token>")
    found = request.app.state.keys.authenticate(token)
    if found is None:
        raise unauthorized("the token is not valid (unknown, expired or revoked)")
    return found
