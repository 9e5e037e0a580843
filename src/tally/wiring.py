"""Assemble a service from settings: catalog, engines and dialects (the owned one, and each
external source's), owned tables created."""

from __future__ import annotations

from tally.apart import refuse_shared_duckdb_file, refuse_shared_schema
from tally.cache.layer import ResultCache
from tally.cache.stores import MemoryStore, RedisStore
from tally.cache.versions import DataVersions
from tally.catalog import Catalog
from tally.config import ConfigError, Settings
from tally.engines.base import Engine
from tally.engines.duckdb import DuckDBEngine
from tally.external import open_sources
from tally.profiles import unserved_datasets
from tally.service import Service
from tally.service.sources import Reader
from tally.sql.dialect import Dialect
from tally.sql.duckdb import DuckDBDialect


def _required(value: str | None, variable: str, engine: str) -> str:
    if not value:
        raise ConfigError([f"TALLY_ENGINE={engine} needs {variable}"])
    return value


def open_engine(settings: Settings) -> tuple[Engine, Dialect]:
    """The engine named by `TALLY_ENGINE` and its dialect; drivers are imported only when used."""
    if settings.engine == "duckdb":
        engine = DuckDBEngine(
            settings.database_path, settings.duckdb_threads, settings.engine_memory_bytes
        )
        return engine, DuckDBDialect()
    if settings.engine == "postgres":
        from tally.engines.postgres import PostgresEngine
        from tally.sql.postgres import PostgresDialect

        url = _required(settings.postgres_url, "TALLY_POSTGRES_URL", "postgres")
        slots = settings.query_slots
        # A query may sort and hash in several nodes at once, each up to work_mem.
        work_mem = min(max(settings.engine_memory_bytes // slots // 4, 4 << 20), 1 << 30)
        return PostgresEngine(url, slots, work_mem=work_mem), PostgresDialect()
    if settings.engine == "clickhouse":
        from tally.engines.clickhouse import ClickHouseEngine
        from tally.sql.clickhouse import ClickHouseDialect

        url = _required(settings.clickhouse_url, "TALLY_CLICKHOUSE_URL", "clickhouse")
        try:
            per_query = settings.engine_memory_bytes // settings.query_slots
            return ClickHouseEngine(url, max_memory_usage=per_query), ClickHouseDialect()
        except ModuleNotFoundError as missing:
            raise ConfigError(
                [
                    f"TALLY_ENGINE=clickhouse needs the optional package {missing.name}: "
                    "pip install 'tally[clickhouse]'"
                ]
            ) from None
    raise ConfigError([f"unknown engine {settings.engine!r}"])


def open_cache(settings: Settings) -> tuple[ResultCache | None, DataVersions]:
    """Redis when `TALLY_REDIS_URL` is set (shared by replicas), else process memory. The data
    versions live in the same store as the entries: a hit reads both at once."""
    store: MemoryStore | RedisStore
    if settings.redis_url:
        store = RedisStore(settings.redis_url, settings.redis_prefix)
    else:
        store = MemoryStore(settings.cache_max_bytes)
    versions = DataVersions(store)
    if not settings.cache_enabled:
        return None, versions
    return ResultCache(store, settings.cache_stale_s), versions


def load_catalog(settings: Settings) -> Catalog:
    """The built-in datasets of the served profiles (TALLY_PROFILES) and every user dataset (a
    user file with a built-in's name replaces it, and is kept whatever the profiles)."""
    catalog = Catalog.load(settings.datasets_dir)
    try:
        unserved = unserved_datasets(settings.profiles)
    except ValueError as unknown:
        raise ConfigError([str(unknown)]) from None
    return catalog.without_builtins(unserved)


def build_service(settings: Settings) -> Service:
    # The data directory holds keys and demo markers whatever the engine (DuckDB adds its file).
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog(settings)
    refuse_shared_duckdb_file(catalog, settings, catalog.origin)
    engine, dialect = open_engine(settings)
    try:
        readers = open_sources(catalog, Reader(engine, dialect), settings, catalog.origin)
    except ConfigError:
        engine.close()
        raise
    try:
        refuse_shared_schema(catalog, engine, readers, catalog.origin)
    except ConfigError:
        readers.close()
        engine.close()
        raise
    cache, versions = open_cache(settings)
    service = Service(settings, catalog, engine, dialect, cache, versions, readers=readers)
    service.tables.ensure()
    service.rollups.ensure()
    service.rollups.warm_in_background()
    service.rollups.start_compaction()
    return service
