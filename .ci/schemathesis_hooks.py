"""Schemathesis hooks for .ci/fuzz-api: NDJSON bodies (one JSON document per line), and room
for the recursion that generating the query's filter tree (and, or, not nested) needs."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import schemathesis

# Hypothesis walks the recursive filter schema recursively; with Python's default limit of 1000
# some seeds end the fuzzing phase with a RecursionError inside the fuzzer (not the API).
sys.setrecursionlimit(20_000)
threading.stack_size(256 * 1024 * 1024)


@schemathesis.serializer("application/x-ndjson", "application/ndjson", "application/jsonl")
def ndjson(ctx: Any, value: Any) -> bytes:
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
