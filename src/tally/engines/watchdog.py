"""One thread that interrupts queries past their deadline.

A timer thread per query costs more than a small query itself; a single watchdog keeps a heap
of deadlines and only wakes when the earliest one is due.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Watch:
    __slots__ = ("deadline", "done", "interrupt")

    def __init__(self, deadline: float, interrupt: Callable[[], None]) -> None:
        self.deadline = deadline
        self.interrupt = interrupt
        self.done = False

    def cancel(self) -> None:
        self.done = True


class Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="tally-watchdog", daemon=True)
        self._thread.start()

    def watch(self, timeout_s: float, interrupt: Callable[[], None]) -> Watch:
        entry = Watch(time.monotonic() + timeout_s, interrupt)
        with self._wake:
            earliest = not self._heap or entry.deadline < self._heap[0][0]
            heapq.heappush(self._heap, (entry.deadline, next(self._order), entry))
            if earliest:
                self._wake.notify()
        return entry

    def _run(self) -> None:
        with self._wake:
            while not self._stopped:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                _, _, due = heapq.heappop(self._heap)
                if not due.done:
                    due.interrupt()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
