"""What every command shares: the apps, the consoles, the one way settings are read (and the data
directory announced), and the one way a command fails."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from tally.catalog import CatalogError
from tally.config import ConfigError, Loaded, Settings, load
from tally.errors import TallyError


class _Tally(typer.Typer):
    """The app, whose commands fail the one way (`fail`) on a TallyError they did not catch
    themselves: one `error:` line and exit 1, never a traceback (a dataset read in place that a
    command would write, an unknown dataset, an engine that refused)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except TallyError as exc:
            err.print(Text.assemble(("error: ", "red"), exc.message), soft_wrap=True)
            raise SystemExit(1) from None


app = _Tally(help="Tally: exact, fast, tenant-scoped aggregate answers for dashboards.")
keys_app = typer.Typer(help="Create, list, rotate and revoke API keys.")
cache_app = typer.Typer(help="The result cache.")
config_app = typer.Typer(help="The settings: what is in effect, and their reference.")
app.add_typer(keys_app, name="keys")
app.add_typer(cache_app, name="cache")
app.add_typer(config_app, name="config")
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (else $TALLY_DATA_DIR, else data_dir in tally.toml, else ./data)",
    ),
]


class Options:
    """The global options (`tally --config FILE ...`), set by the app's callback."""

    config: Path | None = None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line (never wrapped, never read as markup) and exit with `code`."""
    err.print(Text.assemble(("error: ", "red"), message), soft_wrap=True)
    return typer.Exit(code)


def fail_all(messages: list[str], code: int = 2) -> typer.Exit:
    """`fail` for several problems: one error line each."""
    for message in messages:
        err.print(Text.assemble(("error: ", "red"), message), soft_wrap=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    err.print(Text.assemble(("warning: ", "yellow"), message), soft_wrap=True)


def loaded(data_dir: Path | None = None, **flags: tuple[Any, str]) -> Loaded:
    """The settings from the file, the environment and the command's flags ({field: (value,
    flag)}); a bad value exits with status 2 and one line per problem."""
    overrides = {k: v for k, v in flags.items() if v[0] is not None}
    if data_dir is not None:
        overrides["data_dir"] = (data_dir, "--data-dir")
    try:
        found = load(Settings, Options.config, os.environ, overrides)
    except ConfigError as exc:
        raise fail_all(exc.problems) from None
    for warning in found.warnings:
        warn(warning)
    return found


def settings(data_dir: Path | None = None, **flags: tuple[Any, str]) -> Settings:
    """`loaded(...)`'s settings, the data directory printed first (where it is and why)."""
    found = loaded(data_dir, **flags)
    chosen = found.settings.data_dir
    origin = found.origins["data_dir"]
    err.print(f"data directory: {chosen.resolve()} ({origin})", soft_wrap=True, highlight=False)
    return found.settings


def require_database(settings: Settings) -> None:
    """Commands that read data refuse a data directory without a database, instead of creating
    an empty one and answering "0 rows"."""
    if settings.engine == "duckdb" and not settings.database_path.exists():
        raise fail(
            f"no database at {settings.database_path}; load data with `tally ingest` or "
            "`tally demo`, or point --data-dir (or TALLY_DATA_DIR) at the right directory"
        )


def service(settings: Settings, busy: str = ""):
    """The service over the settings' data; `busy` is added to the error when the engine
    cannot be opened (another process holds the DuckDB file)."""
    from tally.wiring import build_service

    try:
        return build_service(settings)
    except CatalogError as exc:
        raise fail_all([str(p) for p in exc.problems]) from None
    except ConfigError as exc:
        raise fail("; ".join(exc.problems), 2) from None
    except TallyError as exc:
        raise fail(exc.message + (busy if exc.code == "unavailable" else "")) from None
