"""PostgreSQL through psycopg 3 and a connection pool.

Every query runs in its own short transaction with a local `statement_timeout`, so a slow query
is cancelled by the server and the caller gets a 503 instead of a stuck worker. A database that is
down or frozen must not hold callers either: every call has one deadline (the query timeout) that
bounds the wait for a pooled connection, the statement, and (through a watchdog, deadline.py) the
wait on a server that stopped answering; a connection the server closed is dropped before use,
and a failed reconnection is retried within about a second, so the first request after the
database is back gets a fresh connection instead of waiting out a growing backoff. A batch is
COPYed into a temporary table and moved with one `INSERT ... ON CONFLICT` on the unique index of
the key columns: it is stored whole or not at all, and a key already stored is a duplicate
(append) or replaced (upsert). Driver errors never carry SQL text to the caller.
"""

from __future__ import annotations

import json
import logging
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from tally.catalog.storage import TableSpec
from tally.engines.base import MaintenanceSource, WriteOutcome, refuse_maintenance, timed_out
from tally.engines.cancel import Cancel, bound, canceled
from tally.engines.deadline import WATCHDOG
from tally.engines.frame import Frame
from tally.errors import TallyError, unavailable

log = logging.getLogger(__name__)
# Longest wait for a pooled connection: with a connection per query slot, a longer wait means the
# server is away, and the caller is better served by a 503 it can retry.
POOL_WAIT_S = 1.5
# A failed connection attempt is retried once after about this long, then given up; the next
# request that finds no connection starts a new attempt. Recovery lag stays near this value.
RECONNECT_S = 1.0
CONNECT_TIMEOUT_S = 2  # libpq's least
NUMERIC_OID = psycopg.postgres.types["numeric"].oid
PING_S = 0.8  # /readyz answers within 1 s
CANCEL_S = 2.0  # the cancel request's own connection: a server that cannot take it is away
# Writes, DDL and CLUSTER move whole batches and tables: bounded, but not by the query timeout.
WRITE_TIMEOUT_S = 120.0


def _ident(name: str) -> sql.Identifier:
    """Identifiers come from the catalog only; psycopg quotes them."""
    return sql.Identifier(name)


