"""Where cached answers live: process memory (default) or Redis, both holding JSON bytes.

A store also holds the data-version counters (see versions.py) next to the entries, so a hit
reads the counters and the entry together: one MGET in Redis, atomic in both stores. Hits read
through `read_async` on the event loop, other callers (worker threads) through `read`.

A store never raises to its caller: a Redis that is down makes `read` miss and `put` a no-op, is
logged once, shows in /readyz and /metrics, and is tried again after a short pause, so the
service keeps answering from the engine and recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Protocol

import redis

from tally.cache.pipelined import PipelinedReads
from tally.cache.redis_client import sync_client

log = logging.getLogger(__name__)
Read = tuple[tuple[int, ...], bytes | None]
# The counters' values and the epoch they count from.
Counts = tuple[str, tuple[int, ...]]
EPOCH_KEY = "epoch"


class Store(Protocol):
    name: str

    def read(self, counters: Sequence[str], key: str) -> Read | None:
        """The counters' values and the entry under `key`, at one instant; None when the store
        cannot answer."""
        ...

    async def read_async(self, counters: Sequence[str], key: str) -> Read | None:
        """`read` from the event loop, without blocking it."""
        ...

    def counts(self, counters: Sequence[str]) -> Counts | None:
        """The store's epoch and the counters' values; None when the store cannot answer. The
        epoch changes when the counters start again from 0 (a Redis restarted empty), so a value
        remembered under an old (epoch, counts) is never taken for a new one."""
        ...

    def incr(self, counters: Sequence[str]) -> None: ...

    def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    def acquire(self, key: str, ttl_s: float) -> bool: ...

    def release(self, key: str) -> None: ...

    def clear(self) -> int: ...

    def health(self) -> str: ...

    async def close(self) -> None:
        """Let go of connections; called on the event loop the app ran on."""
        ...

    @property
    def up(self) -> bool: ...


class MemoryStore:
    """LRU bounded by the bytes it holds; entries also expire after their TTL. The counters
    are kept apart from the LRU: evicting one would make old entries match again."""

    name = "memory"
    up = True

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._counters: dict[str, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._epoch = uuid.uuid4().hex

    def read(self, counters: Sequence[str], key: str) -> Read:
        with self._lock:
            return self._counts(counters), self._get(key)

    async def read_async(self, counters: Sequence[str], key: str) -> Read:
        return self.read(counters, key)

    def _get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    def counts(self, counters: Sequence[str]) -> Counts:
        with self._lock:
            return self._epoch, self._counts(counters)

    def _counts(self, counters: Sequence[str]) -> tuple[int, ...]:
        return tuple(self._counters.get(c, 0) for c in counters)

    def incr(self, counters: Sequence[str]) -> None:
        with self._lock:
            for counter in counters:
                self._counters[counter] = self._counters.get(counter, 0) + 1

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
        """Drop every entry; the counters stay, they describe the data, not the cache."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._bytes = 0
        return count

    def health(self) -> str:
        return "ok"

    async def close(self) -> None:
        return None

    @property
    def size_bytes(self) -> int:
        return self._bytes


def _counts(values: Sequence[bytes | None]) -> tuple[int, ...]:
    """Counter values as Redis returns them; a counter never bumped reads as 0."""
    return tuple(int(v) if v is not None else 0 for v in values)


