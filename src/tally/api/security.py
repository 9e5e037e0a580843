"""Bearer tokens to principals, as a FastAPI dependency, rate limited per principal.

A token that looks like an API key (`tly_...`) is looked up in the key store; anything else goes
to the JWT verifier when one is configured. Every failure is a 401 raised as a `TallyError`, so a
profile's router renders it in its own error shape.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from tally.api import ratelimit
from tally.auth.jwt_tokens import JwtVerifier
from tally.auth.keys import PREFIX
from tally.auth.principal import Principal
from tally.config import Settings
from tally.errors import unauthorized


def install(app: FastAPI, settings: Settings) -> None:
    """The JWT verifier (when configured) and the rate limiter of an app."""
    app.state.verifier = JwtVerifier(settings.jwt) if settings.jwt.enabled else None
    limiter = ratelimit.RateLimiter(settings.rate_limits, settings.redis_url, settings.redis_prefix)
    ratelimit.install(app, limiter)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request, token: str) -> Principal:
    """The principal of a token, then one draw on its rate limit.

    Profiles that carry the token elsewhere (an `X-API-Key` header...) call this directly.
    """
    if token.startswith(f"{PREFIX}_"):
        found = request.app.state.keys.authenticate(token)
        if found is None:
            raise unauthorized("the API key is not valid (unknown, expired or revoked)")
    else:
        verifier: JwtVerifier | None = getattr(request.app.state, "verifier", None)
        if verifier is None:
            raise unauthorized("the token is not a valid API key")
        found = verifier.verify(token)
    request.state.principal = found
    ratelimit.admit(request, found)
    return found


async def principal(request: Request) -> Principal:
    """On the event loop: a key lookup is a local SQLite read, and a thread hop costs more."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized("send Authorization: Bearer <token>")
    return authenticate(request, token)
