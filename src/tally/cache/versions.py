"""Data versions: a counter per (dataset, tenant) that every ingestion bumps.

A cache entry records the versions of the tenants its scope can read, as they were before it
was computed, and is served only while they are still the current ones: a new row makes the next
query of that tenant recompute while other tenants' entries stay valid. The counters live in the
cache's store (Redis or process memory), so with Redis an ingestion through one replica
invalidates the entries of all of them, and a hit reads counters and entry in one round trip.

`of` (what the watermark is remembered under) adds two things to the counters: the store's epoch,
which changes when Redis comes back empty and its counters restart from 0, and this process's own
count of ingestions per dataset, which changes with every ingestion here even when the store did
not take the bump. Either way a value remembered before cannot be served after.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from tally.cache.stores import MemoryStore, Store

EVERY_TENANT = "*"


def _tenant_counters(dataset: str, tenants: list[str]) -> tuple[str, ...]:
    return tuple(f"ver:{dataset}:{t}" for t in tenants)


class DataVersions:
    def __init__(self, store: Store | None = None) -> None:
        """`store` must be the result cache's own store (wiring.open_cache builds both)."""
        self.store = store if store is not None else MemoryStore()
        self._ingested: Counter[str] = Counter()
        self._lock = threading.Lock()

    def counters(self, dataset: str, tenants: Iterable[str] | None) -> tuple[str, ...]:
        """The counters an answer over these tenants depends on (None: every tenant), and the
        dataset's own, which `bump_all` moves for every tenant at once."""
        wanted = sorted(tenants) if tenants is not None else [EVERY_TENANT]
        return (*_tenant_counters(dataset, wanted), f"all:{dataset}")

    def bump(self, dataset: str, tenants: Iterable[str]) -> None:
        with self._lock:
            self._ingested[dataset] += 1
        self.store.incr(_tenant_counters(dataset, [*dict.fromkeys(tenants), EVERY_TENANT]))

    def bump_all(self, dataset: str) -> None:
        """Every tenant's data changed (an external source said new rows landed, without
        saying whose): every answer and watermark over the dataset is computed again."""
        with self._lock:
            self._ingested[dataset] += 1
        self.store.incr((f"all:{dataset}",))

    def of(self, dataset: str, tenants: Iterable[str] | None) -> tuple | None:
        """The current version of the data these tenants see; None when it cannot be known
        (Redis down: another replica may have ingested)."""
        counts = self.store.counts(self.counters(dataset, tenants))
        if counts is None:
            return None
        with self._lock:
            return self._ingested[dataset], *counts
