"""The two ways to reach ClickHouse: chDB in this process, or a server over HTTP.

Both take the same statements with typed placeholders and return Arrow tables; parameter values
are written in ClickHouse's text form for parameters by clickhouse-connect's own formatter
(chDB receives the text, the server driver formats the same values itself), so a string can
never end a literal or start a statement.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import pyarrow as pa

from tally.engines.cancel import Cancel, bound
from tally.errors import TallyError

log = logging.getLogger(__name__)


def quote(name: str) -> str:
    """Quote an identifier from the catalog, a staging name or system.columns (never a request).

    Statements built with it hold such identifiers only (S608 is silenced for them); every
    value travels as a bound parameter or in an Arrow batch, never in SQL text.
    """
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prepared(value: Any) -> Any:
    """A bound value in the form ClickHouse parses for its placeholder type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


class Backend(Protocol):
    def query(
        self, sql: str, params: dict[str, Any], timeout_s: float, cancel: Cancel | None = None
    ) -> pa.Table: ...

    def command(self, sql: str) -> None: ...

    def load(self, table: str, batch: pa.Table) -> None: ...

    def unreachable(self, exc: Exception) -> bool: ...

    def close(self) -> None: ...


class ChdbBackend:
    """One chDB connection (its own session: database, settings) on the process's chDB server.

    chDB runs one embedded server per process, on the path of the first connection; another
    path is refused until every connection to the first one is closed. A statement is stopped
    by `KILL QUERY` through a second connection (the first is busy running it), found by a
    `log_comment` unique to it: chDB takes no query id, and rewrites the query text it shows.
    Progress is the rows read so far, from chDB's progress callback.
    """

    def __init__(
        self, path: str, database: str, create: bool = True, max_memory_usage: int | None = None
    ) -> None:
        import chdb

        if path != ":memory:":
            Path(path).mkdir(parents=True, exist_ok=True)
        try:
            self._conn = chdb.connect(path)
        except Exception as exc:  # chDB raises plain runtime errors
            raise TallyError("unavailable", f"cannot open chDB at {path}: {exc}", 503) from None
        self._killer = chdb.connect(path)
        self._lock = threading.Lock()
        self._timeout: float | None = None
        self._read: dict[str, Any] = {}
        self._conn.set_progress_callback(self._read.update)
        if create:
            self._conn.query(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
        self._conn.query(f"USE {quote(database)}")
        if max_memory_usage:
            self._conn.query(f"SET max_memory_usage = {int(max_memory_usage)}")

    def query(
        self, sql: str, params: dict[str, Any], timeout_s: float, cancel: Cancel | None = None
    ) -> pa.Table:
        from clickhouse_connect.driver.binding import format_bind_value

        values = {k: format_bind_value(prepared(v)) for k, v in params.items()}
        with self._lock:
            if timeout_s != self._timeout:
                self._conn.query(f"SET max_execution_time = {float(timeout_s)!r}")
                self._timeout = timeout_s
            if cancel is None:
                return self._conn.query(sql, "Arrowtable", params=values)
            # A uuid of ours, never request text.
            marker = f"tally:{uuid.uuid4().hex}"
            self._conn.query(f"SET log_comment = '{marker}'")
            self._read.clear()
            with bound(cancel, lambda: self._kill(marker), self._progress):
                return self._conn.query(sql, "Arrowtable", params=values)

    def _kill(self, marker: str) -> None:
        self._killer.query(f"KILL QUERY WHERE Settings['log_comment'] = '{marker}' ASYNC")

    def _progress(self) -> dict[str, Any]:
        read = dict(self._read)
        found: dict[str, Any] = {}
        if "read_rows" in read:
            found["rows_scanned"] = read["read_rows"]
        if read.get("total_rows_to_read"):
            found["percent"] = round(100 * read["read_rows"] / read["total_rows_to_read"], 1)
        return found

    def command(self, sql: str) -> None:
        with self._lock:
            self._conn.query(sql)

    def load(self, table: str, batch: pa.Table) -> None:
        # chDB's Python() table function reads the local variable named in the statement.
        with self._lock:
            self._conn.query(f"INSERT INTO {quote(table)} SELECT * FROM Python(batch)")

    def unreachable(self, exc: Exception) -> bool:
        return False

    def close(self) -> None:
        self._killer.close()
        self._conn.close()


class ServerBackend:
    """A ClickHouse server (or cluster entry point) through clickhouse-connect over HTTP."""

    def __init__(
        self, url: str, database: str, create: bool = True, max_memory_usage: int | None = None
    ) -> None:
        import clickhouse_connect

        parsed = urlparse(url)
        secure = parsed.scheme == "https"
        try:
            self._client = clickhouse_connect.get_client(
                host=parsed.hostname or "localhost",
                port=parsed.port or (8443 if secure else 8123),
                username=unquote(parsed.username or "default"),
                password=unquote(parsed.password or ""),
                secure=secure,
                autogenerate_session_id=False,
            )
            if create:
                self._client.command(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
        except Exception:  # the driver raises several families of errors
            log.exception("cannot connect to ClickHouse")
            where = f"{parsed.hostname}:{parsed.port or ''}"
            raise TallyError(
                "unavailable", f"cannot connect to ClickHouse at {where}", 503
            ) from None
        self._client.database = database
        self._settings: dict[str, Any] = {}
        if max_memory_usage:
            self._settings["max_memory_usage"] = max_memory_usage

    def query(
        self, sql: str, params: dict[str, Any], timeout_s: float, cancel: Cancel | None = None
    ) -> pa.Table:
        """A cancellable statement carries a query id of ours, which `KILL QUERY` names (from
        the same client: its HTTP pool runs the two requests side by side)."""
        values = {k: prepared(v) for k, v in params.items()}
        settings: dict[str, Any] = {**self._settings, "max_execution_time": timeout_s}
        if cancel is None:
            return self._client.query_arrow(sql, parameters=values, settings=settings)
        settings["query_id"] = query_id = f"tally-{uuid.uuid4().hex}"
        with bound(cancel, lambda: self._kill(query_id)):
            return self._client.query_arrow(sql, parameters=values, settings=settings)

    def _kill(self, query_id: str) -> None:
        self._client.command(
            "KILL QUERY WHERE query_id = {id:String} ASYNC", parameters={"id": query_id}
        )

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def load(self, table: str, batch: pa.Table) -> None:
        self._client.insert_arrow(table, batch)

    def unreachable(self, exc: Exception) -> bool:
        from clickhouse_connect.driver.exceptions import OperationalError

        return isinstance(exc, OperationalError)

    def close(self) -> None:
        self._client.close()
