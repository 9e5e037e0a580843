"""Data versions: a counter per (dataset, tenant) that every ingestion bumps.

Cache keys include the versions of the tenants a scope can read, so a new row makes the next
query of that tenant recompute while other tenants' entries stay valid. With Redis the counters
are shared, so an ingestion through one replica invalidates the entries of all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from tally.cache.stores import RedisStore

EVERY_TENANT = "*"


class DataVersions:
    def __init__(self, shared: RedisStore | None = None) -> None:
        self._local: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._shared = shared

    @staticmethod
    def _names(dataset: str, tenants: Iterable[str]) -> list[str]:
        return [f"ver:{dataset}:{t}" for t in tenants]

    def bump(self, dataset: str, tenants: Iterable[str]) -> None:
        touched = [*dict.fromkeys(tenants), EVERY_TENANT]
        with self._lock:
            for tenant in touched:
                self._local[(dataset, tenant)] = self._local.get((dataset, tenant), 0) + 1
        if self._shared is not None:
            for name in self._names(dataset, touched):
                self._shared.incr(name)

    def of(self, dataset: str, tenants: Iterable[str] | None) -> tuple | None:
        """The versions that key a cache entry; None when they cannot be known (Redis down)."""
        wanted = sorted(tenants) if tenants is not None else [EVERY_TENANT]
        with self._lock:
            local = tuple(self._local.get((dataset, t), 0) for t in wanted)
        if self._shared is None:
            return local
        shared = self._shared.mget(self._names(dataset, wanted))
        if shared is None:
            return None
        return local + tuple(int(v) if v is not None else 0 for v in shared)
