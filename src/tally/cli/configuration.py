"""`tally config show` and `tally config docs`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from tally.cli.common import DataDir, config_app, console, loaded
from tally.config import Settings
from tally.config.reference import effective, markdown


@config_app.command("show")
def show(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
) -> None:
    """The settings in effect and where each came from (default, file, variable or flag);
    secrets are redacted."""
    found = loaded(data_dir)
    rows = effective(found)
    if as_json:
        document = {"config_file": str(found.file) if found.file else None}
        document["settings"] = [asdict(row) for row in rows]
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(f"config file: {found.file or '(none)'}", highlight=False)
    shown = Table("variable", "value", "from")
    for row in rows:
        shown.add_row(row.variable, row.value, row.origin)
    console.print(shown)


@config_app.command("docs")
def docs(
    out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout")] = None,
) -> None:
    """Print the settings reference (docs/configuration.md is this, generated)."""
    text = markdown(Settings)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
