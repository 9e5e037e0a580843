"""TallyError -> `{"error": {"code", "message", "details": ["field: reason"]}}`.

The widget API knows three codes of its own (invalid_request, unauthorized, forbidden); any
other failure (413, 429, 503, 500) keeps Tally's code in the same envelope.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tally.errors import ErrorDetail, TallyError

CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden"}
# Errors about the body as a whole (not JSON, cut short): shown as a problem of `body`.
BODY_CODES = frozenset({"invalid_json", "client_closed"})


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
        details = error.details
        if not details and error.code in BODY_CODES:
            details = [ErrorDetail("", error.message)]
        body["details"] = [describe(d) for d in details]
    return {"error": body}


class AggregateErrorBody(BaseModel):
    code: str = Field(description="invalid_request, unauthorized, forbidden, or Tally's code")
    message: str
    details: list[str] | None = Field(
        default=None, description="one `field: reason` per problem (400 only)"
    )


class AggregateError(BaseModel):
    """Every failure of the widget API."""

    error: AggregateErrorBody
