"""`tally datasets`: list the catalog, and write dataset files: `schema` (JSON Schema for
editors), `docs` (the generated parts of docs/datasets.md), `infer` (a draft from where the rows
already live) and `check` (every problem of a directory of files, with file and field)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from tally.catalog import CatalogError
from tally.cli.common import DataDir, app, console, err, fail, fail_all, settings, warn
from tally.config import ConfigError

datasets_app = typer.Typer(
    help="The datasets: list them (no command), and write, infer and check dataset files.",
    invoke_without_command=True,
)
app.add_typer(datasets_app, name="datasets")


@datasets_app.callback()
def datasets(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List the datasets the server would serve: the served profiles' built-in ones
    (TALLY_PROFILES) and the configured directory's."""
    if ctx.invoked_subcommand is not None:
        return
    from tally.wiring import load_catalog

    config = settings(data_dir)
    try:
        catalog = load_catalog(config)
    except CatalogError as exc:
        raise fail_all([str(p) for p in exc.problems]) from None
    except ConfigError as exc:
        raise fail_all(exc.problems) from None
    table = Table("name", "source", "mode", "time column", "tenant columns", "columns")
    for ds in catalog:
        table.add_row(
            ds.name,
            ds.source.kind if ds.source else "owned",
            ds.mode,
            ds.time_column or "",
            ", ".join(ds.tenant_columns),
            str(len(ds.columns)),
        )
    console.print(table)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"wrote {out}", highlight=False)


@datasets_app.command("schema")
def schema(
    out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout")] = None,
) -> None:
    """Print the JSON Schema of a dataset file (docs/dataset.schema.json is this)."""
    from tally.catalog.schema import dataset_schema

    _write(orjson.dumps(dataset_schema(), option=orjson.OPT_INDENT_2).decode() + "\n", out)


@datasets_app.command("docs")
def docs(
    update: Annotated[
        Path | None, typer.Option(help="Rewrite the generated block of this page (datasets.md)")
    ] = None,
) -> None:
    """Print the per-type table of default operators and measures (generated into
    docs/datasets.md, so the page says what the code allows)."""
    from tally.authoring.reference import generated, updated

    if update is None:
        print(generated())
        return
    try:
        _write(updated(update.read_text(encoding="utf-8")), update)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None


@datasets_app.command("infer")
def infer(
    source: Annotated[
        str,
        typer.Argument(
            help="postgresql://..., parquet:/path/glob, csv:/path/glob, duckdb:/path, "
            "clickhouse://... or http(s)://... (ClickHouse), chdb://PATH, or '${VAR}' holding "
            "a database URL (the file names the variable, not its value)"
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="The dataset's name")],
    tenant: Annotated[
        list[str], typer.Option("--tenant", help="Tenant column (repeatable; first is primary)")
    ],
    table: Annotated[
        str | None, typer.Option("--table", help="A database source's table: schema.table or table")
    ] = None,
    time: Annotated[str | None, typer.Option("--time", help="The time column")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to FILE (.toml for TOML, else YAML)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out FILE")] = False,
) -> None:
    """Read a source's schema (read-only) and write a dataset file that serves it in place:
    types mapped, JSON columns recognised, operators and measures left to the defaults."""
    from tally.authoring.described import SourceError
    from tally.authoring.draft import DraftError, draft
    from tally.authoring.emit import to_toml, to_yaml
    from tally.authoring.reading import source_columns
    from tally.authoring.target import TargetError, target

    if out is not None and out.exists() and not force:
        raise fail(f"{out} exists (it may hold your edits); --force replaces it")
    try:
        found = target(source, table, name)
        drafted = draft(name, found, source_columns(found.reading), tenant, time)
    except (TargetError, SourceError, DraftError) as exc:
        raise fail(str(exc)) from None
    for note in drafted.notes:
        warn(note)
    for variable in found.secret_variables:
        warn(
            f"the password is not written into the file, which reads ${{{variable}}}: set "
            f"{variable} (as it appears in the URL, percent-encoded) where Tally runs"
        )
    emit = to_toml if out is not None and out.suffix == ".toml" else to_yaml
    _write(emit(drafted, found.label), out)


@datasets_app.command("check")
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Dataset files or directories (default: the datasets directory)"),
    ] = None,
    connect: Annotated[
        bool, typer.Option("--connect", help="Also read each source: do its columns exist?")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON")] = False,
    data_dir: DataDir = None,
) -> None:
    """Validate dataset files: print every problem with its file and field path, exit 1 if
    there is one. Unset ${VAR}s of a source are problems too."""
    from tally.authoring.connect import missing_columns
    from tally.catalog.problems import inspect, problems_in_directory

    if not paths:
        paths = [settings(data_dir).datasets_dir]
    problems = []
    checked = {}
    for path in paths:
        if path.is_dir():
            found, mine = problems_in_directory(path, os.environ)
        elif path.is_file():
            dataset, mine = inspect(path, os.environ)
            found = {path: dataset} if dataset is not None else {}
        else:
            raise fail(f"{path}: no such file or directory", 2)
        problems += mine
        checked.update(found)
    if connect:
        for file, dataset in checked.items():
            problems += missing_columns(file.name, dataset)
    if as_json:
        print(orjson.dumps([p.as_dict() for p in problems], option=orjson.OPT_INDENT_2).decode())
    for problem in problems if not as_json else ():
        console.print(str(problem), soft_wrap=True, highlight=False, markup=False)
    files = len({p.file for p in problems})
    if problems:
        err.print(f"{len(problems)} problem(s) in {files} file(s)", highlight=False)
        raise typer.Exit(1)
    err.print(f"ok: {len(checked)} dataset file(s)", highlight=False)
