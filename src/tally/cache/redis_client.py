"""How Tally talks to Redis: short deadlines and at most one immediate retry.

redis-py retries a failed command ten times with a growing backoff by default, so one call to a
Redis that is down or frozen lasts seconds, however short its socket timeout. Redis is a cache
and a shared budget here, never the source of truth: a call that fails should fail within its
deadline, and the caller falls back (the engine, the per-process buckets). The one retry is for a
connection that Redis dropped (it restarted), which fails on its first use.
"""

from __future__ import annotations

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry


def _one_reconnect() -> Retry:
    return Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))


def sync_client(url: str, timeout_s: float, **options) -> redis.Redis:
    """A client for worker threads: every call returns or raises within about `timeout_s`
    (twice, after a dropped connection)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=_one_reconnect(),
        **options,
    )


def async_client(url: str, timeout_s: float) -> redis.asyncio.Redis:
    """A client for the event loop, bound to the loop it is first used on."""
    return redis.asyncio.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=_one_reconnect(),
    )
