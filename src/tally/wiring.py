"""Assemble a service from settings: catalog, engine and dialect, tables created."""

from __future__ import annotations

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


def build_service(settings: Settings) -> Service:
    catalog = Catalog.load(settings.datasets_dir)
    engine, dialect = open_engine(settings)
    service = Service(settings, catalog, engine, dialect)
    service.start()
    return service
