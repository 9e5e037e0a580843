"""Cache keys: a hash of everything that decides an answer, and nothing that does not.

The normalized IR (so two profiles asking the same question share an entry), the effective
scope (so two principals share an entry only if they may read exactly the same rows), the engine,
the dataset's definition (a reload that changes it asks anew), and a schema version bumped
whenever the shape of cached values changes. The data versions are not in the key but in the
entry (see versions.py), so a hit needs no read before the entry's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

KEY_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class CacheKey:
    """Where an answer is cached, which data-version counters it depends on, how long it lives."""

    key: str
    counters: Sequence[str]
    ttl_s: float
    stale_s: float | None = None
    """How long after `ttl_s` a stale answer may still be served; None: the cache's window."""


def cache_key(query: dict[str, Any], scope: dict[str, Any], engine: str, dataset: str) -> str:
    """`dataset` is the fingerprint of the dataset's definition: a reloaded definition asks
    anew, and replicas still on the old one keep their own entries."""
    material = {"v": KEY_SCHEMA_VERSION, "q": query, "s": scope, "e": engine, "d": dataset}
    digest = hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"q:{digest}"
