"""Rollup builds: which rollups a build fills, the run itself (shared by `tally rollups build`
on a stopped server's data directory and by the running server), and the server's registry of
builds started over HTTP and polled by id.

Why a registry of its own and not the query jobs (jobs.py): a job is a tenant's question with
an answer (a Result), joined by identical questions, shared through Redis and canceled midway;
a build is an operator's write over every tenant, with its progress in tenants, that commits
whole or not at all, in the process that owns the DuckDB file (nothing to share with another).
One worker thread runs the builds one after another (each holds the engine's writer while it
commits anyway); the last `KEPT` are remembered for polling. The thread is a daemon: stopping
the server abandons a running build, whose transaction then never commits (its rollup stays
incomplete and answers nothing, as before the build).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from tally.catalog import Catalog
from tally.errors import ErrorDetail, TallyError, pointer
from tally.rollups.layout import RollupTable
from tally.rollups.store import Rollups

log = logging.getLogger(__name__)
KEPT = 100
ACTIVE = ("pending", "running")


class BuildEvents(Protocol):
    """What a build tells while it runs (a progress bar, or a build's record)."""

    def started(self, dataset: str, layout: RollupTable, tenants: int) -> None: ...

    def advanced(self) -> None: ...

    def finished(self, dataset: str, built: list[RollupTable], seconds: float) -> None: ...


def require_rollups(rollups: Rollups, engine: str) -> None:
    """Rollups are kept on DuckDB only: elsewhere there is nothing to build or verify."""
    if rollups.engine is None:
        raise TallyError(
            "not_supported", f"rollups are kept on the duckdb engine, not {engine}", 400
        )


def known_datasets(rollups: Rollups, catalog: Catalog, names: Sequence[str]) -> None:
    """Every name is a dataset of the catalog that declares rollups, else a 400 pointing at each
    one that is not (`/datasets/i` of the request), and with no name some dataset declares
    rollups: building or verifying rollups where there are none would succeed having done
    nothing (a datasets folder mistyped, say)."""
    if not names and not any(rollups.layouts(dataset) for dataset in catalog):
        reason = "no dataset declares rollups (is the datasets folder the right one?)"
        raise TallyError("no_rollups", reason, 400, [ErrorDetail("/datasets", reason)])
    unknown = [
        ErrorDetail(pointer("datasets", i), f"unknown dataset {name!r}")
        for i, name in enumerate(names)
        if name not in catalog
    ]
    if unknown:
        raise TallyError("unknown_dataset", unknown[0].reason, 400, unknown)
    bare = [
        ErrorDetail(pointer("datasets", i), f"dataset {name!r} declares no rollups")
        for i, name in enumerate(names)
        if not rollups.layouts(catalog.require(name))
    ]
    if bare:
        raise TallyError("no_rollups", bare[0].reason, 400, bare)


def targets(rollups: Rollups, catalog: Catalog, names: Sequence[str]) -> list[tuple[str, bool]]:
    """(dataset, whether only its incomplete rollups are built): every rollup of the named
    datasets (a rebuild replaces a complete one too), else the incomplete rollups of every
    dataset (a complete rollup is kept in step by ingestion: rebuilding it only holds writes
    back)."""
    if names:
        return [(name, False) for name in dict.fromkeys(names)]
    return [(d.name, True) for d in catalog if rollups.incomplete(d)]


def run_build(rollups: Rollups, chosen: list[tuple[str, bool]], events: BuildEvents) -> None:
    for name, incomplete_only in chosen:
        began = time.perf_counter()

        def started(layout: RollupTable, tenants: int, name: str = name) -> None:
            events.started(name, layout, tenants)

        built = rollups.build(name, started, events.advanced, incomplete_only)
        events.finished(name, built, time.perf_counter() - began)


@dataclass(frozen=True)
class Built:
    dataset: str
    rollups: tuple[str, ...]
    seconds: float


@dataclass
class Build:
    """One build started over HTTP: its state as a poll reads it."""

    id: str
    datasets: tuple[str, ...]
    created_at: datetime
    rollups_total: int = 0
    status: str = "pending"
    dataset: str | None = None
    rollup: str | None = None
    rollups_started: int = 0
    tenants_done: int = 0
    tenants_total: int = 0
    built: list[Built] = field(default_factory=list)
    error: TallyError | None = None
    ended_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def started(self, dataset: str, layout: RollupTable, tenants: int) -> None:
        self.dataset, self.rollup = dataset, layout.label
        self.rollups_started += 1
        self.tenants_done, self.tenants_total = 0, tenants

    def advanced(self) -> None:
        self.tenants_done += 1

    def finished(self, dataset: str, built: list[RollupTable], seconds: float) -> None:
        self.built.append(Built(dataset, tuple(layout.label for layout in built), seconds))


class RollupBuilds:
    def __init__(self, rollups: Rollups, engine: str) -> None:
        self.rollups = rollups
        self.engine = engine
        self._builds: dict[str, Build] = {}
        self._waiting: queue.Queue[tuple[Build, list[tuple[str, bool]]]] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def start(self, catalog: Catalog, names: Sequence[str]) -> tuple[Build, bool]:
        """(the build, whether it joined one pending or running for the same datasets). The
        rollups to build are chosen now, from `catalog`: an unknown dataset fails here, and
        with nothing incomplete the build succeeds at once, having built nothing."""
        require_rollups(self.rollups, self.engine)
        known_datasets(self.rollups, catalog, names)
        asked = tuple(dict.fromkeys(names))
        with self._lock:
            for build in self._builds.values():
                if build.active and build.datasets == asked:
                    return build, True
            chosen = targets(self.rollups, catalog, asked)
            total = sum(len(self._layouts(catalog, name, only)) for name, only in chosen)
            build = Build(secrets.token_urlsafe(12), asked, datetime.now(UTC), total)
            self._builds[build.id] = build
            ended = [b.id for b in self._builds.values() if not b.active]
            for build_id in ended[: max(0, len(self._builds) - KEPT)]:
                del self._builds[build_id]
            self._waiting.put((build, chosen))
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="tally-rollup-build", daemon=True
                )
                self._worker.start()
        return build, False

    def _layouts(self, catalog: Catalog, name: str, incomplete_only: bool) -> list[RollupTable]:
        dataset = catalog.require(name)
        if incomplete_only:
            return self.rollups.incomplete(dataset)
        return list(self.rollups.layouts(dataset))

    def view(self, build_id: str) -> Build:
        with self._lock:
            found = self._builds.get(build_id)
        if found is None:
            raise TallyError.at("/id", "there is no such build", code="not_found", status=404)
        return found

    def building(self) -> tuple[str, str] | None:
        """(dataset, rollup) the running build is filling now, if any."""
        with self._lock:
            for build in self._builds.values():
                if build.status == "running" and build.dataset and build.rollup:
                    return build.dataset, build.rollup
        return None

    def _work(self) -> None:
        while True:
            build, chosen = self._waiting.get()
            build.status = "running"
            error: TallyError | None = None
            try:
                run_build(self.rollups, chosen, build)
            except TallyError as failed:
                error = failed
            except Exception:
                log.exception("a rollup build failed")
                error = TallyError("internal_error", "something went wrong on our side", 500)
            # The status last: a poll that reads it ended reads the rest of the end too.
            build.ended_at, build.error = datetime.now(UTC), error
            build.status = "succeeded" if error is None else "failed"
