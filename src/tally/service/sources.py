"""Which engine reads which dataset: the owned engine for Tally's own tables, and for each
external dataset the engine of its source (shared by every dataset on the same source), its
dialect, and the relation its rows are read from.

Every part of the service that runs SQL asks here first, so one server answers over several
sources at once and each query runs on its dataset's engine, in that engine's dialect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlglot import exp

from tally.catalog import Dataset
from tally.engines.base import Engine
from tally.errors import TallyError
from tally.query.scope import Scope
from tally.sql.compiler import Compiler
from tally.sql.dialect import Dialect


def require_owned(dataset: Dataset) -> None:
    """A 405 for any write (ingestion, compaction) to a dataset read in place: Tally never
    writes to a source it does not own."""
    if dataset.owned:
        return
    kind = dataset.source.kind if dataset.source else ""
    raise TallyError(
        "read_only",
        f"dataset {dataset.name} is read in place from its {kind} source and Tally never "
        f"writes to it: load the rows into the source, then POST "
        f"/v1/datasets/{dataset.name}/refresh",
        405,
        allow="",
    )


log = logging.getLogger(__name__)
SOURCE_RETRY_S = 30


def unreadable(dataset: Dataset, failed: TallyError) -> TallyError:
    """An engine error over an external dataset as a 503 naming the dataset: its source changed
    under the server (a renamed column, a moved folder, a dropped table), which is not Tally's
    bug and may be put right without a restart. The engine's message (SQL, a URL) is never
    shown; an owned dataset's error is returned unchanged."""
    if dataset.owned or failed.code != "engine_error":
        return failed
    kind = dataset.source.kind if dataset.source else ""
    log.warning("source of %s could not be read: %s", dataset.name, failed.message)
    return TallyError(
        "source_unavailable",
        f"the {kind} source of dataset {dataset.name} could not be read: does its table or "
        "are its files still there, with the columns the dataset file names?",
        503,
        retry_after=SOURCE_RETRY_S,
    )


@dataclass(frozen=True)
class Reader:
    """An engine, its dialect, and (for an external dataset) the relation aliased `t` that
    exposes the source's rows under the catalog's physical names (sql/relations.py)."""

    engine: Engine
    dialect: Dialect
    relation: exp.Expression | None = None

    def compiler(self, dataset: Dataset, scope: Scope) -> Compiler:
        return Compiler(self.dialect, dataset, scope, self.relation)


class Readers:
    def __init__(
        self,
        owned: Reader,
        external: Mapping[str, Reader] | None = None,
        engines: Iterable[Engine] = (),
    ) -> None:
        """`engines`: the external sources' engines (each once), closed by `close`."""
        self.owned = owned
        self._external = dict(external or {})
        self._engines = list(engines)

    def of(self, dataset: Dataset) -> Reader:
        if dataset.owned:
            return self.owned
        reader = self._external.get(dataset.name)
        if reader is None:
            raise TallyError(
                "unavailable", f"the source of dataset {dataset.name} is not open", 503
            )
        return reader

    def close(self) -> None:
        """Close the sources' engines (the owned engine is the service's to close)."""
        for engine in self._engines:
            engine.close()
        self._engines.clear()
