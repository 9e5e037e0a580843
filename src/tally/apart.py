"""Tally's own tables never land in an external source's schema (issue 19: built-in datasets
are created "never in an external source's schema").

Checked at start-up, before any table is created: an owned PostgreSQL engine whose
`current_schema()` is the schema of an external PostgreSQL source on the same server and
database, or an owned DuckDB file that is also a `duckdb` source, refuses to start with the
dataset file, the schema and the way out. The server is identified by asking each connection
(`current_database()`, `inet_server_addr()`, `inet_server_port()`), not by comparing URLs, so
`localhost` and `127.0.0.1`, or two spellings of one URL, are the same place.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tally.catalog import Catalog, Dataset
from tally.catalog.sources import DuckDBSource, PostgresSource, expand
from tally.config import ConfigError, Settings
from tally.engines.base import Engine

if TYPE_CHECKING:  # service/reload.py imports this module
    from tally.service.sources import Readers

_WHERE = (
    "SELECT current_database(), coalesce(host(inet_server_addr()), ''), "
    "coalesce(inet_server_port(), 0), current_schema()"
)
_TIMEOUT_S = 10.0


def _where(engine: Engine) -> tuple[str, str, int, str]:
    _, rows = engine.execute(_WHERE, {}, _TIMEOUT_S)
    database, host, port, schema = rows[0]
    return database, host, int(port), schema


def refuse_shared_duckdb_file(
    catalog: Catalog, settings: Settings, origin: Callable[[str], str]
) -> None:
    """Before the sources are opened: the owned DuckDB file may not also be a source (DuckDB
    would refuse to attach it a second time, with a message about file handles)."""
    if settings.engine != "duckdb":
        return
    owned = settings.database_path.resolve()
    problems = []
    for dataset in catalog:
        spec = dataset.source.spec if dataset.source else None
        if isinstance(spec, DuckDBSource) and Path(expand(spec.path)).resolve() == owned:
            problems.append(
                f"{origin(dataset.name)}: source.duckdb.path: {owned} is Tally's own database "
                "file (TALLY_DATA_DIR), where it creates its tables; serve a source from another "
                "file, or point TALLY_DATA_DIR elsewhere"
            )
    if problems:
        raise ConfigError(problems)


def shared_schema(dataset: Dataset, owned: Engine, source: Engine) -> str | None:
    """Why `dataset`'s PostgreSQL source (read through `source`) sits in the schema where the
    owned engine creates Tally's tables, or None when it does not."""
    spec = dataset.source.spec if dataset.source else None
    if owned.name != "postgres" or not isinstance(spec, PostgresSource):
        return None
    database, host, port, schema = _where(owned)
    source_database, source_host, source_port, default = _where(source)
    parts = spec.table.split(".")
    source_schema = parts[-2] if len(parts) > 1 else default
    if (source_database, source_host, source_port, source_schema) != (database, host, port, schema):
        return None
    return (
        f"schema {schema!r} of database {database!r} holds this source, and "
        "TALLY_POSTGRES_URL would create Tally's own tables there; point TALLY_POSTGRES_URL at "
        "another schema (?options=-csearch_path%3D<schema>, a schema that exists) or another "
        "database"
    )


def refuse_shared_schema(
    catalog: Catalog, owned: Engine, readers: Readers, origin: Callable[[str], str]
) -> None:
    """After the sources are opened, before any owned table is created: no external dataset's
    PostgreSQL source is in the owned engine's schema."""
    problems = []
    for dataset in catalog:
        if dataset.owned:
            continue
        reason = shared_schema(dataset, owned, readers.of(dataset).engine)
        if reason is not None:
            problems.append(f"{origin(dataset.name)}: source.postgres.table: {reason}")
    if problems:
        raise ConfigError(problems)
