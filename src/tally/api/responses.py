"""JSON responses through orjson (aware datetimes as ISO 8601, UTC as `Z`), and the cache facts
of an answer and where it was served from as HTTP headers, for clients whose bodies must stay
exactly as their API says."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import Response

from tally.result import Result

OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def render_result(result: Result) -> dict[str, Any]:
    """The native API's body of an answer."""
    return {"rows": result.rows, "meta": result.meta}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=OPTIONS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def answer_headers(results: Sequence[Result]) -> dict[str, str]:
    """`X-Cache: hit` when every answer behind a response came from the cache (else `miss`),
    and `Age`: the seconds since the oldest of them was computed (RFC 9111). `X-Tally-Cache`
    repeats X-Cache under the name earlier clients read. `X-Tally-Served-From`: where each
    answer came from (`meta.served_from`: a rollup's name or `raw`), in the order asked, each
    once; an external profile's body has no place for it."""
    facts = [r.meta.get("cache") or {} for r in results]
    hit = bool(facts) and all(f.get("hit") for f in facts)
    now = datetime.now(UTC)
    ages = [(now - f["generated_at"]).total_seconds() for f in facts if f.get("generated_at")]
    state = "hit" if hit else "miss"
    headers = {"X-Cache": state, "X-Tally-Cache": state, "Age": str(int(max(ages, default=0)))}
    sources = dict.fromkeys(str(r.meta["served_from"]) for r in results if "served_from" in r.meta)
    if sources:
        headers["X-Tally-Served-From"] = ", ".join(sources)
    return headers
