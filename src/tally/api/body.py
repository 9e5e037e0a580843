"""Request bodies: size-capped as they stream in, parsed with orjson; NDJSON kept as bytes for
ingestion, and an ingestion body above `SPOOL_ABOVE` spooled to a file as it arrives, so a 64 MB
body is never held whole in memory nor parsed on the event loop."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson
from fastapi import Request
from starlette.requests import ClientDisconnect

from tally.errors import TallyError
from tally.ingest.batch import Body
from tally.ingest.ndjson import NdjsonBody
from tally.ingest.spooled import SpooledRows

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
SPOOL_ABOVE = 1 << 20  # parsed in memory up to 1 MiB (a few ms of orjson); beyond, from a file
STALE_SPOOL_S = 3600
_swept: set[Path] = set()


def too_large(limit: int) -> TallyError:
    return TallyError("too_large", f"the request body is larger than {limit} bytes", 413)


async def _chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives; a 413 as soon as it is declared or grows larger than `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            yield chunk
    except ClientDisconnect:
        raise TallyError(
            "client_closed", "the client went away before sending the body", 400
        ) from None


async def read_bytes(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in _chunks(request, limit)])


@asynccontextmanager
async def ingest_body(request: Request, limit: int, spool_dir: Path) -> AsyncIterator[Body]:
    """The rows of an ingestion body: parsed here if small, else spooled to a file of
    `spool_dir` (removed on exit) for a worker thread to read. The file is made, written
    (`SPOOL_ABOVE` at a time), closed and removed in a worker thread: a write to the page cache
    can sleep for a while when writeback throttles, and the loop must not sleep with it."""
    content_type = request.headers.get("content-type", "application/json")
    held: list[bytes] = []
    size = 0
    spool: Any = None
    try:
        async for chunk in _chunks(request, limit):
            held.append(chunk)
            size += len(chunk)
            if size > SPOOL_ABOVE:
                if spool is None:
                    spool = await asyncio.to_thread(_spool_file, spool_dir)
                await asyncio.to_thread(spool.writelines, held)
                held, size = [], 0
        if spool is None:
            yield parse_rows(b"".join(held), content_type)
            return
        await asyncio.to_thread(_finish, spool, held)
        ndjson = _media(content_type) in NDJSON_TYPES
        yield SpooledRows(Path(spool.name), ndjson, partial(parse_rows, content_type=content_type))
    finally:
        if spool is not None:
            await asyncio.to_thread(_discard, spool)


def _finish(spool: IO[bytes], rest: list[bytes]) -> None:
    spool.writelines(rest)
    spool.close()


def _discard(spool: IO[bytes]) -> None:
    spool.close()
    with suppress(FileNotFoundError):
        Path(spool.name).unlink()


def _spool_file(spool_dir: Path) -> IO[bytes]:
    """A new spool file; the first of this process in `spool_dir` also removes the files a killed
    process left there (old enough that no live request still writes or reads them)."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    if spool_dir not in _swept:
        _swept.add(spool_dir)
        cutoff = time.time() - STALE_SPOOL_S
        for left in spool_dir.glob("body-*"):
            with suppress(FileNotFoundError):
                if left.stat().st_mtime < cutoff:
                    left.unlink()
    return tempfile.NamedTemporaryFile(dir=spool_dir, prefix="body-", delete=False)


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def require_json(request: Request, also: tuple[str, ...] = ()) -> None:
    """A body sent as something other than JSON (or `also`) is a 415 naming what is accepted;
    a body with no Content-Type is read as JSON (what most command-line clients send)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = _media(declared)
    if media == "application/json" or media.endswith("+json") or media in also:
        return
    accepted = " or ".join(("application/json", *also))
    raise TallyError(
        "unsupported_media_type",
        f"the body is sent as {media or 'nothing'}; send it as {accepted}",
        415,
    )


def parse_json(data: bytes) -> Any:
    if not data.strip():
        raise TallyError("invalid_json", "the request body is empty", 400)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TallyError("invalid_json", f"the body is not valid JSON: {exc.msg}", 400) from None


async def read_json(request: Request, limit: int) -> Any:
    return parse_json(await read_bytes(request, limit))


def _several_documents(data: bytes) -> bool:
    """Whether the first two non-blank lines are each a JSON document of their own."""
    lines = [line for line in data.split(b"\n", 2)[:2] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        for line in lines:
            orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def parse_rows(data: bytes, content_type: str) -> list[Any] | NdjsonBody:
    """A JSON array, or NDJSON (one object per line, blank lines ignored)."""
    if _media(content_type) in NDJSON_TYPES:
        return NdjsonBody(data)
    try:
        body = parse_json(data)
    except TallyError as error:
        if _several_documents(data):
            raise TallyError(
                "invalid_json",
                "the body holds several JSON documents, one per line: that is NDJSON; send it "
                "with Content-Type: application/x-ndjson",
                400,
            ) from None
        raise error from None
    if not isinstance(body, list):
        raise TallyError("invalid_json", "the body must be a JSON array of rows (or NDJSON)", 400)
    return body
