"""Tokens to principals, as a FastAPI dependency, rate limited per principal.

The token comes as `Authorization: Bearer <token>`, or as the password of `Authorization: Basic`
(any user name): W&B's SDKs send their API key as `Basic base64("api:<key>")`, so a Weave client
configured with a Tally key as its API key authenticates unchanged. Both carry the same token to
the same `authenticate`, so scope, role, rate limit and the key's last-use record do not depend
on the scheme. A token that looks like an API key (`tly_...`) is looked up in the key store;
anything else goes to the JWT verifier when one is configured. Every failure is a 401 raised as a
`TallyError`, so a profile's router renders it in its own error shape.
"""

from __future__ import annotations

import base64
import binascii

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
    """The token of the Authorization header: a bearer token, or a Basic password; None when
    there is none (no header, another scheme, Basic credentials that do not decode)."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic":
        credentials = _basic_password(credentials)
    elif scheme.lower() != "bearer":
        return None
    return credentials or None


def _basic_password(credentials: str) -> str:
    """The password of `base64(user:password)` (RFC 7617); "" when it is not that."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    _, colon, password = decoded.partition(":")
    return password.strip() if colon else ""


async def authenticate(request: Request, token: str) -> Principal:
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
    await ratelimit.admit(request, found)
    return found


async def principal(request: Request) -> Principal:
    """On the event loop: a key lookup is a local SQLite read, and a thread hop costs more; the
    rate limit's draw on Redis is asynchronous."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized("send Authorization: Bearer <token> (or Basic with the key as password)")
    return await authenticate(request, token)
