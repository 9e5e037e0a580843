"""Schemathesis hooks for .ci/fuzz-api: NDJSON bodies (one JSON document per line). The
recursive filter tree reaches the fuzzer unrolled a few levels (.ci/bounded_openapi.py), so
its generators need no more recursion than Python allows by default."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson", "application/ndjson", "application/jsonl")
def ndjson(ctx: Any, value: Any) -> bytes:
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
