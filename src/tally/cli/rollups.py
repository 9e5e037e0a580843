"""`tally rollups build`, `suggest` and `verify`: fill declared rollups from the rows already
stored, propose declarations from the questions answered, check rollups against the rows."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tally.auth.principal import Principal
from tally.catalog import Catalog, CatalogError
from tally.cli.common import (
    DataDir,
    app,
    console,
    err,
    fail,
    fail_all,
    require_database,
    service,
    settings,
)
from tally.config import Settings
from tally.rollups.layout import RollupTable
from tally.rollups.querylog import QueryLog, shape_hash
from tally.rollups.reask import reask
from tally.rollups.suggest import Suggestions, describe, suggest
from tally.rollups.verify import verify
from tally.service import Answers, Service

rollups_app = typer.Typer(help="Pre-aggregated tables kept in step with ingestion.")
app.add_typer(rollups_app, name="rollups")
Datasets = Annotated[
    list[str], typer.Option("--dataset", "-d", help="Dataset (repeatable); default all")
]
VERIFIER = Principal(subject="tally rollups verify", role="admin", all_tenants=True)


@rollups_app.command("build")
def build(
    dataset: Datasets = [],  # noqa: B006
    data_dir: DataDir = None,
) -> None:
    """(Re)build rollups from the stored rows, tenant by tenant; each rollup answers queries
    again once its build commits (until then, and if it fails, the rows answer)."""
    config = settings(data_dir)
    require_database(config)
    svc = service(config)
    try:
        names = dataset or [d.name for d in svc.catalog if d.rollups]
        unknown = [n for n in names if svc.catalog.get(n) is None]
        if unknown:
            raise fail(f"unknown dataset {unknown[0]!r}")
        if svc.rollups.engine is None:
            raise fail(f"rollups are kept on the duckdb engine, not {config.engine}")
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tenants"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            for name in names:
                started = time.perf_counter()
                task = progress.add_task(name, total=None)

                def begin(layout: RollupTable, tenants: int, task: TaskID = task) -> None:
                    progress.reset(task, total=tenants, description=layout.name)

                built = svc.rollups.build(name, begin, lambda task=task: progress.advance(task))
                progress.console.print(
                    f"built {len(built)} rollup(s) of {name} "
                    f"in {time.perf_counter() - started:.2f} s"
                )
    finally:
        svc.engine.close()


def _query_log(config: Settings) -> QueryLog:
    return QueryLog.in_dir(config.data_dir, config.query_log_shapes, config.query_log_samples)


@rollups_app.command("suggest")
def suggest_rollups(
    dataset: Datasets = [],  # noqa: B006
    top: Annotated[int, typer.Option("--top", min=1, help="Proposals per dataset")] = 3,
    dimensions: Annotated[
        int, typer.Option("--max-dimensions", min=1, help="Dimensions per proposal at most")
    ] = 4,
    data_dir: DataDir = None,
) -> None:
    """Propose rollup declarations (YAML for the dataset file) from the shapes of the questions
    answered from the rows, heaviest first, with the share of that time each would take over."""
    config = settings(data_dir)
    try:
        catalog = Catalog.load(config.datasets_dir)
    except CatalogError as exc:
        raise fail_all([str(p) for p in exc.problems]) from None
    names = dataset or [d.name for d in catalog if d.owned]
    log = _query_log(config)
    printed = False
    for name in names:
        found = catalog.get(name)
        if found is None:
            raise fail(f"unknown dataset {name!r}")
        shapes = log.shapes(name, served_from="raw")
        if shapes:
            _print_suggestions(suggest(found, shapes, top, dimensions))
            printed = True
    if not printed:
        console.print(
            "# no questions answered from the rows are recorded yet "
            f"(query log: {log.path}; query_log_shapes={config.query_log_shapes})"
        )


def _print_suggestions(found: Suggestions) -> None:
    console.print(
        f"# dataset {found.dataset}: {found.total_ms:.0f} ms answered from the rows",
        soft_wrap=True,
    )
    for proposal in found.proposals:
        console.print(
            f"# {proposal.rollup.name}: {proposal.share:.0%} of that time, "
            f"{proposal.answers} answers",
            soft_wrap=True,
        )
    if found.proposals:
        declared = [p.rollup.model_dump(mode="json", exclude_none=True) for p in found.proposals]
        text = yaml.safe_dump({"rollups": declared}, sort_keys=False, default_flow_style=None)
        console.print(text, highlight=False, markup=False, soft_wrap=True, end="")
    for shape, reason in found.skipped:
        console.print(
            f"# skipped ({shape.execute_ms:.0f} ms, {shape.answers} answers) "
            f"{describe(shape)}: {reason}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@rollups_app.command("verify")
def verify_rollups(
    dataset: Datasets = [],  # noqa: B006
    sample: Annotated[int, typer.Option("--sample", min=1, help="Recent questions asked")] = 100,
    data_dir: DataDir = None,
) -> None:
    """Ask the recent questions kept by the query log (`query_log_samples`) again, with rollups
    and from the rows, over every tenant; exit 1 on any difference."""
    config = settings(data_dir)
    require_database(config)
    log = _query_log(config)
    svc = service(config)
    try:
        unknown = [n for n in dataset if svc.catalog.get(n) is None]
        if unknown:
            raise fail(f"unknown dataset {unknown[0]!r}")
        if svc.rollups.engine is None:
            raise fail(f"rollups are kept on the duckdb engine, not {config.engine}")
        questions = _questions(svc, log, dataset, sample)
        if not questions:
            raise fail(
                "no questions are recorded to verify: let the server answer some over "
                "datasets with rollups (query_log_shapes, query_log_samples)"
            )
        raw = Answers(config, svc.catalog, svc.readers, None, svc.versions, svc.clock, rollups=None)
        fresh = Answers(
            config, svc.catalog, svc.readers, None, svc.versions, svc.clock, svc.rollups
        )
        report = verify(
            questions,
            lambda query: fresh.answer(query, VERIFIER),
            lambda query: raw.answer(query, VERIFIER),
        )
    finally:
        svc.close()
    for name, message in report.unanswered:
        console.print(f"not compared ({name}): {message}", highlight=False, markup=False)
    for difference in report.differences:
        console.print(
            f"DIFFERENT {difference.dataset} query {difference.query_hash} "
            f"(served from {difference.served_from}): {difference.detail}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    served = ", ".join(f"{k}: {v}" for k, v in sorted(report.served_from.items()))
    console.print(
        f"compared {report.compared} questions, {report.from_rollups} served from rollups "
        f"({served}); {len(report.differences)} difference(s)",
        highlight=False,
        soft_wrap=True,
    )
    if report.differences:
        raise typer.Exit(1)


def _questions(
    svc: Service, log: QueryLog, datasets: list[str], limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """The recent whole questions when they are kept, else questions of the recent shapes
    over datasets with rollups, with values drawn from the data."""
    names = datasets or [d.name for d in svc.catalog if d.rollups]
    kept = [(s.dataset, s.query) for n in names for s in log.samples(n, limit)]
    if kept:
        err.print(f"asking {len(kept)} recent questions again (query_log_samples)")
        return kept
    asked: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        dataset = svc.catalog.require(name)
        shapes = {shape_hash(s.shape): s.shape for s in log.shapes(name)}
        for shape in list(shapes.values())[:limit]:
            body = reask(svc.engine, dataset, shape)
            if body is not None:
                asked.append((name, body))
    err.print(f"asking {len(asked)} recorded shapes with values drawn from the data")
    return asked
