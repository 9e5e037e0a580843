"""A ClickHouse table's columns from `system.columns`: a server over HTTP, or a chDB path.

Nothing is created or written: chDB opens the existing path, the server is only queried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tally.authoring import typemap
from tally.authoring.described import SourceColumn, SourceError
from tally.catalog.sources import ClickHouseSource, expand

COLUMNS = (
    "SELECT name, type, is_in_primary_key FROM system.columns "
    "WHERE database = {db:String} AND table = {t:String} ORDER BY position"
)


def location(url: str) -> tuple[str, str, str]:
    """(kind, where, database in the URL) of `http(s)://...` or `chdb://PATH`."""
    parsed = urlparse(url)
    database = (parse_qs(parsed.query).get("database") or [""])[0]
    if parsed.scheme == "chdb":
        return "chdb", unquote(parsed.netloc + parsed.path), database
    if parsed.scheme in ("http", "https"):
        return "server", url, database or parsed.path.strip("/")
    raise SourceError(f"a ClickHouse URL starts with http://, https:// or chdb://, not {url!r}")


def describe(spec: ClickHouseSource) -> list[SourceColumn]:
    kind, where, url_database = location(expand(spec.url))
    database, _, table = spec.table.rpartition(".")
    params = {"db": database or url_database or "default", "t": table}
    try:
        rows = _chdb_rows(where, params) if kind == "chdb" else _server_rows(where, params)
    except SourceError:
        raise
    except Exception as exc:  # both drivers raise several families of errors
        raise SourceError(f"cannot read ClickHouse: {str(exc).strip()[:300]}") from None
    if not rows:
        raise SourceError(f"ClickHouse has no table {params['db']}.{table}")
    columns = []
    key = 0
    for name, spelled, in_key in rows:
        inner, nullable = typemap.unwrap_clickhouse(spelled)
        key += bool(in_key)
        position = key if in_key else None
        columns.append(SourceColumn(name, spelled, typemap.clickhouse(inner), nullable, position))
    return columns


def _chdb_rows(path: str, params: dict[str, Any]) -> list[tuple]:
    import chdb
    from clickhouse_connect.driver.binding import format_bind_value

    if not Path(path).is_dir():
        raise SourceError(f"no chDB directory at {path}")
    conn = chdb.connect(path)
    try:
        bound = {k: format_bind_value(v) for k, v in params.items()}
        table = conn.query(COLUMNS, "Arrowtable", params=bound)
        return [tuple(r.values()) for r in table.to_pylist()]
    finally:
        conn.close()


def _server_rows(url: str, params: dict[str, Any]) -> list[tuple]:
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
        return [tuple(r) for r in client.query(COLUMNS, parameters=params).result_rows]
    finally:
        client.close()
