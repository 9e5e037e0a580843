"""The `tally` command: serve, demo, ingest, query, datasets, compact, rollups, keys, cache, config.

Every command reads its settings the same way (`common.py`) and prints the data directory it
acts on first; one module per group of commands registers them on the shared app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tally.cli import (  # noqa: F401  (commands)
    configuration,
    data,
    datasets,
    ingesting,
    keys,
    rollups,
    serving,
)
from tally.cli.common import Options, app


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Settings file (else $TALLY_CONFIG, else ./tally.toml)"),
    ] = None,
) -> None:
    """Tally: exact, fast, tenant-scoped aggregate answers for dashboards."""
    Options.config = config


__all__ = ["app"]
