"""The result cache between the service and the engines.

Entries are kept `ttl + stale window` in the store; within `ttl` they are served as fresh hits,
after it only to `stale-while-revalidate` callers (who get them at once, marked stale, while one
background refresh recomputes). Whatever its age, an entry counts only while the data versions it
records are the current ones (versions.py): read together with it, in one round trip to Redis.
Errors are never stored: a failed computation raises to every caller waiting on it and leaves
nothing behind.

Identical concurrent misses run once: in a process through single-flight, across processes
through a short lock in the store. Both are named by the entry key and the versions read before
computing, so a caller never joins a computation that started before an ingestion it has seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tally.cache.codec import decode, encode
from tally.cache.keys import CacheKey
from tally.cache.singleflight import SingleFlight
from tally.cache.stores import Read, Store
from tally.result import Result

log = logging.getLogger(__name__)
LOCK_TTL_S = 10.0
POLL_S = 0.02
Versions = tuple[int, ...]


@dataclass(frozen=True)
class CacheInfo:
    hit: bool
    stale: bool
    generated_at: datetime
    age_ms: int

    def as_dict(self) -> dict:
        return {
            "hit": self.hit,
            "stale": self.stale,
            "generated_at": self.generated_at,
            "age_ms": self.age_ms,
        }


@dataclass(frozen=True)
class _Entry:
    result: Result
    generated_at: datetime
    versions: Versions


def _copy(result: Result) -> Result:
    return Result(
        rows=result.rows, groups=result.groups, measures=result.measures, meta=dict(result.meta)
    )


def _flight_key(ref: CacheKey, versions: Versions) -> str:
    return f"{ref.key}@{','.join(map(str, versions))}"


def _age_s(entry: _Entry) -> float:
    return (datetime.now(UTC) - entry.generated_at).total_seconds()


class ResultCache:
    def __init__(
        self,
        store: Store,
        stale_window_s: float = 300.0,
        on_event: Callable[[str], None] = lambda event: None,
    ) -> None:
        self.store = store
        self.stale_window_s = stale_window_s
        self.on_event = on_event
        self._flight: SingleFlight[tuple[Result, datetime, bool]] = SingleFlight()
        self._refresher = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tally-refresh")

    def _read(self, ref: CacheKey) -> tuple[Versions, _Entry | None] | None:
        return self._decode(self.store.read(ref.counters, ref.key))

    @staticmethod
    def _decode(found: Read | None) -> tuple[Versions, _Entry | None] | None:
        """The current versions and the entry (whatever versions it records); None when the
        store cannot answer."""
        if found is None:
            return None
        versions, raw = found
        if raw is None:
            return versions, None
        try:
            return versions, _Entry(*decode(raw))
        except (ValueError, KeyError, TypeError):
            log.warning("dropping an unreadable cache entry")
            return versions, None

    def _compute(
        self, ref: CacheKey, versions: Versions, compute: Callable[[], Result]
    ) -> tuple[Result, datetime]:
        generated_at = datetime.now(UTC)
        result = compute()
        entry = encode(result, generated_at, versions)
        stale_s = self.stale_window_s if ref.stale_s is None else ref.stale_s
        self.store.put(ref.key, entry, ref.ttl_s + stale_s)
        return result, generated_at

    def _lead_or_wait(
        self,
        ref: CacheKey,
        versions: Versions,
        seen: datetime | None,
        compute: Callable[[], Result],
    ) -> tuple[Result, datetime, bool]:
        """Across processes: one computes under a short lock, the others poll for its entry:
        one computed at the same versions and other than the entry `seen` before waiting."""
        lock = _flight_key(ref, versions)
        if self.store.acquire(lock, LOCK_TTL_S):
            try:
                result, generated_at = self._compute(ref, versions, compute)
            finally:
                self.store.release(lock)
            return result, generated_at, False
        deadline = time.monotonic() + LOCK_TTL_S
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            found = self._read(ref)
            entry = found[1] if found is not None else None
            if entry is not None and entry.versions == versions and entry.generated_at != seen:
                return entry.result, entry.generated_at, True
        result, generated_at = self._compute(ref, versions, compute)
        return result, generated_at, False

    @property
    def inline(self) -> bool:
        """Whether a lookup may run on the event loop: always for process memory; for Redis
        while it answers (its reads there are pipelined, never blocking). While Redis is down,
        lookups go to worker threads, whose reads retry it now and then and find it back."""
        return self.store.up

    def _fresh(
        self, versions: Versions, entry: _Entry | None, ttl_s: float
    ) -> tuple[Result, CacheInfo] | None:
        if entry is None or entry.versions != versions:
            return None
        age = _age_s(entry)
        if age >= ttl_s:
            return None
        self.on_event("hit")
        return entry.result, CacheInfo(True, False, entry.generated_at, int(age * 1000))

    async def peek(self, ref: CacheKey, mode: str) -> tuple[Result, CacheInfo] | None:
        """A fresh entry, or None; never computes, never blocks the event loop."""
        if mode == "no-cache":
            return None
        found = self._decode(await self.store.read_async(ref.counters, ref.key))
        return self._fresh(*found, ref.ttl_s) if found is not None else None

    def get_or_compute(
        self, ref: CacheKey, mode: str, compute: Callable[[], Result]
    ) -> tuple[Result, CacheInfo]:
        found = self._read(ref)
        if found is None:
            # The current data versions are unknown (Redis down): nothing can be trusted or
            # stored, so answer from the engine.
            result = compute()
            return result, CacheInfo(False, False, datetime.now(UTC), 0)
        versions, entry = found
        if mode != "no-cache":
            fresh = self._fresh(versions, entry, ref.ttl_s)
            if fresh is not None:
                return fresh
        current = entry if entry is not None and entry.versions == versions else None
        seen = current.generated_at if current is not None else None
        if current is not None and mode == "stale-while-revalidate":
            self.on_event("stale")
            self._refresher.submit(self._refresh, ref, versions, seen, compute)
            age_ms = int(_age_s(current) * 1000)
            return current.result, CacheInfo(True, True, current.generated_at, age_ms)
        self.on_event("miss")
        (result, generated_at, from_peer), joined = self._flight.run(
            _flight_key(ref, versions), lambda: self._lead_or_wait(ref, versions, seen, compute)
        )
        if joined:
            self.on_event("join")
        age_ms = int((datetime.now(UTC) - generated_at).total_seconds() * 1000)
        return _copy(result), CacheInfo(from_peer, False, generated_at, age_ms if from_peer else 0)

    def _refresh(
        self,
        ref: CacheKey,
        versions: Versions,
        seen: datetime | None,
        compute: Callable[[], Result],
    ) -> None:
        try:
            self._flight.run(
                _flight_key(ref, versions),
                lambda: self._lead_or_wait(ref, versions, seen, compute),
            )
        except Exception:
            log.exception("background refresh failed; the stale entry stays until it expires")

    def clear(self) -> int:
        return self.store.clear()

    async def close(self) -> None:
        self._refresher.shutdown(wait=False, cancel_futures=True)
        await self.store.close()
