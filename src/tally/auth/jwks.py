"""Public signing keys of an identity provider, fetched from its JWKS URL and cached.

The set is fetched on first use, again when it is older than `max_age_s`, and again when a token
names a `kid` the cache does not hold (the provider rotated its keys) — but never more often than
every `min_refresh_s`, so a stream of tokens with made-up kids cannot turn Tally into a client
that hammers the provider. A failed refresh keeps the keys already known.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx
import jwt
from jwt import PyJWK

from tally.errors import unavailable

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1024 * 1024


class JwksCache:
    def __init__(
        self,
        url: str,
        min_refresh_s: float = 30.0,
        max_age_s: float = 600.0,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self.fetches = 0
        self._clock = clock
        self._keys: list[tuple[str | None, PyJWK]] | None = None
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = threading.Lock()

    def keys_for(self, kid: str | None, algorithm: str) -> list[PyJWK]:
        """Keys that may have signed a token with this header; refreshed when it names a new kid."""
        with self._lock:
            if self._keys is None or self._age() > self.max_age_s:
                self._refresh()
            found = self._matching(kid, algorithm)
            if not found and kid is not None and self._may_refresh():
                self._refresh()
                found = self._matching(kid, algorithm)
            if self._keys is None:
                raise unavailable("the identity provider's signing keys cannot be fetched", 5)
            return found

    def _matching(self, kid: str | None, algorithm: str) -> list[PyJWK]:
        return [
            key
            for key_id, key in self._keys or []
            if (kid is None or key_id == kid) and key.algorithm_name == algorithm
        ]

    def _age(self) -> float:
        return float("inf") if self._fetched_at is None else self._clock() - self._fetched_at

    def _may_refresh(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= self.min_refresh_s

    def _refresh(self) -> None:
        if not self._may_refresh():
            return
        self._tried_at = self._clock()
        self.fetches += 1
        try:
            response = httpx.get(self.url, timeout=self.timeout_s, follow_redirects=False)
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("the JWKS document is too large")
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("cannot fetch JWKS from %s: %s", self.url, exc)
            return
        self._keys = parse_jwks(document)
        self._fetched_at = self._clock()


def parse_jwks(document: object) -> list[tuple[str | None, PyJWK]]:
    """The usable signing keys of a JWKS document; encryption keys and odd entries are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: list[tuple[str | None, PyJWK]] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in ("RSA", "EC"):
            continue
        try:
            key = PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            log.warning("skipping a JWKS key (kid %r): %s", entry.get("kid"), exc)
            continue
        kid = entry.get("kid")
        keys.append((kid if isinstance(kid, str) else None, key))
    return keys
