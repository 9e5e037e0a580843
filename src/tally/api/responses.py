"""JSON responses through orjson: aware datetimes as ISO 8601, UTC as `Z`."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, option=OPTIONS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
