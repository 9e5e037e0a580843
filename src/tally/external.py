"""Open the sources of external datasets, read-only, and check them against their files.

PostgreSQL and ClickHouse sources get an engine per URL (after `${VAR}` expansion), opened
read-only: PostgreSQL sessions run with `default_transaction_read_only = on`, ClickHouse's
database is never created. Parquet, CSV and DuckDB files are read in place by one in-memory
DuckDB (a DuckDB file is attached READ_ONLY). At start-up every exposed column's `from` is
looked up among the source's columns (`SELECT * FROM source LIMIT 0`, which reads no row), so
a misspelled column is a start-up error naming the dataset file and field, not a failed query.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sqlglot import exp

from tally.authoring.compat import unreadable
from tally.authoring.described import SourceError
from tally.authoring.reading import source_columns
from tally.catalog import Catalog, Dataset
from tally.catalog.model import ColumnType
from tally.catalog.sources import (
    ClickHouseSource,
    CsvSource,
    DuckDBSource,
    FilesSource,
    PostgresSource,
    expand,
)
from tally.config import ConfigError, Settings
from tally.engines.base import Engine
from tally.engines.duckdb import DuckDBEngine
from tally.errors import TallyError
from tally.service.sources import Reader, Readers, SourceProblem
from tally.sql.dialect import Dialect
from tally.sql.duckdb import DuckDBDialect
from tally.sql.relations import file_relation, probe, projection, table_relation

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 10.0


@dataclass
class _Opened:
    """Engines opened so far, by what identifies their source (a URL, or the file reader)."""

    settings: Settings
    engines: dict[str, tuple[Engine, Dialect]] = field(default_factory=dict)
    attached: set[str] = field(default_factory=set)

    def files(self) -> tuple[Engine, Dialect]:
        if "files" not in self.engines:
            engine = DuckDBEngine(
                None, self.settings.duckdb_threads, self.settings.engine_memory_bytes
            )
            self.engines["files"] = engine, DuckDBDialect()
        return self.engines["files"]

    def postgres(self, url: str) -> tuple[Engine, Dialect]:
        if url not in self.engines:
            from tally.engines.postgres import PostgresEngine
            from tally.sql.postgres import PostgresDialect

            engine = PostgresEngine(url, self.settings.query_slots, read_only=True)
            self.engines[url] = engine, PostgresDialect()
        return self.engines[url]

    def clickhouse(self, url: str) -> tuple[Engine, Dialect]:
        if url not in self.engines:
            from tally.engines.clickhouse import ClickHouseEngine
            from tally.sql.clickhouse import ClickHouseDialect

            self.engines[url] = ClickHouseEngine(url, read_only=True), ClickHouseDialect()
        return self.engines[url]

    def duckdb_file(self, path: str) -> tuple[Engine, Dialect, str]:
        engine, dialect = self.files()
        alias = "source_" + hashlib.sha256(path.encode()).hexdigest()[:12]
        if alias not in self.attached:
            assert isinstance(engine, DuckDBEngine)
            engine.attach_read_only(path, alias)
            self.attached.add(alias)
        return engine, dialect, alias


def _open_one(dataset: Dataset, opened: _Opened) -> Reader:
    """The dataset's reader, its columns checked against its source."""
    assert dataset.source is not None
    spec = dataset.source.spec
    if isinstance(spec, PostgresSource):
        engine, dialect = opened.postgres(expand(spec.url))
        relation, named = table_relation(spec.table), spec.table
    elif isinstance(spec, ClickHouseSource):
        engine, dialect = opened.clickhouse(expand(spec.url))
        relation, named = table_relation(spec.table), spec.table
    elif isinstance(spec, DuckDBSource):
        path = expand(spec.path)
        engine, dialect, alias = opened.duckdb_file(path)
        relation, named = table_relation(spec.table, alias), f"{spec.table} of {path}"
    else:
        assert isinstance(spec, FilesSource)
        engine, dialect = opened.files()
        path = expand(spec.path)
        options: dict[str, bool | str] = {"hive_partitioning": spec.hive_partitioning}
        if isinstance(spec, CsvSource):
            options |= {"header": spec.header, "delim": spec.delimiter}
        reader = "read_csv" if isinstance(spec, CsvSource) else "read_parquet"
        relation, named = file_relation(reader, path, **options), path
    _check_columns(dataset, engine, dialect, relation, named)
    held = _check_types(dataset)
    return Reader(engine, dialect, projection(dataset, relation, dialect, held))


