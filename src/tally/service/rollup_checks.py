"""Rollups as an operator sees them: where each stands (`state`), and whether they agree with
the rows (`verify`); for `tally rollups` on a stopped server's data directory and for the admin
routes of a running server alike.

Verify asks each question twice through answering paths of its own, with no cache and no query
log (its questions are not the users'), that share the service's admission: on a running server
its questions wait for a slot as any tenant's would, and a question admission refuses is
reported as not compared. Its questions are asked over every tenant, so verify (and the routes
here) are for an admin of every tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tally.auth.principal import Principal
from tally.rollups.layout import rollup_tables
from tally.rollups.querylog import QueryLog, shape_hash
from tally.rollups.reask import reask
from tally.rollups.statements import count_rows
from tally.rollups.verify import Report, verify
from tally.service.admission import UNSCOPED
from tally.service.answers import Answers
from tally.service.rollup_builds import known_datasets, require_rollups

if TYPE_CHECKING:
    from tally.service import Service

VERIFIER = Principal(subject="tally rollups verify", role="admin", all_tenants=True)
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Questions:
    """What verify asks: `samples` (whole recent questions, `query_log_samples`), `shapes`
    (recent shapes with values drawn from the data), or `none` recorded."""

    source: str
    asked: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Verified:
    questions: Questions
    report: Report

    def as_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "questions": {"source": self.questions.source, "count": len(self.questions.asked)},
            "compared": report.compared,
            "from_rollups": report.from_rollups,
            "served_from": dict(sorted(report.served_from.items())),
            "estimates_checked": report.estimates,
            "differences": [
                {"dataset": d.dataset, "query_hash": d.query_hash,
                 "served_from": d.served_from, "detail": d.detail}
                for d in report.differences
            ],
            "not_compared": [
                {"dataset": dataset, "message": message} for dataset, message in report.unanswered
            ],
        }  # fmt: skip


def questions(service: Service, log: QueryLog, datasets: Sequence[str], limit: int) -> Questions:
    """The recent whole questions when they are kept, else questions of the recent shapes over
    datasets with rollups, with values drawn from the data (reading those values waits for a
    slot like a query)."""
    names = datasets or [d.name for d in service.catalog if d.rollups]
    kept = [(s.dataset, s.query) for n in names for s in log.samples(n, limit)]
    if kept:
        return Questions("samples", kept)
    asked: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        dataset = service.catalog.require(name)
        shapes = {shape_hash(s.shape): s.shape for s in log.shapes(name)}
        for shape in list(shapes.values())[:limit]:
            with service.answers.admission.admit(UNSCOPED, f"rollups verify {name}"):
                body = reask(service.engine, dataset, shape)
            if body is not None:
                asked.append((name, body))
    return Questions("shapes" if asked else "none", asked)


def _answers(service: Service, with_rollups: bool) -> Answers:
    answers = Answers(
        service.settings,
        service.catalogs,
        service.readers,
        None,
        service.versions,
        service.clock,
        service.rollups if with_rollups else None,
    )
    answers.admission = service.answers.admission
    return answers


def verify_rollups(service: Service, datasets: Sequence[str], sample: int) -> Verified:
    """Ask recent questions again with rollups and from the rows; the differences are in the
    report (never an error: a difference is what verify is for)."""
    require_rollups(service.rollups, service.settings.engine)
    known_datasets(service.rollups, service.catalog, datasets)
    settings = service.settings
    log = service.answers.query_log or QueryLog.in_dir(
        settings.data_dir, settings.query_log_shapes, settings.query_log_samples
    )
    log.flush()  # the questions answered a moment ago count as recent
    asked = questions(service, log, datasets, sample)
    fresh, raw = _answers(service, True), _answers(service, False)
    report = verify(
        asked.asked,
        lambda query: fresh.answer(query, VERIFIER),
        lambda query: raw.answer(query, VERIFIER),
        settings.limits,
    )
    return Verified(asked, report)


ESTIMATES = "SELECT table_name, estimated_size FROM duckdb_tables()"


def state(service: Service, building: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Every declared rollup: its declaration, whether it answers (complete), its rows (exact;
    those appended and not yet merged in; DuckDB's estimate, by which the smallest fitting
    rollup is chosen) and its dataset's estimated rows (how many rows a rollup row stands
    for); `building` is the rollup a build is filling now. On another engine than DuckDB
    rollups are declared and never kept: none is complete and none has rows."""
    engine = service.rollups.engine
    estimates: dict[str, int] = {}
    if engine is not None:
        _, found = engine.execute(ESTIMATES, {}, TIMEOUT_S)
        estimates = dict(found)
    listed = []
    for dataset in service.catalog:
        ready = {layout.identity for layout in service.rollups.ready(dataset)}
        for layout in rollup_tables(dataset):
            rollup = layout.rollup
            rows = pending = None
            if engine is not None and layout.name in estimates:
                rows = engine.execute(count_rows(layout.name), {}, TIMEOUT_S)[1][0][0]
            if engine is not None and layout.pending in estimates:
                pending = engine.execute(count_rows(layout.pending), {}, TIMEOUT_S)[1][0][0]
            listed.append({
                "dataset": dataset.name,
                "name": rollup.name,
                "table": layout.name,
                "complete": layout.identity in ready,
                "building": building == (dataset.name, rollup.name),
                "rows": rows,
                "pending_rows": pending,
                "estimated_rows": estimates.get(layout.name),
                "dataset_estimated_rows": estimates.get(dataset.name),
                "grain": rollup.grain,
                "grain_seconds": rollup.grain_seconds,
                "dimensions": list(rollup.dimensions),
                "across_tenants": rollup.across_tenants,
                "measures": [m.model_dump(mode="json", exclude_none=True) for m in rollup.measures],
            })  # fmt: skip
    return listed
