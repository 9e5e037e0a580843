"""`tally ingest`: files, folders and globs into a dataset, directly into the data directory's
database (each file one transaction) or through a running server with `--url` (batches, each
retried until answered, stored once whatever the retries)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tally.cli import sources
from tally.cli.common import DataDir, app, console, err, fail, service, settings
from tally.cli.remote import Refused, Sender
from tally.ingest.files import FORMATS


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} rows/s", style="progress.data.speed")


def _progress() -> Progress:
    """Percentage, rows, rows/s and ETA: the total is known before the first row is sent."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.completed:,}/{task.total:,} rows"), RateColumn(), TimeRemainingColumn(),
        console=err,
    )  # fmt: skip


@dataclass
class Tally:
    """What a load stored, over all files and batches."""

    accepted: int = 0
    updated: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, accepted: int, updated: int, duplicates: int) -> None:
        self.accepted += accepted
        self.updated += updated
        self.duplicates += duplicates


@app.command()
def ingest(
    files: Annotated[
        list[str], typer.Argument(help="JSONL, CSV or Parquet files, folders or globs")
    ],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Target dataset")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, csv or parquet")] = None,
    partial: Annotated[
        bool, typer.Option(help="Store the good rows even if some are rejected")
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(envvar="TALLY_URL", help="Load through a running server (no need to stop it)"),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="TALLY_TOKEN", help="Editor or admin token for --url")
    ] = None,
    batch_rows: Annotated[int, typer.Option(min=1, help="Rows per batch with --url")] = 5_000,
    retry_for: Annotated[
        float, typer.Option(min=0, help="Seconds to keep retrying one batch with --url")
    ] = 120.0,
    data_dir: DataDir = None,
) -> None:
    """Bulk-load files into a dataset. Locally each file is one transaction (stop the server:
    it owns the DuckDB file); with --url the rows go in batches to a running server, retried
    until answered. Sending rows again never stores them twice (keys: the dataset's tenant and
    key columns)."""
    if fmt is not None and fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}", 2)
    try:
        paths = sources.expand(files)
        plan = [(path, sources.kind_of(path, fmt)) for path in paths]
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    total = sum(sources.count_rows(path, kind) for path, kind in plan)
    started = time.perf_counter()
    outcome = Tally()
    with _progress() as progress:
        task = progress.add_task("loading", total=total)
        if url:
            sender = Sender(url, dataset, token, partial, retry_for)
            _remote(plan, outcome, progress, task, sender, batch_rows)
        else:
            _local(plan, dataset, partial, data_dir, outcome, progress, task)
    seconds = time.perf_counter() - started
    _show(outcome.problems)
    stored = outcome.accepted + outcome.updated
    console.print(
        f"stored {outcome.accepted:,} new, {outcome.updated:,} updated, {outcome.duplicates:,} "
        f"duplicates, {len(outcome.problems):,} rejected in {seconds:.2f} s "
        f"({stored / seconds if seconds else 0:,.0f} rows/s)"
    )


def _local(plan, dataset, partial, data_dir, outcome: Tally, progress, task) -> None:
    from tally.ingest.files import read_columnar, read_jsonl
    from tally.service import IngestOutcome

    config = settings(data_dir)
    svc = service(config)
    target = svc.catalog.get(dataset)
    if target is None:
        svc.close()
        raise fail(f"unknown dataset {dataset!r}; see `tally datasets`")
    refused: list[str] = []
    try:
        for path, kind in plan:
            progress.update(task, description=f"reading {path.name}")
            if kind == "jsonl":
                table, rejected = read_jsonl(path, target, lambda n: progress.advance(task, n))
            else:
                table, rejected = read_columnar(path, kind), []
                progress.advance(task, table.num_rows)
            progress.update(task, description=f"storing {path.name}")
            result = IngestOutcome(rejected=rejected)
            if partial or not rejected:
                result = svc.ingestion.load_table(dataset, table, partial)
                result.rejected = rejected + result.rejected
            outcome.add(result.accepted, result.updated, result.duplicates)
            outcome.problems += [
                _rejection(path, 0, {"index": r.index, "path": r.path, "reason": r.reason})
                for r in result.rejected
            ]
            if result.rejected and not partial:
                refused.append(f"{len(result.rejected)} problem(s) in {path.name}")
    finally:
        svc.close()
    if refused:
        _show(outcome.problems)
        raise fail(f"{'; '.join(refused)}: nothing was stored from it (use --partial)")


def _remote(plan, outcome: Tally, progress, task, sender: Sender, batch_rows: int) -> None:
    for path, kind in plan:
        progress.update(task, description=f"sending {path.name}")
        first = 0
        for body, rows in sources.ndjson_batches(path, kind, batch_rows):
            where = f"{path.name}, rows {first}-{first + rows - 1}"
            try:
                answer = sender.send(body)
            except (Refused, TimeoutError) as exc:
                refused = exc.body.get("rejected") if isinstance(exc, Refused) else None
                _show([_rejection(path, first, r) for r in refused or []])
                retry = "earlier batches are stored; sending again is safe"
                raise fail(f"{where}: {exc}; {retry}") from None
            outcome.add(answer["accepted"], answer.get("updated") or 0, answer["duplicates"])
            outcome.problems += [_rejection(path, first, r) for r in answer.get("rejected", [])]
            first += rows
            progress.advance(task, rows)
    if sender.retries:
        err.print(f"{sender.retries} batch sends were retried", highlight=False)


def _rejection(path: Path, first: int, rejected: dict) -> str:
    where = rejected.get("path") or "(row)"
    return f"{path.name}: row {first + rejected['index']}: {where}: {rejected['reason']}"


def _show(problems: list[str]) -> None:
    for problem in problems[:20]:
        err.print(problem, soft_wrap=True, highlight=False, markup=False)
