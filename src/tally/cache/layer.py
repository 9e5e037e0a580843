"""The result cache between the service and the engines.

Entries are kept `ttl + stale window` in the store; within `ttl` they are served as fresh hits,
after it only to `stale-while-revalidate` callers (who get them at once, marked stale, while one
background refresh recomputes). Errors are never stored: a failed computation raises to every
caller waiting on it and leaves nothing behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tally.cache.codec import decode, encode
from tally.cache.singleflight import SingleFlight
from tally.cache.stores import Store
from tally.result import Result

log = logging.getLogger(__name__)
LOCK_TTL_S = 10.0
POLL_S = 0.02


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


def _copy(result: Result) -> Result:
    return Result(
        rows=result.rows, groups=result.groups, measures=result.measures, meta=dict(result.meta)
    )


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

    def _read(self, key: str) -> tuple[Result, datetime] | None:
        raw = self.store.get(key)
        if raw is None:
            return None
        try:
            return decode(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("dropping an unreadable cache entry")
            return None

    def _compute(
        self, key: str, ttl_s: float, compute: Callable[[], Result]
    ) -> tuple[Result, datetime]:
        generated_at = datetime.now(UTC)
        result = compute()
        self.store.put(key, encode(result, generated_at), ttl_s + self.stale_window_s)
        return result, generated_at

    def _lead_or_wait(
        self, key: str, ttl_s: float, compute: Callable[[], Result]
    ) -> tuple[Result, datetime, bool]:
        """Across processes: one computes under a short lock, the others poll for its entry."""
        if self.store.acquire(key, LOCK_TTL_S):
            try:
                result, generated_at = self._compute(key, ttl_s, compute)
            finally:
                self.store.release(key)
            return result, generated_at, False
        deadline = time.monotonic() + LOCK_TTL_S
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            found = self._read(key)
            if found is not None:
                return found[0], found[1], True
        result, generated_at = self._compute(key, ttl_s, compute)
        return result, generated_at, False

    @property
    def inline(self) -> bool:
        """Whether a lookup is cheap enough to run on the event loop: always for process
        memory; for Redis while it answers (a local GET costs less than a thread hop). While
        Redis is down, lookups go to worker threads so a connect timeout cannot stall the loop."""
        return self.store.name == "memory" or bool(getattr(self.store, "up", False))

    def peek(self, key: str, ttl_s: float, mode: str) -> tuple[Result, CacheInfo] | None:
        """A fresh entry, or None; never computes, never waits."""
        if mode == "no-cache":
            return None
        found = self._read(key)
        if found is None:
            return None
        result, generated_at = found
        age = (datetime.now(UTC) - generated_at).total_seconds()
        if age >= ttl_s:
            return None
        self.on_event("hit")
        return result, CacheInfo(True, False, generated_at, int(age * 1000))

    def get_or_compute(
        self, key: str, ttl_s: float, mode: str, compute: Callable[[], Result]
    ) -> tuple[Result, CacheInfo]:
        fresh = self.peek(key, ttl_s, mode)
        if fresh is not None:
            return fresh
        stale = self._read(key) if mode == "stale-while-revalidate" else None
        if stale is not None:
            result, generated_at = stale
            age = (datetime.now(UTC) - generated_at).total_seconds()
            self.on_event("stale")
            self._refresher.submit(self._refresh, key, ttl_s, compute)
            return result, CacheInfo(True, True, generated_at, int(age * 1000))
        self.on_event("miss")
        (result, generated_at, from_peer), joined = self._flight.run(
            key, lambda: self._lead_or_wait(key, ttl_s, compute)
        )
        if joined:
            self.on_event("join")
        age_ms = int((datetime.now(UTC) - generated_at).total_seconds() * 1000)
        return _copy(result), CacheInfo(from_peer, False, generated_at, age_ms if from_peer else 0)

    def _refresh(self, key: str, ttl_s: float, compute: Callable[[], Result]) -> None:
        try:
            self._flight.run(key, lambda: self._lead_or_wait(key, ttl_s, compute))
        except Exception:
            log.exception("background refresh failed; the stale entry stays until it expires")

    def clear(self) -> int:
        return self.store.clear()

    def close(self) -> None:
        self._refresher.shutdown(wait=False, cancel_futures=True)
