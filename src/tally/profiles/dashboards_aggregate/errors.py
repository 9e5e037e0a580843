"""TallyError -> `{"error": {"code", "message", "details": ["field: reason"]}}`.

The widget API knows three codes of its own (invalid_request, unauthorized, forbidden); any
other failure (413, 429, 503, 500) keeps Tally's code in the same envelope.
"""

from __future__ import annotations

from tally.errors import ErrorDetail, TallyError

CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden"}


def field_name(path: str) -> str:
    """`/event_types/3` -> `event_types[3]`; the empty pointer is the body itself."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() and name else (f".{part}" if name else part)
    return name or "body"


def describe(detail: ErrorDetail) -> str:
    return f"{field_name(detail.path)}: {detail.reason}"


def render_error(error: TallyError, trace: str) -> dict:
    body: dict = {"code": CODES.get(error.status, error.code), "message": error.message}
    if error.status == 400:
        body["details"] = [describe(d) for d in error.details]
    return {"error": body}
