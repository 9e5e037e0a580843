"""A bounded record of the questions the server answered, for `tally rollups suggest` and
`tally rollups verify`, in its own SQLite file in the data directory (so it works whatever the
engine, and a write never competes with ingestion for DuckDB's writer).

Two records, of different sensitivity:
  - shapes: what a rollup would need to answer a question (dataset, groups, fields filtered,
    measures, bucket width, timezone), never a filter's value, aggregated per shape and
    where it was served from (a rollup, or the rows) with the number of answers and the
    milliseconds spent executing them. Questions over owned datasets only (rollups are for
    them). At most `query_log_shapes` are kept; the least recently asked go first.
  - samples (opt-in, `query_log_samples` > 0): the most recent whole questions over datasets
    with rollups, values included, so that verify can ask them again both ways. Values may be
    personal data, so none are kept unless asked for, and only the last N.

Recording is off the hot path: an answer puts a tuple on a queue (dropped when it is full) and
one writer thread writes it.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tally.catalog import Dataset
from tally.query.model import Measure, Query, field_groups, time_group
from tally.query.scope import Scope
from tally.rollups.match import read_fields

log = logging.getLogger(__name__)
FILE_NAME = "query_log.sqlite"
QUEUE_SIZE = 10_000
BATCH = 1_000
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS shapes (hash TEXT NOT NULL, served_from TEXT NOT NULL, "
    "dataset TEXT NOT NULL, shape TEXT NOT NULL, answers INTEGER NOT NULL, "
    "execute_ms REAL NOT NULL, last_at REAL NOT NULL, PRIMARY KEY (hash, served_from))",
    "CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "dataset TEXT NOT NULL, query TEXT NOT NULL, served_from TEXT NOT NULL, at REAL NOT NULL)",
)
ADD_SHAPE = (
    "INSERT INTO shapes VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (hash, served_from) DO UPDATE SET "
    "answers = answers + 1, execute_ms = execute_ms + excluded.execute_ms, "
    "last_at = excluded.last_at"
)
TRIM_SHAPES = (
    "DELETE FROM shapes WHERE rowid IN "
    "(SELECT rowid FROM shapes ORDER BY last_at DESC LIMIT -1 OFFSET ?)"
)
ADD_SAMPLE = "INSERT INTO samples (dataset, query, served_from, at) VALUES (?, ?, ?, ?)"
TRIM_SAMPLES = "DELETE FROM samples WHERE id <= (SELECT max(id) FROM samples) - ?"


def shape_of(query: Query, scope: Scope, dataset: Dataset) -> dict[str, Any]:
    """What a rollup needs to answer `query`, without a single value from it. Tenant columns
    are left out: every rollup has them."""
    groups = sorted(set(field_groups(query)))
    tenants = set(dataset.tenant_columns)
    filtered = sorted(read_fields(query, scope) - set(groups) - tenants)
    group = time_group(query)
    measures = sorted({measure_entry(m) for m in query.measures})
    return {
        "dataset": dataset.name,
        "groups": groups,
        "filtered": filtered,
        "measures": [[op, field, *options] if field else [op] for op, field, *options in measures],
        "bucket": group.time if group is not None else None,
        "timezone": query.timezone,
    }


def measure_entry(measure: Measure) -> tuple:
    """(op, field) and, for an approximate or percentile measure, what asking it again needs:
    `{"approx": true, "q": 0.9}` (a shape of exact plain measures is as it always was)."""
    options = {"approx": True} if measure.approx else {}
    if measure.q is not None:
        options["q"] = measure.q
    entry = (str(measure.op), measure.field or "")
    return (
        (*entry, orjson.dumps(options, option=orjson.OPT_SORT_KEYS).decode()) if options else entry
    )


def measure_of(entry: list) -> dict[str, Any]:
    """A shape's measure entry as a query's measure."""
    measure: dict[str, Any] = {"op": entry[0]}
    if len(entry) > 1:
        measure["field"] = entry[1]
    if len(entry) > 2:
        measure.update(orjson.loads(entry[2]))
    return measure


def shape_hash(shape: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


@dataclass(frozen=True)
class LoggedShape:
    shape: dict[str, Any]
    served_from: str
    answers: int
    execute_ms: float


@dataclass(frozen=True)
class Sample:
    dataset: str
    query: dict[str, Any]
    served_from: str


class QueryLog:
    def __init__(self, path: Path, max_shapes: int, max_samples: int) -> None:
        self.path = path
        self.max_shapes = max_shapes
        self.max_samples = max_samples
        self._queue: queue.Queue[tuple[str, tuple] | None] = queue.Queue(QUEUE_SIZE)
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_dir(cls, data_dir: Path, max_shapes: int, max_samples: int) -> QueryLog:
        return cls(data_dir / FILE_NAME, max_shapes, max_samples)

    def record(
        self, query: Query, scope: Scope, dataset: Dataset, served_from: str, execute_ms: float
    ) -> None:
        """Note an answer (never blocks: when the writer lags far behind, the note is lost)."""
        if not dataset.owned:
            return
        now = time.time()
        if self.max_shapes and dataset.time_column is not None:
            shape = shape_of(query, scope, dataset)
            encoded = orjson.dumps(shape, option=orjson.OPT_SORT_KEYS).decode()
            values = (shape_hash(shape), served_from, dataset.name, encoded, execute_ms, now)
            self._put(("shape", values))
        if self.max_samples and dataset.rollups:
            whole = orjson.dumps(query.canonical()).decode()
            self._put(("sample", (dataset.name, whole, served_from, now)))

    def _put(self, item: tuple[str, tuple]) -> None:
        self._start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.debug("query log queue full; an answer is not recorded")

    def _start(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, name="query-log", daemon=True)
                self._writer.start()

    def _write(self) -> None:
        """Write what is queued, in one transaction per wake-up: under load, one commit
        carries many notes."""
        with closing(self._connect()) as db:
            running = True
            while running:
                batch = [self._queue.get()]
                while len(batch) < BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                running = None not in batch
                try:
                    self._apply(db, [item for item in batch if item is not None])
                except sqlite3.Error:
                    log.exception("query log write failed")
                finally:
                    for _ in batch:
                        self._queue.task_done()

    def _apply(self, db: sqlite3.Connection, batch: list[tuple[str, tuple]]) -> None:
        with db:
            shapes = [values for kind, values in batch if kind == "shape"]
            samples = [values for kind, values in batch if kind == "sample"]
            if shapes:
                db.executemany(ADD_SHAPE, shapes)
                db.execute(TRIM_SHAPES, (self.max_shapes,))
            if samples:
                db.executemany(ADD_SAMPLE, samples)
                db.execute(TRIM_SAMPLES, (self.max_samples,))

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=5.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA:
            db.execute(statement)
        return db

    def flush(self) -> None:
        """Wait until every note so far is written."""
        if self._writer is not None:
            self._queue.join()

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join(timeout=10.0)

    def shapes(
        self, dataset: str | None = None, served_from: str | None = None
    ) -> list[LoggedShape]:
        """The recorded shapes, the most recently asked first."""
        rows = self._read(
            "SELECT shape, served_from, answers, execute_ms FROM shapes "
            "WHERE (? IS NULL OR dataset = ?) AND (? IS NULL OR served_from = ?) "
            "ORDER BY last_at DESC",
            (dataset, dataset, served_from, served_from),
        )
        return [LoggedShape(orjson.loads(s), f, n, ms) for s, f, n, ms in rows]

    def samples(self, dataset: str | None = None, limit: int = 100) -> list[Sample]:
        """The most recent whole questions, newest first."""
        rows = self._read(
            "SELECT dataset, query, served_from FROM samples WHERE ? IS NULL OR dataset = ? "
            "ORDER BY id DESC LIMIT ?",
            (dataset, dataset, limit),
        )
        return [Sample(d, orjson.loads(q), s) for d, q, s in rows]

    def _read(self, sql: str, params: tuple) -> list[tuple]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            return db.execute(sql, params).fetchall()
