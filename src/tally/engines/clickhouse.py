"""ClickHouse: a server through clickhouse-connect, or chDB (the same engine in-process).

`TALLY_CLICKHOUSE_URL` is `http(s)://user:password@host:port/?database=NAME` for a server or
`chdb://PATH?database=NAME` for chDB; the database is created when missing. Queries carry typed
placeholders (`{p0:String}`) and their values travel as bound parameters; `max_execution_time`
stops a slow query and the caller gets a 503.

ClickHouse has no unique keys, so idempotency is checked before each insert: a batch is loaded
into a staging Memory table, the keys already stored are looked up there, and only new keys are
inserted (append) or the stored ones are deleted first (upsert). Writes of one engine are
serialized; several writers of one tenant across replicas are not coordinated (docs/scaling.md).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc

from tally.catalog.storage import TableSpec
from tally.engines.base import (
    MaintenanceSource,
    WriteOutcome,
    out_of_memory,
    refuse_maintenance,
    timed_out,
)
from tally.engines.cancel import Cancel, canceled
from tally.engines.clickhouse_backends import Backend, ChdbBackend, ServerBackend
from tally.engines.clickhouse_backends import quote as _quote
from tally.engines.frame import Frame, arrow_tuples
from tally.errors import TallyError, unavailable

log = logging.getLogger(__name__)
ORDINAL = "_tally_ord"
NULL_FLAG = "_tally_null__"


def _key_tuple(keys: tuple[str, ...], prefix: str = "") -> str:
    return "(" + ", ".join(prefix + _quote(k) for k in keys) + ")"


def _inner(ch_type: str) -> str | None:
    """`T` of a `Variant(T)` column (a nullable array or map), else None."""
    if ch_type.startswith("Variant(") and ch_type.endswith(")"):
        return ch_type[len("Variant(") : -1]
    return None


def parse_url(url: str) -> tuple[str, str, str]:
    """(kind, location, database) of a `TALLY_CLICKHOUSE_URL`."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    database = (query.get("database") or [""])[0]
    if parsed.scheme == "chdb":
        return "chdb", unquote(parsed.netloc + parsed.path) or ":memory:", database or "default"
    if parsed.scheme in ("http", "https"):
        return "server", url, database or parsed.path.strip("/") or "default"
    raise ValueError(  # the scheme only: the URL may hold a password
        f"TALLY_CLICKHOUSE_URL must start with http://, https:// or chdb://, not {parsed.scheme}://"
    )


