"""Request bodies: size-capped, parsed with orjson; NDJSON kept as bytes for ingestion."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.requests import ClientDisconnect

from tally.errors import TallyError
from tally.ingest.ndjson import NdjsonBody

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def too_large(limit: int) -> TallyError:
    return TallyError("too_large", f"the request body is larger than {limit} bytes", 413)


async def read_bytes(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise TallyError(
            "client_closed", "the client went away before sending the body", 400
        ) from None
    return b"".join(chunks)


def require_json(request: Request, also: tuple[str, ...] = ()) -> None:
    """A body sent as something other than JSON (or `also`) is a 415 naming what is accepted;
    a body with no Content-Type is read as JSON (what most command-line clients send)."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.split(";")[0].strip().lower()
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
    if content_type.split(";")[0].strip().lower() in NDJSON_TYPES:
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
