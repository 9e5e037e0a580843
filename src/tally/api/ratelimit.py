"""Rate limits per principal: a token bucket per subject, sized by the principal's role.

Buckets live in process memory, or in Redis when `TALLY_REDIS_URL` is set so every replica draws
on the same budget (one Lua script reads, refills and takes atomically, on Redis's own clock).
The draw runs on the event loop, so it is asynchronous with a short deadline: a slow or frozen
Redis delays the requests of that moment by at most the deadline and never stalls the loop (and
with it /healthz and every other request). When Redis does not answer, the process falls back to
its own buckets and tries Redis again a little later: a cache outage must not turn into an outage
of the API.

A refused request is a `TallyError` raised from the auth dependency, so each profile renders the
429 in its own shape; a middleware adds the `RateLimit-*` (and `X-RateLimit-*`) headers to
every authenticated response from what the dependency left on `request.state`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
import redis.asyncio
from fastapi import FastAPI, Request

from tally.auth.principal import Principal
from tally.auth.settings import Rate, RateLimitSettings
from tally.cache.redis_client import async_client
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
    """Buckets shared by every replica; `take` answers None while Redis is unhealthy."""

    RETRY_AFTER_S = 2.0
    TIMEOUT_S = 0.2

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self._url = url
        self._client: redis.asyncio.Redis | None = None
        self._script = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down_since: float | None = None
        self._last_error = ""

    def _bound(self) -> redis.asyncio.Redis:
        """The client of the running loop: an asyncio connection belongs to its loop."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = async_client(self._url, self.TIMEOUT_S), loop
            self._script = self._client.register_script(TAKE_SCRIPT)
        return self._client

    def _resting(self) -> bool:
        """Down, and not yet time to try again."""
        return (
            self._down_since is not None
            and time.monotonic() - self._down_since < self.RETRY_AFTER_S
        )

    async def _call(self, command):
        """`command(client)` on the loop's client within `TIMEOUT_S`; None when Redis did not
        answer (it is then left alone for `RETRY_AFTER_S`)."""
        if self._resting():
            return None
        try:
            async with asyncio.timeout(self.TIMEOUT_S):
                value = await command(self._bound())
        except (redis.RedisError, OSError, TimeoutError) as exc:
            if self._down_since is None:
                log.warning("redis rate limits unavailable, limiting per process: %r", exc)
            self._down_since = time.monotonic()
            self._last_error = type(exc).__name__
            return None
        if self._down_since is not None:
            log.warning("redis rate limits are back")
            self._down_since = None
        return value

    async def take(self, key: str, rate: Rate) -> Decision | None:
        reply = await self._call(
            lambda client: self._script(
                keys=[self.prefix + key], args=[rate.burst, rate.per_second / 1000], client=client
            )
        )
        if reply is None:
            return None
        allowed, tokens = reply
        return Decision(bool(allowed), rate, float(tokens))

    async def health(self) -> str:
        await self._call(lambda client: client.ping())
        return "ok" if self._down_since is None else f"down: {self._last_error}"

    async def close(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, redis_url: str | None, prefix: str) -> None:
        self.settings = settings
        self.memory = MemoryBuckets()
        self.redis = RedisBuckets(redis_url, f"{prefix}rl:") if redis_url else None

    async def take(self, principal: Principal) -> Decision | None:
        """None when the principal's role has no limit."""
        rate = self.settings.per_role.get(principal.role)
        if rate is None:
            return None
        digest = hashlib.sha256(principal.subject.encode()).hexdigest()[:32]
        key = f"{principal.role}:{digest}"
        shared = await self.redis.take(key, rate) if self.redis is not None else None
        return shared if shared is not None else self.memory.take(key, rate)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()


async def admit(request: Request, principal: Principal) -> None:
    """Draw one token for this request; 429 with Retry-After when the bucket is empty."""
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    decision = await limiter.take(principal) if limiter is not None else None
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
