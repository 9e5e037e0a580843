"""The `tally` command: serve, demo, ingest, query, datasets, keys."""

from __future__ import annotations

import gc
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tally.auth.keys import KeyStore
from tally.auth.principal import ROLES, Principal, parse_scope_args
from tally.catalog import Catalog
from tally.config import Settings
from tally.errors import TallyError
from tally.query.model import Query
from tally.query.parse import parse_model

app = typer.Typer(help="Tally: exact, fast, tenant-scoped aggregate answers for dashboards.")
keys_app = typer.Typer(help="Create, list, rotate and revoke API keys.")
app.add_typer(keys_app, name="keys")
cache_app = typer.Typer(help="The result cache.")
app.add_typer(cache_app, name="cache")
console = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $TALLY_DATA_DIR or ./data)"),
]


def _settings(data_dir: Path | None) -> Settings:
    overrides = {}
    if data_dir is not None:
        overrides = {"data_dir": data_dir, "datasets_dir": data_dir / "datasets"}
    return Settings.from_env(**overrides)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _service(settings: Settings):
    from tally.wiring import build_service

    try:
        return build_service(settings)
    except TallyError as exc:
        raise _fail(exc.message) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request line")] = False,
) -> None:
    """Run the HTTP server (one process: it owns the DuckDB file)."""
    import uvicorn

    from tally.api.app import create_app

    settings = _settings(data_dir)
    app = create_app(settings, _service(settings))
    _freeze_heap()
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)


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
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    data_dir: DataDir = None,
    reset: Annotated[bool, typer.Option(help="Regenerate even if demo data exists")] = False,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server")
    ] = True,
) -> None:
    """Generate the demo datasets, create demo keys, and start the server."""
    from tally.demo.load import load_demo

    settings = _settings(data_dir or Path("data/demo"))
    if reset and settings.database_path.exists():
        settings.database_path.unlink()
    service = _service(settings)
    load_demo(service, settings, rows, console)
    store = KeyStore(settings.keys_path)
    _, admin = store.create("admin", {}, all_tenants=True, name="demo-admin")
    _, viewer = store.create("viewer", {"workspace_id": ("ws_acme",)}, name="demo-viewer-acme")
    store.close()
    token_file = settings.data_dir / "demo-admin.token"
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
        import uvicorn

        from tally.api.app import create_app

        app = create_app(settings, service)
        _freeze_heap()
        uvicorn.run(app, host=host, port=port, log_level="warning")
    else:
        service.engine.close()


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


@app.command()
def ingest(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, CSV or Parquet")
    ],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Target dataset")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, csv or parquet")] = None,
    partial: Annotated[
        bool, typer.Option(help="Store the good rows even if some are rejected")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Bulk-load a file into a dataset (the whole file is one transaction)."""
    from tally.ingest.files import FORMATS, detect_format, read_columnar, read_jsonl
    from tally.service import IngestOutcome

    settings = _settings(data_dir)
    service = _service(settings)
    target = service.catalog.get(dataset)
    if target is None:
        raise _fail(f"unknown dataset {dataset!r}; see `tally datasets`")
    kind = fmt or detect_format(file)
    if kind not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}")
    started = time.perf_counter()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn())
    counters = (TextColumn("{task.completed:,} rows"), TimeElapsedColumn())
    with Progress(*columns, *counters, console=err) as progress:
        task = progress.add_task(f"reading {file.name}", total=None)
        if kind == "jsonl":
            table, rejected = read_jsonl(file, target, lambda n: progress.advance(task, n))
        else:
            table, rejected = read_columnar(file, kind), []
            progress.update(task, completed=table.num_rows)
        progress.update(task, description="validating and storing")
        outcome = IngestOutcome(rejected=rejected)
        if partial or not rejected:
            outcome = service.ingestion.load_table(dataset, table, partial)
            outcome.rejected = rejected + outcome.rejected
    service.engine.close()
    seconds = time.perf_counter() - started
    for problem in outcome.rejected[:20]:
        err.print(f"row {problem.index}: {problem.path or '(row)'}: {problem.reason}")
    if outcome.rejected and not partial:
        raise _fail(f"{len(outcome.rejected)} problem(s); nothing was stored (use --partial)")
    stored = outcome.accepted + outcome.updated
    rate = stored / seconds if seconds else 0
    console.print(
        f"stored {outcome.accepted:,} new, {outcome.updated:,} updated, {outcome.duplicates:,} "
        f"duplicates, {len(outcome.rejected):,} rejected in {seconds:.2f} s ({rate:,.0f} rows/s)"
    )


@app.command()
def compact(
    dataset: Annotated[
        list[str], typer.Option("--dataset", "-d", help="Dataset (repeatable); default all")
    ] = [],  # noqa: B006
    data_dir: DataDir = None,
) -> None:
    """Rewrite datasets in (tenant, time) order, so tenant-scoped queries skip other tenants."""
    service = _service(_settings(data_dir))
    for name in dataset or service.catalog.names():
        started = time.perf_counter()
        rows = service.tables.compact(name)
        console.print(f"compacted {name}: {rows:,} rows in {time.perf_counter() - started:.2f} s")
    service.engine.close()


@app.command()
def query(
    file: Annotated[str, typer.Argument(help="A JSON query file, or - for standard input")],
    url: Annotated[
        str | None, typer.Option(envvar="TALLY_URL", help="Ask a running server")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="TALLY_TOKEN", help="Bearer token for --url")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON answer")] = False,
    data_dir: DataDir = None,
) -> None:
    """Run a native query and print the rows as a table (locally, or against --url)."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _fail(f"the query is not valid JSON: {exc.msg}") from None
    if url:
        answer = _remote_query(url, token, body)
    else:
        answer = _local_query(_settings(data_dir), body)
    if as_json:
        console.print_json(orjson.dumps(answer).decode())
        return
    _print_rows(answer.get("rows", []))
    meta = answer.get("meta", {})
    console.print(f"[dim]{len(answer.get('rows', []))} rows · {meta.get('timing_ms')} ms[/dim]")


def _remote_query(url: str, token: str | None, body: dict) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url.rstrip('/')}/v1/query", json=body, headers=headers, timeout=60)
    answer = response.json()
    if response.status_code != 200:
        raise _fail(orjson.dumps(answer.get("error", answer)).decode())
    return answer