class ClickHouseEngine:
    name = "clickhouse"

    def __init__(
        self, url: str, read_only: bool = False, max_memory_usage: int | None = None
    ) -> None:
        """`read_only` (an external source): the database is used as it is, never created.
        `max_memory_usage`: bytes one query may hold; ClickHouse stops a query beyond it."""
        kind, location, database = parse_url(url)
        self.database = database
        backend = ChdbBackend if kind == "chdb" else ServerBackend
        self._backend: Backend = backend(location, database, not read_only, max_memory_usage)
        self._write_lock = threading.Lock()

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
        table = self._run(lambda: self._backend.query(sql, params, timeout_s, cancel), timeout_s)
        if columnar:
            return Frame(list(table.column_names), table=table)
        return Frame(list(table.column_names), tuples=arrow_tuples(table))

    def _run(self, call, timeout_s: float | None = None):
        try:
            return call()
        except TallyError:
            raise
        except Exception as exc:  # driver errors differ per backend; classified by their text
            text = str(exc)
            if "QUERY_WAS_CANCELLED" in text or "Code: 394" in text:
                raise canceled() from None
            if timeout_s is not None and ("TIMEOUT_EXCEEDED" in text or "Code: 159" in text):
                raise timed_out(timeout_s) from None
            if "MEMORY_LIMIT_EXCEEDED" in text or "Code: 241" in text:
                log.warning("a query needed more than the engine's memory limit")
                raise out_of_memory() from None
            if self._backend.unreachable(exc):
                log.exception("clickhouse unreachable")
                raise unavailable("the database is not reachable; try again shortly") from None
            log.exception("clickhouse statement failed")
            raise TallyError("engine_error", "the engine could not run this query", 500) from exc

    def _command(self, sql: str) -> None:
        self._run(lambda: self._backend.command(sql))

    def _columns(self, table: str) -> dict[str, str]:
        found = self._run(
            lambda: self._backend.query(
                "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                "AND table = {t:String} ORDER BY position",
                {"t": table},
                60,
            )
        )
        return dict(zip(*(c.to_pylist() for c in found.columns), strict=True))

    def ensure_table(self, create_sql: str, spec: TableSpec, add_columns: dict[str, str]) -> None:
        with self._write_lock:
            self._command(create_sql)
            present = self._columns(spec.name)
            for column, ddl_type in add_columns.items():
                if column not in present:
                    self._command(
                        f"ALTER TABLE {_quote(spec.name)} ADD COLUMN {_quote(column)} {ddl_type}"
                    )

    def write(
        self, spec: TableSpec, batch: pa.Table, maintain: MaintenanceSource | None = None
    ) -> WriteOutcome:
        """Store one row per key of a batch unless already stored; count duplicates and updates."""
        refuse_maintenance(self.name, maintain)
        if batch.num_rows == 0:
            return WriteOutcome(0, 0)
        with self._write_lock:
            types = self._columns(spec.name)
            stage = f"_tally_stage_{uuid.uuid4().hex}"
            try:
                self._stage(stage, types, batch)
                accepted, updated = self._move(spec, stage, types, batch.column_names)
            finally:
                self._command(f"DROP TABLE IF EXISTS {_quote(stage)}")
        return WriteOutcome(accepted, batch.num_rows - accepted - updated, updated)

    def _stage(self, stage: str, types: dict[str, str], batch: pa.Table) -> None:
        """A Memory table of the batch in plain types, its row order and the nulls of Variants."""
        staged = batch
        stage_types = {name: _inner(types[name]) or types[name] for name in batch.column_names}
        for name in batch.column_names:
            if _inner(types[name]) is not None:
                flag = pc.cast(pc.is_null(batch.column(name)), pa.uint8())
                staged = staged.append_column(NULL_FLAG + name, flag)
                stage_types[NULL_FLAG + name] = "UInt8"
        staged = staged.append_column(ORDINAL, pa.array(range(batch.num_rows), pa.uint64()))
        stage_types[ORDINAL] = "UInt64"
        definitions = ", ".join(f"{_quote(n)} {stage_types[n]}" for n in staged.column_names)
        self._command(f"CREATE TABLE {_quote(stage)} ({definitions}) ENGINE = Memory")
        self._run(lambda: self._backend.load(stage, staged))

    def _move(
        self, spec: TableSpec, stage: str, types: dict[str, str], names: list[str]
    ) -> tuple[int, int]:
        """(accepted, updated): insert one row per key unless stored (or replace the stored one)."""
        table, source, keys = _quote(spec.name), _quote(stage), _key_tuple(spec.key_columns)
        tenant = _quote(spec.key_columns[0])
        direction = "DESC" if spec.upsert else "ASC"  # last row of a key wins an upsert
        one_per_key = f"SELECT * FROM {source} ORDER BY {ORDINAL} {direction} LIMIT 1 BY {keys}"
        stored = f"SELECT {keys} FROM {table} WHERE {tenant} IN (SELECT {tenant} FROM {source})"
        counts = self._run(
            lambda: self._backend.query(
                f"SELECT count(), countIf({keys} IN ({stored})) FROM ({one_per_key})",
                {},
                600,
            )
        )
        unique, existing = (c[0].as_py() for c in counts.columns)
        values = []
        for name in names:
            if _inner(types[name]) is None:
                values.append(_quote(name))
            else:
                flag = _quote(NULL_FLAG + name)
                values.append(f"if({flag} = 1, NULL, CAST({_quote(name)} AS {types[name]}))")
        columns = ", ".join(_quote(n) for n in names)
        insert = f"INSERT INTO {table} ({columns}) SELECT {', '.join(values)} FROM ({one_per_key})"
        if spec.upsert:
            if existing:
                self._command(f"DELETE FROM {table} WHERE {keys} IN (SELECT {keys} FROM {source})")
            self._command(insert)
            return unique - existing, existing
        if existing < unique:
            self._command(f"{insert} WHERE {keys} NOT IN ({stored})")
        return unique - existing, 0

    def compact(self, spec: TableSpec) -> int:
        """Merge the table's parts: MergeTree keeps each part sorted by (tenant, time) already."""
        with self._write_lock:
            self._command(f"OPTIMIZE TABLE {_quote(spec.name)} FINAL")
        counted = self._run(
            lambda: self._backend.query(f"SELECT count() FROM {_quote(spec.name)}", {}, 600)
        )
        return counted.column(0)[0].as_py()

    def ping(self) -> None:
        self._run(lambda: self._backend.query("SELECT 1", {}, 5))

    def close(self) -> None:
        self._backend.close()
