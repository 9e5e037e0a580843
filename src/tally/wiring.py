"""Assemble a service from settings: catalog, engine and dialect, tables created."""

from __future__ import annotations

from tally.cache.layer import ResultCache
from tally.cache.stores import MemoryStore, RedisStore
from tally.cache.versions import DataVersions
from tally.catalog import Catalog
from tally.config import Settings
from tally.engines.base import Engine
from tally.engines.duckdb import DuckDBEngine
from tally.service import Service
from tally.sql.dialect import Dialect
from tally.sql.duckdb import DuckDBDialect


def open_engine(settings: Settings) -> tuple[Engine, Dialect]:
    if settings.engine == "duckdb":
        return DuckDBEngine(settings.database_path, settings.duckdb_threads), DuckDBDialect()
    raise ValueError(f"unknown engine {settings.engine!r}; this build supports: duckdb")


def open_cache(settings: Settings) -> tuple[ResultCache | None, DataVersions]:
    """Redis when `TALLY_REDIS_URL` is set (shared by replicas), else process memory."""
    if settings.redis_url:
        redis_store = RedisStore(settings.redis_url, settings.redis_prefix)
        store: MemoryStore | RedisStore = redis_store
        versions = DataVersions(redis_store)
    else:
        store = MemoryStore(settings.cache_max_bytes)
        versions = DataVersions()
    if not settings.cache_enabled:
        return None, versions
    return ResultCache(store, settings.cache_stale_s), versions


def build_service(settings: Settings) -> Service:
    catalog = Catalog.load(settings.datasets_dir)
    engine, dialect = open_engine(settings)
    cache, versions = open_cache(settings)
    service = Service(settings, catalog, engine, dialect, cache, versions)
    service.start()
    return service
