"""Cache keys: a hash of everything that decides an answer, and nothing that does not.

The normalized IR (so two profiles asking the same question share an entry), the effective
scope (so two principals share an entry only if they may read exactly the same rows), the data
version of the scope's tenants (so an ingestion makes the next query recompute), the engine, and
a schema version bumped whenever the shape of cached values changes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

KEY_SCHEMA_VERSION = 1


def cache_key(query: dict[str, Any], scope: dict[str, Any], version: tuple, engine: str) -> str:
    material = {
        "v": KEY_SCHEMA_VERSION,
        "q": query,
        "s": scope,
        "d": list(version),
        "e": engine,
    }
    digest = hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"q:{digest}"
