"""Live reload: read the dataset files again and swap the catalog the service serves.

Every file is read and checked on its own (`catalog.loader.load_catalog`, through the reader of
`catalog/problems.py` that start-up and `tally datasets check` use): a refused file keeps its
previous definition serving (none when it is new) and its problems are logged, one warning line
each, and returned. Built-in datasets of profiles not served (TALLY_PROFILES) stay out, as at
start-up. An added or changed dataset owned by Tally gets its table before the new catalog is
swapped in, so no query ever sees a column its table lacks; an external one (a `source`) gets
its source opened and its columns checked the way start-up does (external.py), and an
unreachable source or a missing column refuses its file. The rollups of the new catalog are
ensured before the swap; its readers are served from just before the swap, and engines no
dataset uses any more are closed just after it. An owned table is only ever extended: a change
it cannot take in place (a stored column that changes type, a NOT NULL column that disappears,
other table keys or write mode) is refused like an invalid file. A removed dataset stops being
served; its table and rows stay. Cached answers, compiled statements, watermarks, row
validators, rollup layouts and external readers are keyed by the definition's fingerprint, so
nothing made for an earlier definition is used again.

Several workers or replicas each reload on their own (each watches the directory); the reload
call reloads the process it reached.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tally.apart import shared_schema
from tally.catalog import Catalog, Dataset
from tally.catalog.holder import CatalogHolder
from tally.catalog.loader import load_catalog
from tally.catalog.problems import Problem
from tally.catalog.storage import table_spec
from tally.config import Settings
from tally.errors import TallyError
from tally.profiles import unserved_datasets
from tally.rollups.store import Rollups
from tally.service.sources import Reader, Readers, SourceProblem
from tally.service.tables import Tables
from tally.sql.ddl import column_ddl

log = logging.getLogger(__name__)


@dataclass
class ReloadReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "problems": [
                {"file": p.file, "field": p.pointer, "message": p.message} for p in self.problems
            ],
        }


class Reloader:
    """Reloads one service's catalog; the file watcher and the admin call share it, and one
    reload runs at a time."""

    def __init__(
        self,
        settings: Settings,
        catalogs: CatalogHolder,
        tables: Tables,
        readers: Readers,
        rollups: Rollups,
    ) -> None:
        self.catalogs = catalogs
        self.tables = tables
        self.readers = readers
        self.rollups = rollups
        self.dialect = tables.dialect
        self.folder = settings.datasets_dir
        self.unserved = unserved_datasets(settings.profiles)
        self._lock = threading.Lock()

    def reload(self) -> ReloadReport:
        with self._lock:
            previous = self.catalogs.latest
            loaded, problems = load_catalog(self.folder, previous, self.unserved)
            served = {ds.name: ds for ds in loaded}
            origins = loaded.origins
            for name, ds in list(served.items()):
                file = Path(origins.get(name, "")).name
                refusals = self._refusals(previous.get(name), ds, file)
                if refusals:
                    problems += refusals
                    _restore(name, previous, served, origins)
            report = _compare(previous, served)
            opened: dict[str, Reader] = {}
            for name in (*report.added, *report.changed):
                refusals = self._prepare(served[name], origins.get(name, ""), opened)
                if refusals:
                    problems += refusals
                    _restore(name, previous, served, origins)
            report = _compare(previous, served)
            catalog = Catalog(served.values(), origins)
            failed = self._ensure_rollups(catalog)
            if failed is not None:
                for name in (*report.added, *report.changed):
                    message = f"dataset {name}: its rollups could not be prepared ({failed})"
                    problems.append(Problem(Path(origins.get(name, "")).name, "rollups", message))
                    _restore(name, previous, served, origins)
                report = _compare(previous, served)
                catalog = Catalog(served.values(), origins)
            self.readers.add(opened)
            self.catalogs.swap(catalog)
            self.readers.keep_only({ds.fingerprint for ds in catalog if not ds.owned})
        report.problems = problems
        _log(report)
        return report

    def _ensure_rollups(self, catalog: Catalog) -> str | None:
        """Create the rollup tables of added and changed datasets before they are served; None,
        or why that failed. Then those datasets are served as before (their files are
        refused): what the rollups hold in memory is still true of the tables for the datasets
        they last ensured (`Rollups._ensure`), and appends keep no table a new declaration made.
        """
        try:
            self.rollups.ensure(catalog)
        except Exception as exc:
            log.exception("the rollups of the reloaded datasets could not be prepared")
            return exc.message if isinstance(exc, TallyError) else type(exc).__name__
        return None

    def _refusals(self, before: Dataset | None, after: Dataset, file: str) -> list[Problem]:
        """What an owned table already holds that `after` would change in place."""
        if before is None or not (before.owned and after.owned) or before == after:
            return []
        found: list[Problem] = []
        old_spec, new_spec = table_spec(before), table_spec(after)
        if (old_spec.key_columns, old_spec.upsert) != (new_spec.key_columns, new_spec.upsert):
            found.append(
                Problem(
                    file,
                    "key_columns",
                    f"dataset {after.name}: its table is keyed by "
                    f"{', '.join(old_spec.key_columns)} ({before.mode}); keys and mode of an "
                    "existing table cannot change",
                )
            )
        old_types, new_types = column_ddl(before, self.dialect), column_ddl(after, self.dialect)
        positions = {c.physical: i for i, c in enumerate(after.columns)}
        for column, stored in old_types.items():
            if column in new_types and new_types[column] != stored:
                found.append(
                    Problem(
                        file,
                        f"columns[{positions[column]}].type",
                        f"dataset {after.name}: column {column} is stored as {stored}; a "
                        "column of an existing table cannot change type (add a new column)",
                    )
                )
        for column in before.stored_columns:
            if not column.nullable and column.physical not in new_types:
                found.append(
                    Problem(
                        file,
                        "columns",
                        f"dataset {after.name}: column {column.name} is NOT NULL in its "
                        "table; it cannot be removed (ingestion would store no value for it)",
                    )
                )
        return found

    def _prepare(self, dataset: Dataset, file: str, opened: dict[str, Reader]) -> list[Problem]:
        """Create or extend an owned dataset's table; open an external dataset's source and
        check its columns (its reader joins `opened`)."""
        where = Path(file).name
        if not dataset.owned:
            if self.readers.known(dataset) is not None:
                return []
            try:
                reader = self.readers.open(dataset)
            except SourceProblem as problem:
                return [Problem(where, problem.field, f"dataset {dataset.name}: {problem.reason}")]
            shared = shared_schema(dataset, self.readers.owned.engine, reader.engine)
            if shared is not None:
                return [
                    Problem(where, "source.postgres.table", f"dataset {dataset.name}: {shared}")
                ]
            opened[dataset.fingerprint] = reader
            return []
        try:
            self.tables.ensure([dataset])
        except Exception as exc:  # a refused file, never a failed reload
            reason = exc.message if isinstance(exc, TallyError) else type(exc).__name__
            log.exception("the table of dataset %s could not be prepared", dataset.name)
            return [Problem(where, "", f"dataset {dataset.name}: its table failed: {reason}")]
        return []


def _restore(name: str, previous: Catalog, served: dict[str, Dataset], origins: dict[str, str]):
    """Serve `name` as before the reload (or not at all when it is new)."""
    before = previous.get(name)
    if before is None:
        served.pop(name, None)
        origins.pop(name, None)
        return
    served[name] = before
    if name in previous.origins:
        origins[name] = previous.origins[name]
    else:
        origins.pop(name, None)


def _compare(previous: Catalog, served: dict[str, Dataset]) -> ReloadReport:
    report = ReloadReport()
    for name in sorted(set(previous.names()) | set(served)):
        before, after = previous.get(name), served.get(name)
        if before is None:
            report.added.append(name)
        elif after is None:
            report.removed.append(name)
        elif before.fingerprint != after.fingerprint:
            report.changed.append(name)
        else:
            report.unchanged.append(name)
    return report


def _log(report: ReloadReport) -> None:
    for problem in report.problems:
        log.warning(
            "dataset file refused: %s",
            problem.message,
            extra={"fields": {"file": problem.file, "field": problem.pointer or "/"}},
        )
    if report.added or report.changed or report.removed:
        log.info(
            "datasets reloaded",
            extra={
                "fields": {
                    "added": _names(report.added),
                    "changed": _names(report.changed),
                    "removed": _names(report.removed),
                }
            },
        )


def _names(names: Iterable[str]) -> str | None:
    return ",".join(names) or None
