"""`tally rollups build`, `suggest` and `verify`: fill declared rollups from the rows already
stored, propose declarations from the questions answered, check rollups against the rows.

Build and verify open the data directory of a stopped server, or with `--url` ask a running
one (`/v1/rollups/...`, api/rollups.py) and print the same lines with the same exit codes."""

from __future__ import annotations

import time
from dataclasses import dataclass
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
from tally.cli.remote import call
from tally.config import Settings
from tally.rollups.layout import RollupTable
from tally.rollups.querylog import QueryLog
from tally.rollups.suggest import Suggestions, describe, suggest
from tally.service import Service, rollup_checks
from tally.service.rollup_builds import known_datasets, require_rollups, run_build, targets

rollups_app = typer.Typer(help="Pre-aggregated tables kept in step with ingestion.")
app.add_typer(rollups_app, name="rollups")
Datasets = Annotated[
    list[str], typer.Option("--dataset", "-d", help="Dataset (repeatable); default all")
]
Url = Annotated[
    str | None,
    typer.Option(envvar="TALLY_URL", help="Through a running server (its base URL)"),
]
Token = Annotated[
    str | None, typer.Option(envvar="TALLY_TOKEN", help="Admin token (of every tenant) for --url")
]
POLL_S = 0.5
VERIFY_TIMEOUT_S = 1800.0


def _open(config: Settings, command: str) -> Service:
    """The service over the data directory; when a running server holds the DuckDB file, say
    how to do the same through it."""
    require_database(config)
    busy = (
        f"; if a running server holds it, {command} through it: tally rollups {command} "
        "--url http://HOST:PORT (an admin token in --token or TALLY_TOKEN)"
    )
    return service(config, busy if config.engine == "duckdb" else "")


def _columns() -> tuple[Any, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tenants"),
        TimeElapsedColumn(),
    )


def _print_built(progress: Progress, dataset: str, rollups: int, seconds: float) -> None:
    progress.console.print(f"built {rollups} rollup(s) of {dataset} in {seconds:.2f} s")


@dataclass
class _Bars:
    """A build's events as progress bars: one per rollup, in tenants."""

    progress: Progress
    task: TaskID | None = None

    def started(self, dataset: str, layout: RollupTable, tenants: int) -> None:
        self.task = self.progress.add_task(f"{dataset} {layout.label}", total=tenants)

    def advanced(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)

    def finished(self, dataset: str, built: list[RollupTable], seconds: float) -> None:
        _print_built(self.progress, dataset, len(built), seconds)


@rollups_app.command("build")
def build(
    dataset: Datasets = [],  # noqa: B006
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
) -> None:
    """Build the incomplete rollups (with --dataset: rebuild every rollup of those datasets)
    from the stored rows, tenant by tenant; each rollup answers queries once its build commits
    (until then, and if it fails, the rows answer). With --url, in the running server, which
    keeps serving meanwhile."""
    if url:
        _build_remote(url, token, dataset)
        return
    svc = _open(settings(data_dir), "build")
    try:
        require_rollups(svc.rollups, svc.settings.engine)
        known_datasets(svc.rollups, svc.catalog, dataset)
        chosen = targets(svc.rollups, svc.catalog, dataset)
        if not chosen:
            console.print(NOTHING_TO_BUILD)
            return
        with Progress(*_columns(), console=console) as progress:
            run_build(svc.rollups, chosen, _Bars(progress))
    finally:
        svc.close()


NOTHING_TO_BUILD = "nothing to build: every rollup is complete (--dataset D rebuilds D's)"


def _build_remote(url: str, token: str | None, datasets: list[str]) -> None:
    """Start the build in the server and follow it, a poll every POLL_S."""
    started = call(url, token, "POST", "/v1/rollups/build", {"datasets": datasets})
    if not datasets and not started["progress"]["rollups_total"]:
        console.print(NOTHING_TO_BUILD)
        return
    location = f"/v1/rollups/builds/{started['id']}"
    shown: dict[tuple[str, int], TaskID] = {}
    printed = 0
    with Progress(*_columns(), console=console) as progress:
        while True:
            found = call(url, token, "GET", location)
            now = found["progress"]
            if now["rollup"] is not None:
                key = (now["dataset"], now["rollups_started"])
                if key not in shown:
                    description = f"{now['dataset']} {now['rollup']}"
                    shown[key] = progress.add_task(description, total=now["tenants_total"])
                progress.update(shown[key], completed=now["tenants_done"])
            for done in found["built"][printed:]:
                _print_built(progress, done["dataset"], len(done["rollups"]), done["seconds"])
            printed = len(found["built"])
            if found["status"] == "failed":
                raise fail(found["error"]["message"])
            if found["status"] == "succeeded":
                return
            time.sleep(POLL_S)


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
    if not config.data_dir.is_dir():  # its query log would be "empty", not missing
        raise fail(f"no data directory at {config.data_dir}: point --data-dir at the right one")
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
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
) -> None:
    """Ask the recent questions kept by the query log (`query_log_samples`) again, with rollups
    and from the rows, over every tenant; exit 1 on any difference (an estimate beyond twice its
    stated bound is one) or when none could be compared. With --url, in the running server (its
    questions wait for a slot like any other)."""
    if url:
        body = {"datasets": dataset, "sample": sample}
        report = call(url, token, "POST", "/v1/rollups/verify", body, VERIFY_TIMEOUT_S)
    else:
        svc = _open(settings(data_dir), "verify")
        try:
            report = rollup_checks.verify_rollups(svc, dataset, sample).as_dict()
        finally:
            svc.close()
    _print_report(report)
    if report["differences"]:
        raise typer.Exit(1)
    if not report["compared"]:
        raise fail("no question could be compared (see above): nothing was verified")


ASKING = {
    "samples": "asking {} recent questions again (query_log_samples)",
    "shapes": "asking {} recorded shapes with values drawn from the data",
}


def _print_report(report: dict[str, Any]) -> None:
    asked = report["questions"]
    if asked["source"] == "none":
        raise fail(
            "no questions are recorded to verify: let the server answer some over "
            "datasets with rollups (query_log_shapes, query_log_samples)"
        )
    err.print(ASKING[asked["source"]].format(asked["count"]))
    for missed in report["not_compared"]:
        reason = f"not compared ({missed['dataset']}): {missed['message']}"
        console.print(reason, highlight=False, markup=False)
    for difference in report["differences"]:
        console.print(
            f"DIFFERENT {difference['dataset']} query {difference['query_hash']} "
            f"(served from {difference['served_from']}): {difference['detail']}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    served = ", ".join(f"{k}: {v}" for k, v in sorted(report["served_from"].items()))
    console.print(
        f"compared {report['compared']} questions, {report['from_rollups']} served from rollups "
        f"({served}), {report.get('estimates_checked', 0)} sketch estimate(s) checked against "
        f"their bounds; {len(report['differences'])} difference(s)",
        highlight=False,
        soft_wrap=True,
    )