class RedisStore:
    """Redis with short timeouts; while it is down every call is a quiet miss."""

    name = "redis"
    RETRY_AFTER_S = 2.0
    TIMEOUT_S = 0.5

    def __init__(self, url: str, prefix: str = "tally:") -> None:
        self.prefix = prefix
        self._url = url
        self._client = sync_client(url, self.TIMEOUT_S, health_check_interval=10)
        self._pipelined: PipelinedReads | None = None
        self._unsent: Counter[str] = Counter()
        self._unsent_lock = threading.Lock()
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
            self._failed(exc)
            return None
        self._answered()
        return value

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            if self._down_since is None:
                log.warning("redis cache unavailable, answering from the engine: %s", exc)
            self._down_since = time.monotonic()
            self._last_error = type(exc).__name__

    def _answered(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.warning("redis cache is back")
            self._down_since = None

    def read(self, counters: Sequence[str], key: str) -> Read | None:
        """One MGET of the counters and the entry. A miss while bumps that Redis did not take
        are still unsent: the counters it holds are behind the data."""
        if self._unsent and not self._send_unsent():
            return None
        return self._split(self._call(self._client.mget, self._names(counters, key)))

    async def read_async(self, counters: Sequence[str], key: str) -> Read | None:
        """`read` pipelined with the other hits of the moment (pipelined.py). Called only while
        the store is `up`; a failure marks it down, and threads take over until it is back."""
        loop = asyncio.get_running_loop()
        if self._pipelined is None or self._pipelined.loop is not loop:
            self._pipelined = PipelinedReads(self._url, self.TIMEOUT_S)
        try:
            values = await self._pipelined.mget(self._names(counters, key))
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        return self._split(values)

    def _names(self, counters: Sequence[str], key: str) -> list[str]:
        names = [self.prefix + c for c in counters]
        names.append(self.prefix + key)
        return names

    @staticmethod
    def _split(values: list[bytes | None] | None) -> Read | None:
        """MGET values to (counters, entry)."""
        if values is None:
            return None
        return _counts(values[:-1]), values[-1]

    def counts(self, counters: Sequence[str]) -> Counts | None:
        """One MGET of the epoch and the counters. Redis restarted empty has no epoch: the first
        reader draws one (SET NX, so every replica agrees on it); the counters it read were
        already counting from the restart."""
        if self._unsent and not self._send_unsent():
            return None
        epoch_key = self.prefix + EPOCH_KEY
        values = self._call(self._client.mget, [epoch_key, *(self.prefix + c for c in counters)])
        if values is None:
            return None
        epoch = values[0]
        if epoch is None:
            drawn = uuid.uuid4().hex.encode()
            found = self._call(self._client.set, epoch_key, drawn, nx=True, get=True)
            if found is None and not self._up_now():
                return None
            epoch = found or drawn
        return epoch.decode(), _counts(values[1:])

    def incr(self, counters: Sequence[str]) -> None:
        """Bump counters shared by every replica. A bump Redis does not take (it is down) is
        kept and sent before the next read, so no replica goes on serving what it invalidates."""
        with self._unsent_lock:
            self._unsent.update(counters)
        self._send_unsent()

    def _send_unsent(self) -> bool:
        with self._unsent_lock:
            if not self._unsent:
                return True
            pipe = self._client.pipeline(transaction=False)
            for counter, times in self._unsent.items():
                pipe.incrby(self.prefix + counter, times)
            if self._call(pipe.execute) is None:
                return False
            self._unsent.clear()
            return True

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._call(self._client.set, self.prefix + key, value, px=max(1, int(ttl_s * 1000)))

    def acquire(self, key: str, ttl_s: float) -> bool:
        """A short cross-process lock; when Redis is down every process computes for itself."""
        lock = f"{self.prefix}lock:{key}"
        got = self._call(lambda: bool(self._client.set(lock, b"1", nx=True, px=int(ttl_s * 1000))))
        return got is not False

    def release(self, key: str) -> None:
        self._call(self._client.delete, f"{self.prefix}lock:{key}")

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

    async def close(self) -> None:
        if self._pipelined is not None and self._pipelined.loop is asyncio.get_running_loop():
            await self._pipelined.close()
        self._client.close()

    def _up_now(self) -> bool:
        with self._lock:
            return self._down_since is None

    @property
    def up(self) -> bool:
        """Answering, and holding every bump: only then may a lookup run on the event loop."""
        with self._lock:
            return self._down_since is None and not self._unsent
