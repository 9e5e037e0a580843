"""A ClickHouse table's columns from `system.columns`: a server over HTTP, or a chDB path.

Nothing is created or written: chDB opens the existing path, the server is only queried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tally.authoring import typemap
from tally.authoring.described import (
    HOLDS_JSON,
    JSON_SAMPLE_ROWS,
    SourceColumn,
    SourceError,
    all_json_objects,
)
from tally.catalog.sources import ClickHouseSource, expand

COLUMNS = (
    "SELECT name, type, is_in_primary_key FROM system.columns "
    "WHERE database = {db:String} AND table = {t:String} ORDER BY position"
)
# Identifiers travel as parameters too ({c:Identifier}), never spliced into the text.
SAMPLE = (
    "SELECT {c:Identifier} FROM {db:Identifier}.{t:Identifier} "
    "WHERE {c:Identifier} IS NOT NULL LIMIT {n:UInt32}"
)


def location(url: str) -> tuple[str, str, str]:
    """(kind, where, database in the URL) of `http(s)://...` or `chdb://PATH`."""
    parsed = urlparse(url)
    database = (parse_qs(parsed.query).get("database") or [""])[0]
    if parsed.scheme == "chdb":
        return "chdb", unquote(parsed.netloc + parsed.path), database
    if parsed.scheme in ("http", "https"):
        return "server", url, database or parsed.path.strip("/")
    # The scheme only: the URL may hold a password (from a ${VAR} the file does not show).
    raise SourceError(
        f"a ClickHouse URL starts with http://, https:// or chdb://, not {parsed.scheme}://"
    )


def describe(spec: ClickHouseSource, sample_json: bool = True) -> list[SourceColumn]:
    kind, where, url_database = location(expand(spec.url))
    database, _, table = spec.table.rpartition(".")
    params = {"db": database or url_database or "default", "t": table}
    try:
        with _chdb(where) if kind == "chdb" else _server(where) as run:
            return _columns(run, params, sample_json)
    except SourceError:
        raise
    except Exception as exc:  # both drivers raise several families of errors
        raise SourceError(f"cannot read ClickHouse: {str(exc).strip()[:300]}") from None


def _columns(run: Run, params: dict[str, Any], sample_json: bool) -> list[SourceColumn]:
    rows = run(COLUMNS, params)
    if not rows:
        raise SourceError(f"ClickHouse has no table {params['db']}.{params['t']}")
    columns = []
    key = 0
    for name, spelled, in_key in rows:
        inner, nullable = typemap.unwrap_clickhouse(spelled)
        mapped = typemap.clickhouse(inner)
        if sample_json and inner == "String":
            sample = run(SAMPLE, {**params, "c": name, "n": JSON_SAMPLE_ROWS})
            mapped = HOLDS_JSON if all_json_objects(v for (v,) in sample) else mapped
        key += bool(in_key)
        columns.append(SourceColumn(name, spelled, mapped, nullable, key if in_key else None))
    return columns


Run = Callable[[str, dict[str, Any]], list[tuple]]


@contextmanager
def _chdb(path: str) -> Iterator[Run]:
    import chdb
    from clickhouse_connect.driver.binding import format_bind_value

    if not Path(path).is_dir():
        raise SourceError(f"no chDB directory at {path}")
    conn = chdb.connect(path)

    def run(sql: str, params: dict[str, Any]) -> list[tuple]:
        bound = {k: format_bind_value(v) for k, v in params.items()}
        return [tuple(r.values()) for r in conn.query(sql, "Arrowtable", params=bound).to_pylist()]

    try:
        yield run
    finally:
        conn.close()


@contextmanager
def _server(url: str) -> Iterator[Run]:
    import clickhouse_connect

    parsed = urlparse(url)
    secure = parsed.scheme == "https"
    client = clickhouse_connect.get_client(
        host=parsed.hostname or "localhost",
        port=parsed.port or (8443 if secure else 8123),
        username=unquote(parsed.username or "default"),
        password=unquote(parsed.password or ""),
        secure=secure,
        autogenerate_session_id=False,
    )
    try:
        yield lambda sql, params: [
            tuple(r) for r in client.query(sql, parameters=params).result_rows
        ]
    finally:
        client.close()
