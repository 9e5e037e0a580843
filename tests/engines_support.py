"""Open Tally on DuckDB, chDB or the PostgreSQL of this machine, each run isolated.

DuckDB gets a fresh file, chDB a fresh database on the one chDB directory of this test process
(chDB runs a single embedded server per process), PostgreSQL a fresh schema. Each is dropped
when the block ends. PostgreSQL must be reachable under `CI=true`; elsewhere a missing server
skips with the reason.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tally.catalog import Dataset
from tally.catalog.storage import table_spec
from tally.config import Settings
from tally.engines.base import Engine
from tally.sql.ddl import column_ddl, create_table
from tally.sql.dialect import Dialect
from tally.wiring import open_engine

PG_URL = os.environ.get("TALLY_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ENGINES = ("duckdb", "clickhouse", "postgres")
ENGINE_PARAMS = [
    pytest.param(name, id=name, marks=[pytest.mark.postgres] if name == "postgres" else [])
    for name in ENGINES
]
_chdb_dir: list[Path] = []


def chdb_dir() -> Path:
    """The chDB directory of this process, removed at exit."""
    if not _chdb_dir:
        path = Path(tempfile.mkdtemp(prefix="tally-chdb-"))
        atexit.register(shutil.rmtree, path, True)
        _chdb_dir.append(path)
    return _chdb_dir[0]


def require_postgres() -> None:
    """Skip without a server locally; under CI the server is part of the contract: fail."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL at {PG_URL} is not reachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def _with_option(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@contextmanager
def isolated_settings(
    engine: str, root: Path, datasets_dir: Path | None = None
) -> Iterator[Settings]:
    """Settings for `engine` on storage nobody else uses; the storage is dropped afterwards."""
    settings = Settings.from_env(
        data_dir=root / "data", datasets_dir=datasets_dir or root / "datasets", engine=engine
    )
    name = f"tally_{uuid.uuid4().hex[:12]}"
    if engine == "duckdb":
        yield settings
    elif engine == "clickhouse":
        import chdb

        try:
            yield settings.model_copy(
                update={"clickhouse_url": f"chdb://{chdb_dir()}?database={name}"}
            )
        finally:
            conn = chdb.connect(str(chdb_dir()))
            conn.query(f'DROP DATABASE IF EXISTS "{name}"')
            conn.close()
    elif engine == "postgres":
        import psycopg

        require_postgres()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield settings.model_copy(update={"postgres_url": _with_option(PG_URL, name)})
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    else:
        raise ValueError(engine)


@contextmanager
def engine_with_tables(
    engine: str, root: Path, datasets: Iterable[Dataset]
) -> Iterator[tuple[Engine, Dialect]]:
    """An isolated engine (no service around it) with the tables of `datasets` created."""
    with isolated_settings(engine, root) as settings:
        opened, dialect = open_engine(settings)
        try:
            for dataset in datasets:
                opened.ensure_table(
                    create_table(dataset, dialect),
                    table_spec(dataset),
                    column_ddl(dataset, dialect),
                )
            yield opened, dialect
        finally:
            opened.close()
