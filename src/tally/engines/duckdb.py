"""DuckDB, embedded: one database file, cursors per thread for reads, one writer at a time.

Reads run on a per-thread cursor of one shared connection, so the server's worker threads query
concurrently. A timer interrupts a query that outlives its timeout, which DuckDB honours
promptly, and the caller gets a 503 instead of a stuck worker. Writes are serialized and each
batch is one transaction: it is either all stored or not at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from tally.catalog.storage import TableSpec
from tally.engines.base import (
    Maintenance,
    MaintenanceSource,
    WriteOutcome,
    out_of_memory,
    timed_out,
)
from tally.engines.cancel import Cancel, bound, canceled
from tally.engines.frame import Frame
from tally.engines.watchdog import Watchdog
from tally.errors import TallyError

log = logging.getLogger(__name__)
ROW_GROUP_ROWS = 122_880  # DuckDB's row group: the unit its min/max statistics let a scan skip


def _quote(name: str) -> str:
    """Quote an identifier that comes from the catalog (never from a request).

    The write statements below are assembled from such identifiers only (S608 is silenced for
    them); every value travels in the Arrow batch, never in SQL text.
    """
    return '"' + name.replace('"', '""') + '"'


def _with_rank_keys(
    batch: pa.Table, order_by: tuple[str, ...]
) -> tuple[pa.Table, list[str], list[str]]:
    """The batch with each string sort column's rank in sorted order as an extra column, the
    sort keys to use and the added columns. DuckDB sorts a bulk load about a third faster on
    an integer than on the tenant string it stands for (10M rows: 12.5 s against 18.9 s), and
    the order is the same."""
    keys, added = [], []
    for i, name in enumerate(order_by):
        column = batch.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            keys.append(_quote(name))
            continue
        distinct = pc.unique(column)
        ranked = pc.take(distinct, pc.sort_indices(distinct))
        batch = batch.append_column(f"_rank{i}", pc.index_in(column, value_set=ranked))
        keys.append(f"_rank{i}")
        added.append(f"_rank{i}")
    return batch, keys, added


def _progress(cursor: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """DuckDB estimates the share of the scan done (its Python API gives no row count);
    -1 until it has an estimate."""
    percent = cursor.query_progress()
    return {"percent": round(percent, 1)} if percent >= 0 else {}


def _settle(maintenance: Maintenance | None, committed: bool) -> None:
    for settled in maintenance.settled if maintenance else ():
        settled(committed)


class DuckDBEngine:
    name = "duckdb"

    def __init__(
        self, path: Path | None, threads: int | None = None, memory_limit: int | None = None
    ) -> None:
        """`memory_limit`: bytes all queries together may hold; beyond it DuckDB spills to
        `duckdb_tmp` beside the file, or refuses the query (a 503, not the machine's memory)."""
        config: dict[str, Any] = {}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(path.parent / "duckdb_tmp")
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = f"{memory_limit}B"
        try:
            self._conn = duckdb.connect(str(path) if path else ":memory:", config=config)
        except duckdb.IOException as exc:
            raise TallyError(
                "unavailable",
                f"cannot open the database {path}: is another Tally process using it? ({exc})",
                503,
            ) from None
        self._conn.execute("SET TimeZone='UTC'")
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._functions: set[str] = set()
        self._watchdog = Watchdog()
        self._closed = False

    def add_function(
        self, name: str, compute: Callable[..., pa.Array], parameters: Sequence[str], returns: str
    ) -> None:
        """A scalar SQL function computed in Python on Arrow batches (the rollups' sets and
        sketches), for every cursor of the connection: cursors see a function registered on
        it whenever they were made. Registering a name again keeps the first."""
        if name in self._functions:
            return
        self._conn.create_function(
            name,
            compute,
            list(parameters),
            returns,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
        self._functions.add(name)

    def attach_read_only(self, path: str, alias: str) -> None:
        """Attach a DuckDB database file under `alias`, READ_ONLY: DuckDB refuses any write to
        it, and the file is never locked for writing (its owner may keep writing it)."""
        attach = exp.Attach(
            this=exp.alias_(exp.Literal.string(path), alias, quoted=True),
            expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
        )
        try:
            self._conn.execute(attach.sql(dialect="duckdb"))
        except duckdb.Error as exc:
            raise TallyError("unavailable", f"cannot open {path} read-only: {exc}", 503) from None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._conn.cursor()
            cursor.execute("SET TimeZone='UTC'")
            # The progress a job reports (`query_progress`) is only kept with the bar enabled;
            # it is never printed.
            cursor.execute("SET enable_progress_bar = true")
            cursor.execute("SET enable_progress_bar_print = false")
            self._local.cursor = cursor
        return cursor

    def execute(
        self, sql: str, params: dict[str, Any], timeout_s: float
    ) -> tuple[list[str], list[tuple]]:
        found = self.frame(sql, params, timeout_s, columnar=False)
        return found.columns, found.tuples or []

    def frame(
        self,
        sql: str,
        params: dict[str, Any],
        timeout_s: float,
        columnar: bool,
        cancel: Cancel | None = None,
    ) -> Frame:
        cursor = self._cursor()
        watch = self._watchdog.watch(timeout_s, cursor.interrupt)
        done = False
        try:
            with bound(cancel, cursor.interrupt, lambda: _progress(cursor)):
                found = self._run(cursor, sql, params, columnar)
            done = True
            return found
        except duckdb.InterruptException:
            if cancel is not None and cancel.cancelled:
                raise canceled() from None
            raise timed_out(timeout_s) from None
        except duckdb.OutOfMemoryException:
            log.warning("a query needed more than the engine's memory limit")
            raise out_of_memory() from None
        except duckdb.Error as exc:
            log.exception("duckdb query failed")
            raise TallyError("engine_error", "the engine could not run this query", 500) from exc
        finally:
            watch.cancel()
            if not done:
                self._forget_cursor(cursor)

    @staticmethod
    def _run(
        cursor: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], columnar: bool
    ) -> Frame:
        if columnar:
            relation = cursor.sql(sql, params=params or None)
            return Frame(list(relation.columns), table=relation.to_arrow_table())
        result = cursor.execute(sql, params or None)
        columns = [d[0] for d in result.description or []]
        return Frame(columns, tuples=result.fetchall())

    def _forget_cursor(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """A failed or interrupted query can leave its result unfinished on the cursor, which
        refuses all later work; the thread's next query gets a fresh cursor."""
        self._local.cursor = None
        try:
            cursor.close()
        except duckdb.Error:
            log.warning("closing a failed cursor failed", exc_info=True)

    def ensure_table(self, create_sql: str, spec: TableSpec, add_columns: dict[str, str]) -> None:
        with self._write_lock:
            cursor = self._conn.cursor()
            cursor.execute(create_sql)
            present = {
                row[0]
                for row in cursor.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                    [spec.name],
                ).fetchall()
            }
            for column, ddl_type in add_columns.items():
                if column not in present:
                    cursor.execute(
                        f"ALTER TABLE {_quote(spec.name)} ADD COLUMN {_quote(column)} {ddl_type}"
                    )

    def write(
        self, spec: TableSpec, batch: pa.Table, maintain: MaintenanceSource | None = None
    ) -> WriteOutcome:
        """Store a batch atomically; a row whose key is stored is a duplicate (or an update).
        The `Maintenance` that `maintain` gives, asked for once the write lock is held, runs in
        the same transaction over the rows stored."""
        if batch.num_rows == 0:
            return WriteOutcome(0, 0)
        table = _quote(spec.name)
        columns = ", ".join(_quote(c) for c in batch.column_names)
        keys = ", ".join(_quote(k) for k in spec.key_columns)
        match = " AND ".join(f"s.{_quote(k)} = b.{_quote(k)}" for k in spec.key_columns)
        # numpy, not range(): 600,000 Python ints held the GIL (so the event loop) 0.14-0.5 s
        ordered = batch.append_column("_ord", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        order = "_ord DESC" if spec.upsert else "_ord"
        # A batch smaller than a row group lands inside one whatever its order, so sorting it
        # would cost a sort for no skipped scan; bulk loads are sorted, `compact` does the rest.
        sort_keys: list[str] = []
        carried = columns
        if spec.order_by and batch.num_rows >= ROW_GROUP_ROWS:
            ordered, sort_keys, added = _with_rank_keys(ordered, spec.order_by)
            carried = ", ".join([columns, *added])
        sorted_by = f" ORDER BY {', '.join(sort_keys)}" if sort_keys else ""
        with self._write_lock:
            maintenance = maintain() if maintain else None
            cursor = self._conn.cursor()
            cursor.register("_incoming", ordered)
            try:
                cursor.execute("BEGIN TRANSACTION")
                repeated = cursor.execute(
                    f"SELECT count(*) - count(DISTINCT ({keys})) FROM _incoming"
                ).fetchone()[0]
                source = "_incoming"
                if repeated:
                    cursor.execute(
                        f"CREATE OR REPLACE TEMP TABLE _batch AS SELECT {carried} FROM _incoming "
                        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1"
                    )
                    source = "_batch"
                updated = 0
                stored_match = f"FROM {table} AS s WHERE EXISTS "
                stored_match += f"(SELECT 1 FROM {source} AS b WHERE {match})"
                if spec.upsert:
                    if maintenance:
                        cursor.execute(
                            f"CREATE OR REPLACE TEMP TABLE _replaced AS SELECT * {stored_match}"
                        )
                    updated = cursor.execute(f"DELETE {stored_match}").fetchone()[0]
                # Every row of the source is stored when none of its keys is, which a semi-join
                # built on the batch tells by reading the stored keys once. Then no anti-join
                # finds the new rows (its hash table is built on the stored table: at 10M rows
                # most of an append's time), and the derived tables read the source itself (a
                # view), not a copy. A batch with stored keys (a replay) pays both.
                whole = (
                    spec.upsert
                    or not (
                        cursor.execute(f"SELECT EXISTS (SELECT 1 {stored_match})").fetchone()[0]
                    )
                )
                new_rows = f"SELECT {carried} FROM {source}"
                if not whole:
                    new_rows += f" AS b WHERE NOT EXISTS (SELECT 1 FROM {table} AS s WHERE {match})"
                written = "VIEW" if whole else "TABLE"
                if maintenance:
                    # The rows about to be stored, kept for the derived tables to read.
                    cursor.execute(f"CREATE OR REPLACE TEMP {written} _written AS {new_rows}")
                    new_rows = f"SELECT {carried} FROM _written"
                stored = cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM ({new_rows}){sorted_by}"
                ).fetchone()[0]
                accepted = stored - updated
                for step in maintenance.statements if maintenance else ():
                    if isinstance(step, str):
                        cursor.execute(step)
                    else:
                        step(cursor)
                temporary = [f"{written} _written"] if maintenance else []
                temporary += ["TABLE _replaced"] if maintenance and spec.upsert else []
                temporary += ["TABLE _batch"] if repeated else []
                for name in temporary:
                    cursor.execute(f"DROP {name}")
                cursor.execute("COMMIT")
            except Exception as exc:
                try:
                    cursor.execute("ROLLBACK")
                finally:
                    _settle(maintenance, committed=False)
                if not isinstance(exc, duckdb.Error):
                    raise
                log.exception("duckdb write failed")
                raise TallyError("engine_error", "the batch could not be stored", 500) from exc
            finally:
                cursor.unregister("_incoming")
                cursor.close()
            _settle(maintenance, committed=True)
        return WriteOutcome(accepted, batch.num_rows - accepted - updated, updated)

    def transaction(
        self,
        steps: Iterable[tuple[str, Sequence[Any]]],
        done: Callable[[int], None] | None = None,
    ) -> None:
        """Run write statements (SQL text and its parameters) as one transaction, serialized
        with ingestion; `done(i)` after each, so a long rebuild can show its progress."""
        with self._write_lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute("BEGIN TRANSACTION")
                for i, (sql, params) in enumerate(steps):
                    cursor.execute(sql, list(params) or None)
                    if done is not None:
                        done(i)
                cursor.execute("COMMIT")
            except duckdb.Error as exc:
                cursor.execute("ROLLBACK")
                log.exception("duckdb transaction failed")
                raise TallyError("engine_error", "the statements could not be run", 500) from exc
            finally:
                cursor.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def writes_held(self) -> Iterator[None]:
        """Hold every other write back (appends, compactions, transactions) until the block
        ends; the block's own go through (the lock is reentrant). What changes the derived
        tables writes keep (a reload's rollups) does so between two writes, never during one."""
        with self._write_lock:
            yield

    def serialized(self, work: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        """Run `work` with a cursor of its own while no write runs (writes wait for it): what
        reads a table into memory that writes then keep in step (a rollup dictionary)."""
        with self._write_lock:
            if self._closed:
                return
            cursor = self._conn.cursor()
            try:
                work(cursor)
            finally:
                cursor.close()
                # Freed under the lock, before `close` can run: a cursor freed on a thread
                # still running while the interpreter exits aborted the process (DuckDB's
                # destructor then throws).
                del cursor

    def compact(self, spec: TableSpec) -> int:
        """Rewrite the table in (tenant, time) order so scans skip other tenants' row groups."""
        table = _quote(spec.name)
        sort = ", ".join(_quote(c) for c in spec.order_by) or "1"
        with self._write_lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute("BEGIN TRANSACTION")
                cursor.execute(
                    f"CREATE TEMP TABLE _sorted AS SELECT * FROM {table} ORDER BY {sort}"
                )
                cursor.execute(f"DELETE FROM {table}")
                rows = cursor.execute(f"INSERT INTO {table} SELECT * FROM _sorted").fetchone()[0]
                cursor.execute("DROP TABLE _sorted")
                cursor.execute("COMMIT")
            except duckdb.Error as exc:
                cursor.execute("ROLLBACK")
                raise TallyError("engine_error", "the table could not be compacted", 500) from exc
            finally:
                cursor.close()
            self._conn.execute("CHECKPOINT")
        return rows

    def ping(self) -> None:
        # fetchall, not fetchone: a result left unfinished on the thread's cursor refuses
        # every later query of that thread.
        self._cursor().execute("SELECT 1").fetchall()

    def close(self) -> None:
        """After the write running, if any (a DuckDB connection refuses to close while one of
        its cursors works: a rollup dictionary's load at start runs on a thread of its own)."""
        with self._write_lock:
            if not self._closed:
                self._closed = True
                self._watchdog.stop()
                self._conn.close()
