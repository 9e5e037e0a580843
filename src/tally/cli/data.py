"""Commands over the data: query, compact, openapi, cache clear."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer

from tally.auth.principal import Principal
from tally.cli import output
from tally.cli.common import (
    DataDir,
    app,
    cache_app,
    console,
    fail,
    require_database,
    service,
    settings,
)
from tally.config import Settings
from tally.errors import TallyError
from tally.query.model import Query
from tally.query.parse import parse_model

Url = Annotated[str | None, typer.Option(envvar="TALLY_URL", help="Ask a running server")]
Token = Annotated[str | None, typer.Option(envvar="TALLY_TOKEN", help="Bearer token for --url")]


@app.command()
def compact(
    dataset: Annotated[
        list[str], typer.Option("--dataset", "-d", help="Dataset (repeatable); default all")
    ] = [],  # noqa: B006
    data_dir: DataDir = None,
) -> None:
    """Rewrite datasets in (tenant, time) order, so tenant-scoped queries skip other tenants.
    With no --dataset, the owned ones: a dataset read in place is never written."""
    config = settings(data_dir)
    require_database(config)
    svc = service(config)
    try:
        names = dataset or [d.name for d in svc.catalog if d.owned]
        for name in names:
            started = time.perf_counter()
            rows = svc.tables.compact(name)
            seconds = time.perf_counter() - started
            console.print(f"compacted {name}: {rows:,} rows in {seconds:.2f} s")
    finally:
        svc.close()
    skipped = [d.name for d in svc.catalog if not d.owned] if not dataset else []
    if skipped:
        console.print(f"skipped {', '.join(skipped)}: read in place from their sources")


@app.command()
def query(
    file: Annotated[str, typer.Argument(help="A JSON query file, or - for standard input")],
    url: Url = None,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON answer")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the rows as CSV")] = False,
    data_dir: DataDir = None,
) -> None:
    """Run a native query and print the rows as a table (locally, or against --url)."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise fail(f"the query is not valid JSON: {exc.msg}") from None
    answer = _remote_query(url, token, body) if url else _local_query(settings(data_dir), body)
    rows = answer.get("rows", [])
    if as_json:
        print(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    elif as_csv:
        print(output.as_csv(rows), end="")
    else:
        console.print(output.table(rows))
        meta = answer.get("meta", {})
        console.print(
            f"[dim]{len(rows):,} rows · {output.answer_facts(meta)}[/dim]", highlight=False
        )


def _remote_query(url: str, token: str | None, body: dict) -> dict:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{url.rstrip('/')}/v1/query", json=body, headers=headers, timeout=60)
    answer = response.json()
    if response.status_code != 200:
        raise fail(orjson.dumps(answer.get("error", answer)).decode())
    return answer


def _local_query(config: Settings, body: dict) -> dict:
    from tally.api.native import render_result

    require_database(config)
    svc = service(config)
    operator = Principal(subject="cli", role="admin", all_tenants=True)
    try:
        result = svc.answers.answer(parse_model(Query, body), operator)
    except TallyError as exc:
        details = "; ".join(f"{d.path}: {d.reason}" for d in exc.details)
        raise fail(f"{exc.message}" + (f" ({details})" if details else "")) from None
    finally:
        svc.close()
    return orjson.loads(orjson.dumps(render_result(result), option=orjson.OPT_UTC_Z))


@app.command()
def openapi(
    out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout")] = None,
) -> None:
    """Print the OpenAPI document the server serves at /openapi.json."""
    import tempfile

    from tally.api.app import create_app

    with tempfile.TemporaryDirectory() as scratch:
        config = Settings.from_env(data_dir=Path(scratch), datasets_dir=Path(scratch) / "none")
        document = create_app(config).openapi()
    text = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


@cache_app.command("clear")
def cache_clear(url: Url = None, token: Token = None, data_dir: DataDir = None) -> None:
    """Drop cached answers: the shared Redis cache, and a running server's memory with --url."""
    config = settings(data_dir)
    if config.redis_url:
        from tally.cache.stores import RedisStore

        cleared = RedisStore(config.redis_url, config.redis_prefix).clear()
        console.print(f"cleared {cleared} Redis entries")
    if url:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(f"{url.rstrip('/')}/v1/cache/clear", headers=headers, timeout=30)
        if response.status_code != 200:
            raise fail(response.text)
        console.print(f"cleared {response.json()['cleared']} entries on {url}")
    if not config.redis_url and not url:
        raise fail("nothing to clear: set TALLY_REDIS_URL, or pass --url of a running server")
