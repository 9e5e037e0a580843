"""Schemathesis hooks for .ci/fuzz-api: NDJSON bodies (one JSON document per line)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson", "application/ndjson", "application/jsonl")
def ndjson(ctx: Any, value: Any) -> bytes:
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