def _check_columns(
    dataset: Dataset, engine: Engine, dialect: Dialect, relation: exp.Table, named: str
) -> None:
    """Every stored column's `from` names a column of the source."""
    kind = dataset.source.kind if dataset.source else "owned"
    try:
        found, _ = engine.execute(dialect.render(probe(relation)), {}, PROBE_TIMEOUT_S)
    except TallyError as exc:
        raise SourceProblem(
            f"source.{kind}",
            f"cannot read {named} ({exc.message}): does it exist and may this user read it?",
        ) from None
    present = set(found)
    for index, column in enumerate(dataset.columns):
        if column.derived is not None:
            continue
        wanted = column.source_path.column
        if wanted not in present:
            where = f"columns[{index}].from" if column.from_ else f"columns[{index}].name"
            raise SourceProblem(
                where,
                f"{named} has no column {wanted!r} (it has {', '.join(sorted(present))})",
            )


def _check_types(dataset: Dataset) -> dict[str, ColumnType | None]:
    """The Tally type of each source column, from the source's catalog (information_schema,
    DuckDB's DESCRIBE, system.columns: no row of a table is read), after refusing a declared
    type that cannot read its source column: the rule of `check --connect`, so `sum(st)` over a
    text column is a start-up error, not a failing query."""
    assert dataset.source is not None
    try:
        found = {c.name: c for c in source_columns(dataset.source, sample_json=False)}
    except SourceError as exc:
        raise SourceProblem(f"source.{dataset.source.kind}", str(exc)) from None
    for index, column in enumerate(dataset.columns):
        held = found.get(column.source_path.column) if column.derived is None else None
        if held is not None and (reason := unreadable(column, held)):
            raise SourceProblem(f"columns[{index}].type", reason)
    return {name: c.mapped.type for name, c in found.items()}


class Sources:
    """The engines of external sources, opened read-only once per source and shared by its
    datasets; start-up opens every dataset's, a reload those of added and changed datasets."""

    def __init__(self, settings: Settings) -> None:
        self._opened = _Opened(settings)
        self._lock = threading.Lock()

    def open(self, dataset: Dataset) -> Reader:
        """The dataset's reader; any reason it cannot be read is a SourceProblem."""
        kind = dataset.source.kind if dataset.source else ""
        try:
            with self._lock:
                return _open_one(dataset, self._opened)
        except ValueError as invalid:  # a ${VAR} that is not set
            raise SourceProblem(f"source.{kind}", str(invalid)) from None
        except TallyError as failed:
            raise SourceProblem(f"source.{kind}", failed.message) from None

    def close_unused(self, used: Collection[Engine]) -> None:
        kept = {id(engine) for engine in used}
        with self._lock:
            for key, (engine, _) in list(self._opened.engines.items()):
                if id(engine) not in kept:
                    del self._opened.engines[key]
                    if key == "files":
                        self._opened.attached.clear()
                    engine.close()

    def close(self) -> None:
        self.close_unused(())


def open_sources(
    catalog: Catalog, owned: Reader, settings: Settings, origin: Callable[[str], str]
) -> Readers:
    """A reader per external dataset of `catalog`; `origin(name)` is the file that declared it.
    Any problem closes what was opened and is a ConfigError naming the file and field."""
    sources = Sources(settings)
    readers: dict[str, Reader] = {}
    problems: list[str] = []
    for dataset in catalog:
        if dataset.owned:
            continue
        try:
            readers[dataset.fingerprint] = sources.open(dataset)
        except SourceProblem as problem:
            problems.append(f"{origin(dataset.name)}: {problem.field}: {problem.reason}")
    if problems:
        sources.close()
        raise ConfigError(problems)
    return Readers(owned, readers, sources)
