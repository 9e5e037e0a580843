"""Client-side deadlines for blocking driver calls on a socket.

A server's own timeout (PostgreSQL's `statement_timeout`) needs a server that runs: a frozen or
unreachable one never sends the cancellation, and the driver waits on its socket forever, holding
a worker thread and the caller's request. A guard armed with a deadline shuts the socket down when
the deadline passes, so the blocked call fails at once with a connection error and the caller
answers. One watchdog thread serves every guard of the process: a thread per call would cost more
than the call on a small machine.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Guard:
    """One armed deadline on one socket; `fired` tells the caller why its call failed."""

    def __init__(self, fileno: int, at: float) -> None:
        self.fileno = fileno
        self.at = at
        self.fired = False
        self._done = False
        self._lock = threading.Lock()

    def fire(self) -> None:
        """Shut the socket down unless the call already finished: the connection may be back in
        its pool, serving someone else, the moment after `disarm`."""
        with self._lock:
            if self._done:
                return
            self.fired = True
            _shut_down(self.fileno)

    def disarm(self) -> None:
        with self._lock:
            self._done = True


def _shut_down(fileno: int) -> None:
    """Shut down the socket behind `fileno` (through a duplicate, so the driver still owns and
    closes the original): its pending and future reads and writes fail at once."""
    try:
        sock = socket.socket(fileno=os.dup(fileno))
    except OSError:
        return
    with sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Guard]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, fileno: int, at: float) -> Iterator[Guard]:
        """Arm a deadline (a `time.monotonic()` instant) on the socket for the block's length."""
        armed = Guard(fileno, at)
        with self._wake:
            heapq.heappush(self._heap, (at, next(self._order), armed))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tally-deadlines", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        try:
            yield armed
        finally:
            armed.disarm()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(wait)
                _, _, due = heapq.heappop(self._heap)
            due.fire()


WATCHDOG = Watchdog()
