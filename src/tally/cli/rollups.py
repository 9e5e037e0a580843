"""`tally rollups build`: fill declared rollups from the rows already stored."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from tally.cli.common import DataDir, app, console, fail, require_database, service, settings
from tally.rollups.layout import RollupTable

rollups_app = typer.Typer(help="Pre-aggregated tables kept in step with ingestion.")
app.add_typer(rollups_app, name="rollups")


@rollups_app.command("build")
def build(
    dataset: Annotated[
        list[str], typer.Option("--dataset", "-d", help="Dataset (repeatable); default all")
    ] = [],  # noqa: B006
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
