"""Rate limits per principal: a token bucket per subject, sized by the principal's role.

Buckets live in process memory, or in Redis when `TALLY_REDIS_URL` is set so every replica draws
on the same budget (one Lua script reads, refills and takes atomically, on Redis's own clock).
When Redis does not answer, the process falls back to its own buckets and tries Redis again a
little later: a cache outage must not turn into an outage of the API.

A refused request is a `TallyError` raised from the auth dependency, so each profile renders the
429 in its own shape; a middleware adds the `RateLimit-*` (and `X-RateLimit-*`) headers to
every authenticated response from what the dependency left on `request.state`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from fastapi import FastAPI, Request

from tally.auth.principal import Principal
from tally.auth.settings import Rate, RateLimitSettings
from tally.errors import TallyError

log = logging.getLogger(__name__)

MAX_MEMORY_BUCKETS = 100_000
TAKE_SCRIPT = """
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * per_ms)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / per_ms) + 1000)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True)
class Decision:
    """One request's draw on its bucket; `tokens` is what is left after it."""

    allowed: bool
    rate: Rate
    tokens: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil((1 - self.tokens) / self.rate.per_second))

    def headers(self) -> dict[str, str]:
        """Limit is the burst, Remaining the whole tokens left, Reset the seconds until one
        more request is available (0 with a full bucket): so on a 429, Reset and Retry-After
        are the same number. The IETF names and the older X- names carry the same values."""
        remaining = max(0, math.floor(self.tokens))
        full = self.tokens >= self.rate.burst
        fraction = self.tokens - remaining
        reset = 0 if full else max(1, math.ceil((1 - fraction) / self.rate.per_second))
        values = {"Limit": str(self.rate.burst), "Remaining": str(remaining), "Reset": str(reset)}
        return {
            **{f"RateLimit-{name}": value for name, value in values.items()},
            **{f"X-RateLimit-{name}": value for name, value in values.items()},
        }


class MemoryBuckets:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: Rate) -> Decision:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(rate.burst), now))
            tokens = min(rate.burst, tokens + (now - last) * rate.per_second)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            if len(self._buckets) >= MAX_MEMORY_BUCKETS and key not in self._buckets:
                self._buckets.clear()
            self._buckets[key] = (tokens, now)
        return Decision(allowed, rate, tokens)


class RedisBuckets:
    """Buckets shared by every replica; `take` answers None while Redis is unreachable."""

    RETRY_AFTER_S = 2.0

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._client = client
        self._script = client.register_script(TAKE_SCRIPT)
        self._down_since: float | None = None

    def take(self, key: str, rate: Rate) -> Decision | None:
        if self._down_since is not None:
            if time.monotonic() - self._down_since < self.RETRY_AFTER_S:
                return None
        try:
            allowed, tokens = self._script(
                keys=[self.prefix + key], args=[rate.burst, rate.per_second / 1000]
            )
        except redis.RedisError as exc:
            if self._down_since is None:
                log.warning("redis rate limits unavailable, limiting per process: %s", exc)
            self._down_since = time.monotonic()
            return None
        if self._down_since is not None:
            log.warning("redis rate limits are back")
            self._down_since = None
        return Decision(bool(allowed), rate, float(tokens))

    def close(self) -> None:
        self._client.close()


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, redis_url: str | None, prefix: str) -> None:
        self.settings = settings
        self.memory = MemoryBuckets()
        self.redis = RedisBuckets(redis_url, f"{prefix}rl:") if redis_url else None

    def take(self, principal: Principal) -> Decision | None:
        """None when the principal's role has no limit."""
        rate = self.settings.per_role.get(principal.role)
        if rate is None:
            return None
        digest = hashlib.sha256(principal.subject.encode()).hexdigest()[:32]
        key = f"{principal.role}:{digest}"
        shared = self.redis.take(key, rate) if self.redis is not None else None
        return shared if shared is not None else self.memory.take(key, rate)

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()


def admit(request: Request, principal: Principal) -> None:
    """Draw one token for this request; 429 with Retry-After when the bucket is empty."""
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    decision = limiter.take(principal) if limiter is not None else None
    if decision is None:
        return
    request.state.rate_limit = decision
    if not decision.allowed:
        raise TallyError(
            "rate_limited",
            f"too many requests: {decision.rate.requests} per {decision.rate.seconds:g} s "
            f"for the {principal.role} role; retry in {decision.retry_after} s",
            429,
            retry_after=decision.retry_after,
        )


def install(app: FastAPI, limiter: RateLimiter) -> None:
    """The headers of the decision are added to the response by `tally.api.observe`."""
    app.state.limiter = limiter
