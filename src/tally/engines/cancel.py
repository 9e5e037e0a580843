"""A handle on a running statement: who asks to stop it, and how far it got.

A job's statements can outlive the request that started them, so stopping one cannot rely on the
caller's thread: the engine binds its own way to stop the statement (DuckDB's interrupt, a
PostgreSQL cancel request, ClickHouse's KILL QUERY) and its progress reading to the handle for
the statement's length, and `cancel` from any thread calls the bound stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tally.errors import TallyError

Progress = Callable[[], dict[str, Any]]


def canceled() -> TallyError:
    """What a statement stopped by its handle raises (a job reports it as `canceled`)."""
    return TallyError("canceled", "the query was canceled", 409)


class Cancel:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._stop: Callable[[], None] | None = None
        self._progress: Progress | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the bound statement now, and any later one before it starts."""
        with self._lock:
            self._cancelled = True
            stop = self._stop
        if stop is not None:
            stop()

    def check(self) -> None:
        if self._cancelled:
            raise canceled()

    def progress(self) -> dict[str, Any]:
        """What the engine says of the running statement ({} when it says nothing)."""
        reading = self._progress
        if reading is None:
            return {}
        try:
            return reading()
        except Exception:  # a statement ending under the reading: no figure this time
            return {}

    @contextmanager
    def bind(self, stop: Callable[[], None], progress: Progress | None = None) -> Iterator[None]:
        """`stop` and `progress` belong to the statement run inside the block."""
        with self._lock:
            if self._cancelled:
                raise canceled()
            self._stop, self._progress = stop, progress
        try:
            yield
        finally:
            with self._lock:
                self._stop = self._progress = None


@contextmanager
def bound(
    cancel: Cancel | None, stop: Callable[[], None], progress: Progress | None = None
) -> Iterator[None]:
    """`cancel.bind(...)`, or nothing for a statement nobody can cancel."""
    if cancel is None:
        yield
    else:
        with cancel.bind(stop, progress):
            yield
