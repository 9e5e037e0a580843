"""Where cached answers live: process memory (default) or Redis, both holding JSON bytes.

A store never raises to its caller: a Redis that is down makes `get` miss and `put` a no-op, is
logged once, shows in /readyz and /metrics, and is tried again after a short pause, so the
service keeps answering from the engine and recovers by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Protocol

import redis

log = logging.getLogger(__name__)


class Store(Protocol):
    name: str

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    def acquire(self, key: str, ttl_s: float) -> bool: ...

    def release(self, key: str) -> None: ...

    def clear(self) -> int: ...

    def health(self) -> str: ...


class MemoryStore:
    """LRU bounded by the bytes it holds; entries also expire after their TTL."""

    name = "memory"

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires <= time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (time.monotonic() + ttl_s, value)
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._bytes -= len(value)

    def acquire(self, key: str, ttl_s: float) -> bool:
        return True

    def release(self, key: str) -> None:
        return None

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._bytes = 0
        return count

    def health(self) -> str:
        return "ok"

    @property
    def size_bytes(self) -> int:
        return self._bytes


class RedisStore:
    """Redis with short timeouts; while it is down every call is a quiet miss."""

    name = "redis"
    RETRY_AFTER_S = 2.0

    def __init__(self, url: str, prefix: str = "tally:") -> None:
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=10
        )
        self._down_since: float | None = None
        self._last_error = ""
        self._lock = threading.Lock()
        self._call(self._client.ping)

    def _available(self) -> bool:
        with self._lock:
            if self._down_since is None:
                return True
            return time.monotonic() - self._down_since >= self.RETRY_AFTER_S

    def _call(self, fn, *args, **kwargs):
        if not self._available():
            return None
        try:
            value = fn(*args, **kwargs)
        except redis.RedisError as exc:
            with self._lock:
                if self._down_since is None:
                    log.warning("redis cache unavailable, answering from the engine: %s", exc)
                self._down_since = time.monotonic()
                self._last_error = type(exc).__name__
            return None
        with self._lock:
            if self._down_since is not None:
                log.warning("redis cache is back")
            self._down_since = None
        return value

    def get(self, key: str) -> bytes | None:
        return self._call(self._client.get, self.prefix + key)

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._call(self._client.set, self.prefix + key, value, px=max(1, int(ttl_s * 1000)))

    def acquire(self, key: str, ttl_s: float) -> bool:
        """A short cross-process lock; when Redis is down every process computes for itself."""
        lock = f"{self.prefix}lock:{key}"
        got = self._call(lambda: bool(self._client.set(lock, b"1", nx=True, px=int(ttl_s * 1000))))
        return got is not False

    def release(self, key: str) -> None:
        self._call(self._client.delete, f"{self.prefix}lock:{key}")

    def incr(self, key: str) -> int | None:
        return self._call(self._client.incr, self.prefix + key)

    def mget(self, keys: list[str]) -> list[bytes | None] | None:
        return self._call(self._client.mget, [self.prefix + k for k in keys])

    def clear(self) -> int:
        def scan_and_delete() -> int:
            removed = 0
            for batch in self._batches(self._client.scan_iter(f"{self.prefix}q:*", count=500)):
                removed += self._client.delete(*batch)
            return removed

        return self._call(scan_and_delete) or 0

    @staticmethod
    def _batches(keys, size: int = 500):
        batch = []
        for key in keys:
            batch.append(key)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def health(self) -> str:
        if self._available():
            self._call(self._client.ping)
        with self._lock:
            return "ok" if self._down_since is None else f"down: {self._last_error}"

    @property
    def up(self) -> bool:
        with self._lock:
            return self._down_since is None
