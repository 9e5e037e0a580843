"""This profile's error envelope, and the collector of every problem of a request.

The records API names the offending element the way its users write it
(`aggregations[1].field`, `whereClause._and[0].status._eq`): problems carry JSON pointers like
every error in Tally, and are shown in that bracket style when rendered.
"""

from __future__ import annotations

from http import HTTPStatus

from pydantic import BaseModel, Field

from tally.errors import ErrorDetail, TallyError, pointer

BAD_REQUEST = "bad_request"
SCHEMA = "schema_validation"
CODES = {"invalid_json": "INVALID_JSON", SCHEMA: "SCHEMA_VALIDATION_ERROR"}
STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUESTS",
    503: "SERVICE_UNAVAILABLE",
}
MESSAGES = {
    "BAD_REQUEST": "Invalid root, field, or aggregation.",
    "SCHEMA_VALIDATION_ERROR": "The request body does not match the expected schema.",
    "INVALID_JSON": "The request body is not valid JSON.",
    "UNAUTHORIZED": "Authentication required.",
    "FORBIDDEN": "Access to this workspace or root is not allowed.",
}


def bracket(*parts: str | int) -> str:
    """`("aggregations", 1, "field")` -> `aggregations[1].field`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def _from_pointer(path: str) -> str:
    if not path:
        return "body"
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    return bracket(*(int(p) if p.isdigit() else p for p in parts))


class Problems:
    """Every problem of a request, so one answer lists them all."""

    def __init__(self) -> None:
        self.details: list[ErrorDetail] = []

    def add(self, issue: str, *path: str | int) -> None:
        self.details.append(ErrorDetail(pointer(*path), issue))

    def error(self, code: str = BAD_REQUEST) -> TallyError:
        reason = self.details[0].reason if self.details else "invalid request"
        return TallyError(code, reason, 400, list(self.details))

    def raise_if_any(self, code: str = BAD_REQUEST) -> None:
        if self.details:
            raise self.error(code)


def error_code(error: TallyError) -> str:
    if error.status == 400:
        return CODES.get(error.code, "BAD_REQUEST")
    return STATUS_CODES.get(error.status, "INTERNAL_ERROR")


def render_error(error: TallyError, trace: str) -> dict:
    """`{code, status, title, message, details: {path, issue}, meta: {trace_id}}`."""
    code = error_code(error)
    try:
        title = HTTPStatus(error.status).phrase
    except ValueError:
        title = "Error"
    body: dict = {
        "code": code,
        "status": error.status,
        "title": title,
        "message": MESSAGES.get(code, error.message),
    }
    issues = [{"path": _from_pointer(d.path), "issue": d.reason} for d in error.details]
    if issues:
        body["details"] = {**issues[0], **({"errors": issues} if len(issues) > 1 else {})}
    elif error.status < 500:
        body["details"] = {"issue": error.message}
    body["meta"] = {"trace_id": trace}
    return body


class Issue(BaseModel):
    path: str | None = Field(default=None, description="the element, as `aggregations[1].field`")
    issue: str
    errors: list[dict[str, str]] | None = Field(
        default=None, description="every problem as {path, issue} when there are several"
    )


class TraceMeta(BaseModel):
    trace_id: str


class StatisticsError(BaseModel):
    """Every failure of the records API."""

    code: str = Field(description="BAD_REQUEST, SCHEMA_VALIDATION_ERROR, INVALID_JSON, ...")
    status: int
    title: str
    message: str
    details: Issue | None = None
    meta: TraceMeta