def _columns(names: list[str] | tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(_ident(n) for n in names)


def _index_name(table: str, suffix: str) -> sql.Identifier:
    return _ident(f"{table[:50]}__{suffix}")


def _plain(value: Any) -> Any:
    """NUMERIC results (sums of integers, averages) as Python numbers like the other engines."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    return value


def _plain_rows(cursor: psycopg.Cursor) -> list[tuple]:
    """The rows, with only the NUMERIC columns' values converted: most answers have none or
    one, and converting every value cost more than the statement on small answers."""
    numeric = [i for i, d in enumerate(cursor.description or []) if d.type_code == NUMERIC_OID]
    rows = cursor.fetchall()
    if not numeric:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i in numeric:
            values[i] = _plain(values[i])
        out.append(tuple(values))
    return out


def _copy_rows(batch: pa.Table) -> list[list[Any]]:
    """Rows for COPY: maps become JSON objects (stored as JSONB), the rest is adapted by psycopg."""
    maps = {i for i, f in enumerate(batch.schema) if pa.types.is_map(f.type)}
    out = []
    for ordinal, row in enumerate(zip(*(c.to_pylist() for c in batch.columns), strict=True)):
        values = [
            json.dumps(dict(v)) if i in maps and v is not None else v for i, v in enumerate(row)
        ]
        values.append(ordinal)
        out.append(values)
    return out


def _closed_by_server(conn: psycopg.Connection) -> bool:
    """Whether an idle pooled connection is dead: the server closed it (a restart, a killed
    backend), which makes its socket readable. Costs no round trip, so it never waits on a
    server that does not answer."""
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _cancel_request(conn: psycopg.Connection) -> None:
    """Ask the server to cancel the connection's statement (a request on a new connection, as
    libpq does); a failed request leaves the statement to its timeout."""
    try:
        conn.cancel_safe(timeout=CANCEL_S)
    except psycopg.Error:
        log.warning("the cancel request failed; the statement runs to its timeout", exc_info=True)


@contextmanager
def _driver_errors(
    failure: str, timeout_s: float | None = None, cancel: Cancel | None = None
) -> Iterator[None]:
    """psycopg errors as TallyErrors, never with SQL: a timeout or a lost server is a 503."""
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:
        if cancel is not None and cancel.cancelled:
            raise canceled() from None
        if timeout_s is None:
            raise TallyError("engine_error", failure, 500) from exc
        raise timed_out(timeout_s) from None
    except (psycopg.OperationalError, PoolTimeout):
        log.exception("postgres unavailable")
        raise unavailable("the database is not reachable; try again shortly") from None
    except psycopg.Error as exc:
        log.exception("postgres statement failed")
        raise TallyError("engine_error", failure, 500) from exc


class PostgresEngine:
    name = "postgres"

    def __init__(
        self,
        url: str,
        max_connections: int = 16,
        read_only: bool = False,
        work_mem: int | None = None,
    ) -> None:
        """`read_only`: every transaction of every pooled session is read-only (an external
        source: the server itself refuses any write or DDL Tally might send). `work_mem`: bytes
        each sort or hash of a query may hold before it spills to disk."""
        self.read_only = read_only
        self._work_mem = work_mem
        self._pool = ConnectionPool(
            url,
            min_size=1,
            # A connection per query slot, and a few for writes and readiness checks.
            max_size=max(2, max_connections) + 4,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            configure=self._configure,
            timeout=POOL_WAIT_S,
            reconnect_timeout=RECONNECT_S,
            open=False,
            name="tally-postgres",
        )
        try:
            self._pool.open(wait=True, timeout=10)
        except PoolTimeout:
            self._pool.close()
            raise TallyError("unavailable", "cannot connect to PostgreSQL", 503) from None

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.execute("SET TimeZone = 'UTC'")
        if self.read_only:
            conn.execute("SET default_transaction_read_only = on")

        if self._work_mem:
            kilobytes = max(64, self._work_mem // 1024)
            conn.execute("SELECT set_config('work_mem', %s, false)", [f"{kilobytes}kB"])

    def _checkout(self, deadline: float) -> psycopg.Connection:
        """A live pooled connection, waiting at most `POOL_WAIT_S` (and never past `deadline`);
        connections the server closed are dropped on the way, without the pool's backoff."""
        while True:
            wait = min(POOL_WAIT_S, deadline - time.monotonic())
            conn = self._pool.getconn(timeout=max(wait, 0.001))
            if not _closed_by_server(conn):
                return conn
            conn.close()
            self._pool.putconn(conn)

    @contextmanager
    def _connection(self, budget_s: float) -> Iterator[tuple[psycopg.Connection, float]]:
        """A connection and the deadline of the call, `budget_s` from now. At the deadline the
        watchdog cuts the connection: the call fails as unavailable, and the pool replaces it."""
        deadline = time.monotonic() + budget_s
        conn = self._checkout(deadline)
        try:
            with WATCHDOG.guard(conn.fileno(), deadline) as guard:
                try:
                    yield conn, deadline
                except psycopg.OperationalError:
                    if not guard.fired:
                        raise
                    log.warning("postgres did not answer within %g s; connection cut", budget_s)
                    raise unavailable(
                        f"the database did not answer within {budget_s:g} s; try again shortly"
                    ) from None
        finally:
            self._pool.putconn(conn)

    def execute(
        self, sql_text: str, params: dict[str, Any], timeout_s: float, cancel: Cancel | None = None
    ) -> tuple[list[str], list[tuple]]:
        """PostgreSQL reports no progress of a running statement: a job shows its elapsed time
        only."""
        with (
            _driver_errors("the engine could not run this query", timeout_s, cancel),
            self._connection(timeout_s) as (conn, deadline),
            conn.transaction(),
        ):
            # The server cancels a little before the watchdog cuts: a slow query gets the
            # timeout's own answer, and the cut is kept for a server that cannot cancel.
            left = deadline - time.monotonic()
            server_ms = int((left - min(0.25, left / 4)) * 1000)
            if server_ms < 1:
                raise timed_out(timeout_s)
            conn.execute("SELECT set_config('statement_timeout', %s, true)", [f"{server_ms}ms"])
            with bound(cancel, lambda: _cancel_request(conn)):
                cursor = conn.execute(sql_text, params or {})
                rows = _plain_rows(cursor)
            columns = [d.name for d in cursor.description or []]
        return columns, rows

    def frame(
        self,
        sql_text: str,
        params: dict[str, Any],
        timeout_s: float,
        columnar: bool,
        cancel: Cancel | None = None,
    ) -> Frame:
        """Always tuples: psycopg hands rows over as Python values."""
        return Frame(*self.execute(sql_text, params, timeout_s, cancel))

    def ensure_table(self, create_sql: str, spec: TableSpec, add_columns: dict[str, str]) -> None:
        """Create the table, add new catalog columns, and the two indexes queries rely on.

        Several workers or replicas start at once: two concurrent `CREATE TABLE IF NOT EXISTS`
        of one table can both miss it and one then fails on the catalog's unique index, so each
        takes a transaction-scoped advisory lock on the table's qualified name first.
        """
        table = _ident(spec.name)
        with (
            _driver_errors("the table could not be created"),
            self._connection(WRITE_TIMEOUT_S) as (conn, _),
            conn.transaction(),
        ):
            conn.execute(
                "SELECT pg_advisory_xact_lock("
                "hashtext(coalesce(current_schema(), '') || '.' || %s))",
                [spec.name],
            )
            conn.execute(create_sql)
            for column, ddl_type in add_columns.items():
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        table, _ident(column), sql.SQL(ddl_type)
                    )
                )
            if spec.order_by:
                conn.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                        _index_name(spec.name, "scan"), table, _columns(spec.order_by)
                    )
                )
            conn.execute(
                sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    _index_name(spec.name, "key"), table, _columns(spec.key_columns)
                )
            )

    def write(
        self, spec: TableSpec, batch: pa.Table, maintain: MaintenanceSource | None = None
    ) -> WriteOutcome:
        """Store a batch atomically; a row whose key is stored is a duplicate (or an update)."""
        refuse_maintenance(self.name, maintain)
        if batch.num_rows == 0:
            return WriteOutcome(0, 0)
        names = list(batch.column_names)
        table, keys = _ident(spec.name), _columns(spec.key_columns)
        # One row per key: the first of the batch when appending, the last when upserting.
        one_per_key = sql.SQL(
            "SELECT DISTINCT ON ({keys}) {cols} FROM _batch ORDER BY {keys}, _ord {direction}"
        ).format(
            keys=keys,
            cols=_columns(names),
            direction=sql.SQL("DESC" if spec.upsert else "ASC"),
        )
        insert = sql.SQL("INSERT INTO {} ({}) ").format(table, _columns(names)) + one_per_key
        others = [n for n in names if n not in spec.key_columns]
        with (
            _driver_errors("the batch could not be stored"),
            self._connection(WRITE_TIMEOUT_S) as (conn, _),
            conn.transaction(),
        ):
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE _batch (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
                ).format(table)
            )
            conn.execute("ALTER TABLE _batch ADD COLUMN _ord BIGINT")
            copy_sql = sql.SQL("COPY _batch ({}) FROM STDIN").format(_columns([*names, "_ord"]))
            with conn.cursor() as cursor:
                with cursor.copy(copy_sql) as copy:
                    for row in _copy_rows(batch):
                        copy.write_row(row)
                if spec.upsert and others:
                    updates = sql.SQL(", ").join(
                        sql.SQL("{0} = EXCLUDED.{0}").format(_ident(n)) for n in others
                    )
                    cursor.execute(
                        insert
                        + sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {} RETURNING (xmax = 0)").format(
                            keys, updates
                        )
                    )
                    fresh = [row[0] for row in cursor.fetchall()]
                    accepted, updated = sum(fresh), len(fresh) - sum(fresh)
                else:
                    cursor.execute(insert + sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys))
                    accepted, updated = cursor.rowcount, 0
        return WriteOutcome(accepted, batch.num_rows - accepted - updated, updated)

    def compact(self, spec: TableSpec) -> int:
        """Rewrite the table in (tenant, time) order (CLUSTER on that index), then count it."""
        table = _ident(spec.name)
        with (
            _driver_errors("the table could not be compacted"),
            self._connection(WRITE_TIMEOUT_S) as (conn, _),
        ):
            if spec.order_by:
                index = _index_name(spec.name, "scan")
                conn.execute(sql.SQL("CLUSTER {} USING {}").format(table, index))
                conn.execute(sql.SQL("ANALYZE {}").format(table))
            counted = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        return counted[0] if counted else 0

    def ping(self) -> None:
        """Within `PING_S`, whatever the server does: /readyz must answer in a second."""
        with _driver_errors("the database did not answer"), self._connection(PING_S) as (conn, _):
            conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._pool.close()
