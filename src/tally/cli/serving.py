"""`tally serve` and `tally demo`: the server, on the data directory every command uses."""

from __future__ import annotations

import gc
from typing import Annotated

import orjson
import typer

from tally.auth.keys import KeyStore
from tally.cli.common import DataDir, app, console, err, fail, service, settings
from tally.cli.workers import WORKER_APP, close, pass_settings, passed_settings, refusal
from tally.config import Settings
from tally.logs import FORMATS, configure

Host = Annotated[str, typer.Option(help="Interface to listen on")]
Port = Annotated[int, typer.Option(help="Port")]
LogLevel = Annotated[
    str | None, typer.Option(help="debug, info, warning or error (else log_level)")
]
LogFormat = Annotated[str | None, typer.Option(help=f"{' or '.join(FORMATS)} (else log_format)")]
Workers = Annotated[
    int,
    typer.Option(
        min=1,
        help="Server processes; more than one needs PostgreSQL or a ClickHouse server, and Redis",
    ),
]
AccessLog = Annotated[
    bool | None, typer.Option(help="One log line per request (else access_log, on)")
]


def _app(config: Settings, svc=None):
    """Logging set up from the settings, the application built, startup's heap frozen."""
    from tally.api.app import create_app

    configure(config.log_level, config.log_format)
    application = create_app(config, svc)
    _freeze_heap()
    return application


def _run(config: Settings, svc, host: str, port: int) -> None:
    """One process: uvicorn serves the application built here, its logs through our handler."""
    import uvicorn

    uvicorn.run(
        _app(config, svc), host=host, port=port, log_config=None, access_log=False,
        log_level=config.log_level,
    )  # fmt: skip


def _run_workers(config: Settings, host: str, port: int, workers: int) -> None:
    """`workers` processes on one socket, each building its own service from the settings
    passed to it (`worker_app`); the tables are created here first, once."""
    import uvicorn

    close(service(config))
    pass_settings(config, workers)
    configure(config.log_level, config.log_format)
    uvicorn.run(
        WORKER_APP, factory=True, workers=workers, host=host, port=port, log_config=None,
        access_log=False, log_level=config.log_level,
    )  # fmt: skip


def worker_app():
    """The application of one worker of `tally serve --workers N` (uvicorn calls it)."""
    return _app(passed_settings())


def _flags(log_level: str | None, log_format: str | None, access_log: bool | None) -> dict:
    return {
        "log_level": (log_level, "--log-level"),
        "log_format": (log_format, "--log-format"),
        "access_log": (access_log, "--access-log"),
    }


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
    access_log: AccessLog = None,
    workers: Workers = 1,
) -> None:
    """Run the HTTP server: one process by default (it owns the DuckDB file), or `--workers N`
    on PostgreSQL or a ClickHouse server with Redis (docs/scaling.md). Settings: `tally config
    show`; every variable is in docs/configuration.md."""
    config = settings(data_dir, **_flags(log_level, log_format, access_log))
    refused = refusal(config, workers)
    if refused:
        raise fail(refused, 2)
    if config.engine == "duckdb" and not config.database_path.exists():
        err.print(f"creating a new, empty database at {config.database_path}", highlight=False)
    if workers > 1:
        _run_workers(config, host, port, workers)
    else:
        _run(config, service(config), host, port)


def _freeze_heap() -> None:
    """Keep what startup built (modules, catalog, engine) out of every later full collection.

    Those objects live as long as the process; left in the collected generations, each full
    collection walks them all, a 40-80 ms pause of the event loop that concurrent requests (an
    asyncio read in flight holds its request's objects alive) trigger every second or so.
    """
    gc.collect()
    gc.freeze()


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Total rows across all built-in datasets")] = 1_000_000,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = None,
    reset: Annotated[bool, typer.Option(help="Regenerate even if demo data exists")] = False,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server")
    ] = True,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
) -> None:
    """Generate the demo datasets into the data directory, create demo keys, and serve them.

    The demo uses the same data directory as every other command, so `tally keys create`,
    `tally query` and `tally ingest` act on the demo's data."""
    from tally.demo.load import load_demo

    config = settings(data_dir, **_flags(log_level, log_format, None))
    if reset and config.database_path.exists():
        config.database_path.unlink()
    svc = service(config)
    load_demo(svc, config, rows, console)
    store = KeyStore(config.keys_path)
    _, admin = store.create("admin", {}, all_tenants=True, name="demo-admin")
    _, viewer = store.create("viewer", {"workspace_id": ("ws_acme",)}, name="demo-viewer-acme")
    store.close()
    token_file = config.data_dir / "demo-admin.token"
    token_file.write_text(admin + "\n")
    token_file.chmod(0o600)
    base = f"http://{host}:{port}"
    console.print(f"\n[bold]Demo admin key[/bold] (every tenant, also in {token_file}):")
    console.print(admin, soft_wrap=True, highlight=False)
    console.print("[bold]Demo viewer key[/bold] (workspace ws_acme):")
    console.print(viewer, soft_wrap=True, highlight=False)
    console.print(f"[bold]Explorer:[/bold] {base}/ (paste the admin key)")
    console.print()
    for command in _demo_curls(base, admin):
        console.print(command, soft_wrap=True, highlight=False, markup=False)
    console.print()
    if serve_after:
        _run(config, svc, host, port)
    else:
        svc.close()


def _demo_curls(base: str, token: str) -> list[str]:
    auth = f"-H 'Authorization: Bearer {token}'"
    post = f"{auth} -H 'Content-Type: application/json' -d"
    q1 = {
        "dataset": "agent_events",
        "time": {"last": "30d"},
        "measures": [{"op": "count"}, {"op": "count_distinct", "field": "session_id"}],
        "group_by": ["event_type"],
        "limit": 5,
    }
    q2 = {
        "dataset": "agent_events",
        "time": {"last": "7d"},
        "timezone": "Europe/Paris",
        "scope": {"workspace_id": "ws_acme"},
        "filter": {"field": "event_type", "op": "eq", "value": "purchase"},
        "measures": [
            {"op": "sum", "field": "amount", "as": "revenue"},
            {"op": "p95", "field": "duration_ms"},
        ],
        "group_by": [{"time": "1 day"}],
        "fill": "zero",
        "compare": "previous_period",
    }
    return [
        f"curl -s {base}/v1/datasets {auth}",
        f"curl -s {base}/v1/query {post} '{orjson.dumps(q1).decode()}'",
        f"curl -s {base}/v1/query {post} '{orjson.dumps(q2).decode()}'",
    ]
