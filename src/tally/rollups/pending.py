"""When the rows appends leave in a dataset's pending rollup tables are merged in.

An append stores its batch's cells as pending rows (`statements.append_statements`), which costs
about what the batch's own aggregation costs; a compaction merges all of a dataset's pending rows
into their cells at once (`statements.compact_statements`), rewriting each touched set once for
many batches instead of once per batch. Answers are the same before and after: queries read the
pending rows too. What compaction buys is read speed: every pending row is one more row to
read, and a query counting from stored cardinalities reads the sets of cells with pending rows.

A dataset is due when one of its rollups holds `rows` pending rows, when `appends` appends
have been kept since its last compaction, or when it has pending rows and no append came for
`idle_s` seconds (a dashboard reads compacted cells soon after a burst of writes ends). The rows
are counted as the appends insert them and the compactions empty the tables, not read from the
tables (a count of each pending table was one more statement in every append).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompactionRules:
    rows: int = 200_000
    appends: int = 64
    idle_s: float = 2.0


@dataclass
class _Waiting:
    tables: dict[str, int] = field(default_factory=dict)
    appends: int = 0
    last: float = 0.0

    @property
    def rows(self) -> int:
        """The pending rows of the fullest table."""
        return max(self.tables.values(), default=0)


@dataclass
class Pending:
    """What waits in each dataset's pending tables, as the appends and the compactions said
    (each inside its transaction)."""

    rules: CompactionRules = field(default_factory=CompactionRules)
    clock: Callable[[], float] = time.monotonic
    _waiting: dict[str, _Waiting] = field(default_factory=dict)
    _told: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def appended(self, dataset: str, inserted: dict[str, int]) -> None:
        """An append is about to commit, having inserted `inserted` rows into each pending
        table: told inside its transaction, before it is acknowledged, so a query planned after
        never skips its rows (one that then fails to commit only makes a compaction come
        sooner)."""
        with self._lock:
            self._told[dataset] = self._told.get(dataset, 0) + 1
            waiting = self._waiting.setdefault(dataset, _Waiting())
            for table, rows in inserted.items():
                waiting.tables[table] = waiting.tables.get(table, 0) + rows
            waiting.appends, waiting.last = waiting.appends + 1, self.clock()

    def emptied(self, dataset: str, table: str) -> None:
        """A compaction emptied `table` (told inside its transaction, under the write lock, so
        no append's rows are counted away)."""
        with self._lock:
            waiting = self._waiting.get(dataset)
            if waiting is not None:
                waiting.tables[table] = 0

    def found(self, dataset: str, tables: dict[str, int]) -> None:
        """The rows counted in each pending table, with every write held back (at start or on a
        reload): they replace what was counted (a reload may have dropped or made a table anew,
        which no compaction would ever empty); the appends not yet forgotten by a compaction
        are kept. Pending rows nothing was known of are due at once."""
        with self._lock:
            waiting = self._waiting.get(dataset)
            if waiting is not None:
                waiting.tables = dict(tables)
            elif any(tables.values()):
                due = self.clock() - self.rules.idle_s
                self._waiting[dataset] = _Waiting(dict(tables), 0, due)

    def compacted(self, dataset: str, appends_seen: int) -> None:
        """A compaction committed, having merged at least what `appends_seen` appends left;
        appends told after it read that count stay counted (it may have merged them too)."""
        with self._lock:
            waiting = self._waiting.get(dataset)
            if waiting is None:
                return
            if waiting.appends <= appends_seen:
                del self._waiting[dataset]
            else:
                waiting.appends -= appends_seen

    def has(self, dataset: str) -> bool:
        with self._lock:
            return dataset in self._waiting

    def told(self, dataset: str) -> int:
        """Every append ever told for the dataset (compactions forget none of them)."""
        with self._lock:
            return self._told.get(dataset, 0)

    def appends(self, dataset: str) -> int:
        with self._lock:
            waiting = self._waiting.get(dataset)
            return waiting.appends if waiting else 0

    def due(self) -> list[str]:
        """The datasets whose pending rows should be merged in now."""
        now, rules = self.clock(), self.rules
        with self._lock:
            return [
                name
                for name, w in self._waiting.items()
                if w.rows >= rules.rows
                or w.appends >= rules.appends
                or (w.rows and now - w.last >= rules.idle_s)
            ]

    def waiting(self) -> dict[str, int]:
        """Pending rows per dataset (the largest of its rollups'), for operators."""
        with self._lock:
            return {name: w.rows for name, w in self._waiting.items()}


class Compactor:
    """Runs `compact_due` on a thread of its own: woken by every append (a threshold may be
    reached) and every `idle_s` / 2 (an idle dataset may be due), until stopped or `ended`
    (the engine closed). A compaction holds the write lock like an append, so appends wait for
    it; queries do not."""

    def __init__(
        self, compact_due: Callable[[], object], idle_s: float, ended: Callable[[], bool]
    ) -> None:
        self._compact_due, self._ended = compact_due, ended
        self._period = min(max(idle_s / 2, 0.05), 60.0)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tally-rollup-compaction")
        self._thread.daemon = True

    def start(self) -> Compactor:
        self._thread.start()
        return self

    def nudge(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._period)
            self._wake.clear()
            if self._stopped.is_set() or self._ended():
                return
            try:
                self._compact_due()
            except Exception as exc:  # the next round tries again; appends keep working
                log.warning("rollup compaction failed (%s); pending rows stay readable", exc)