def _local_query(settings: Settings, body: dict) -> dict:
    from tally.api.native import render_result

    service = _service(settings)
    operator = Principal(subject="cli", role="admin", all_tenants=True)
    try:
        result = service.answers.answer(parse_model(Query, body), operator)
    except TallyError as exc:
        details = "; ".join(f"{d.path}: {d.reason}" for d in exc.details)
        raise _fail(f"{exc.message}" + (f" ({details})" if details else "")) from None
    finally:
        service.engine.close()
    return orjson.loads(orjson.dumps(render_result(result), option=orjson.OPT_UTC_Z))


def _print_rows(rows: list[dict]) -> None:
    table = Table(show_lines=False)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    console.print(table)


@app.command()
def openapi(
    out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout")] = None,
) -> None:
    """Print the OpenAPI document the server serves at /openapi.json."""
    import tempfile

    from tally.api.app import create_app

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.from_env(data_dir=Path(scratch), datasets_dir=Path(scratch) / "none")
        document = create_app(settings).openapi()
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


@app.command()
def datasets(data_dir: DataDir = None) -> None:
    """List the datasets of the catalog."""
    settings = _settings(data_dir)
    table = Table("name", "mode", "time column", "tenant columns", "columns")
    for ds in Catalog.load(settings.datasets_dir):
        table.add_row(
            ds.name,
            ds.mode,
            ds.time_column or "",
            ", ".join(ds.tenant_columns),
            str(len(ds.columns)),
        )
    console.print(table)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")] = "viewer",
    scope: Annotated[
        list[str], typer.Option(help="COLUMN=VALUE (repeatable), or * for all tenants")
    ] = [],  # noqa: B006
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
    team: Annotated[list[str], typer.Option(help="A team of the key's subject (repeatable)")] = [],  # noqa: B006
    expires_days: Annotated[int | None, typer.Option(help="Expire after N days")] = None,
    subject: Annotated[str | None, typer.Option(help="The subject (user) the key acts as")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key and print its token once (only a hash is stored)."""
    try:
        scopes, everything = parse_scope_args(scope)
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        store = KeyStore(_settings(data_dir).keys_path)
        key_id, token = store.create(role, scopes, everything, name, tuple(team), expires, subject)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    err.print(f"created key {key_id} (role {role}); the token is shown once:")
    console.print(token, highlight=False)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List keys (never their tokens)."""
    table = Table("id", "name", "role", "scope", "created", "expires", "revoked", "last used")
    for key in KeyStore(_settings(data_dir).keys_path).list():
        scope = (
            "*"
            if key.all_tenants
            else ", ".join(f"{k}={'|'.join(v)}" for k, v in key.scopes.items())
        )
        table.add_row(
            key.id, key.name, key.role, scope, key.created_at, key.expires_at or "",
            key.revoked_at or "", key.last_used_at or "",
        )  # fmt: skip
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a key; it stops working on the next request."""
    if not KeyStore(_settings(data_dir).keys_path).revoke(key_id):
        raise _fail(f"no active key {key_id!r}")
    console.print(f"revoked {key_id}")


@keys_app.command("rotate")
def keys_rotate(
    key_id: str,
    grace_minutes: Annotated[
        int, typer.Option(min=0, help="Keep the old key working this many minutes")
    ] = 0,
    expires_days: Annotated[
        int | None, typer.Option(help="Expire after N days (default: the old key's lifetime)")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Replace a key by a new one with the same role, scope, teams and subject."""
    grace = timedelta(minutes=grace_minutes) if grace_minutes else None
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    try:
        new_id, token = KeyStore(_settings(data_dir).keys_path).rotate(key_id, grace, expires)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    until = f"in {grace_minutes} minutes" if grace else "now"
    err.print(f"created key {new_id}; {key_id} is revoked {until}; the token is shown once:")
    console.print(token, highlight=False)


@cache_app.command("clear")
def cache_clear(
    url: Annotated[
        str | None, typer.Option(envvar="TALLY_URL", help="Also clear a running server")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="TALLY_TOKEN", help="Admin token for --url")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Drop cached answers: the shared Redis cache, and a running server's memory with --url."""
    settings = _settings(data_dir)
    if settings.redis_url:
        from tally.cache.stores import RedisStore

        console.print(
            f"cleared {RedisStore(settings.redis_url, settings.redis_prefix).clear()} Redis entries"
        )
    if url:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(f"{url.rstrip('/')}/v1/cache/clear", headers=headers, timeout=30)
        if response.status_code != 200:
            raise _fail(response.text)
        console.print(f"cleared {response.json()['cleared']} entries on {url}")
    if not settings.redis_url and not url:
        raise _fail("nothing to clear: set TALLY_REDIS_URL, or pass --url of a running server")


if __name__ == "__main__":
    app()
