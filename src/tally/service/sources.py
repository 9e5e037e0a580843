"""Which engine reads which dataset: the owned engine for Tally's own tables, and for each
external dataset the engine of its source (shared by every dataset on the same source), its
dialect, and the relation its rows are read from.

Every part of the service that runs SQL asks here first, so one server answers over several
sources at once and each query runs on its dataset's engine, in that engine's dialect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlglot import exp

from tally.catalog import Dataset
from tally.engines.base import Engine
from tally.errors import TallyError
from tally.query.scope import Scope
from tally.sql.compiler import Compiler
from tally.sql.dialect import Dialect

log = logging.getLogger(__name__)
SOURCE_RETRY_S = 30


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


class SourceProblem(Exception):
    """Why an external dataset's source cannot be read: the field of its file to blame (as a
    reader writes it, `columns[2].from`) and the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class Opener(Protocol):
    """Opens the sources of external datasets (external.py), sharing an engine between the
    datasets of one source."""

    def open(self, dataset: Dataset) -> Reader:
        """The dataset's reader, its columns checked; raises SourceProblem."""
        ...

    def close_unused(self, used: Collection[Engine]) -> None:
        """Close every engine it opened that is not in `used`."""
        ...

    def close(self) -> None: ...


class Readers:
    """The owned reader, and a reader per external dataset by the fingerprint of its
    definition (a request that pinned an earlier catalog never reads through a reader made for
    a later definition)."""

    def __init__(
        self,
        owned: Reader,
        external: Mapping[str, Reader] | None = None,
        opener: Opener | None = None,
    ) -> None:
        """`external`: readers by dataset fingerprint; `opener`: what opened them, asked again
        by a reload and closing their engines in `close`."""
        self.owned = owned
        self._external = dict(external or {})
        self._opener = opener
        self._lock = threading.Lock()

    def of(self, dataset: Dataset) -> Reader:
        if dataset.owned:
            return self.owned
        reader = self._external.get(dataset.fingerprint)
        if reader is None:
            raise TallyError(
                "unavailable", f"the source of dataset {dataset.name} is not open", 503
            )
        return reader

    def known(self, dataset: Dataset) -> Reader | None:
        """The reader of this very definition, if one is open."""
        return self._external.get(dataset.fingerprint)

    def open(self, dataset: Dataset) -> Reader:
        """A new reader for an external dataset added or changed by a reload."""
        if self._opener is None:
            raise SourceProblem("source", "this service opens no external sources")
        return self._opener.open(dataset)

    def add(self, readers: Mapping[str, Reader]) -> None:
        """Serve `readers` too (before the catalog that needs them is swapped in)."""
        with self._lock:
            self._external = self._external | dict(readers)

    def keep_only(self, fingerprints: Collection[str]) -> None:
        """Forget the readers of other definitions (after the catalog is swapped) and close the
        engines no reader still uses (engines are shared by the datasets of one source)."""
        with self._lock:
            self._external = {k: v for k, v in self._external.items() if k in fingerprints}
            if self._opener is not None:
                self._opener.close_unused({r.engine for r in self._external.values()})

    def close(self) -> None:
        """Close the sources' engines (the owned engine is the service's to close)."""
        if self._opener is not None:
            self._opener.close()
