"""Recently compiled statements, remembered: dashboards re-ask the same questions, and compiling
a statement (building and printing a sqlglot tree) costs more than a cache hit."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import orjson

from tally.sql.compiler import Compiled

STATEMENT_CACHE_SIZE = 1024


class StatementCache:
    """A thread-safe LRU of compiled statements keyed by the canonical question."""

    def __init__(self, size: int = STATEMENT_CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object, compile_: Callable[[], Compiled]) -> Compiled:
        """The statement for `key` (any JSON-able value), compiled by `compile_` on a miss."""
        packed = orjson.dumps(key)
        with self._lock:
            found = self._entries.get(packed)
            if found is not None:
                self._entries.move_to_end(packed)
                return found
        compiled = compile_()
        with self._lock:
            self._entries[packed] = compiled
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return compiled
