"""Errors in the trace server's (FastAPI's) shape.

A 422 lists every problem as `{"loc": [...], "msg": "...", "type": "..."}`; any other failure
(401, 403, 413, 503...) is `{"detail": "<message>"}`. This profile's own request problems carry
pydantic's `type` as each detail's kind; a core 400 (unparsable JSON, a query the engine refused)
becomes one 422 problem about the body, because this API has no 400.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from tally.errors import ErrorDetail, TallyError, pointer

INVALID_REQUEST = "invalid_request"


def problem(loc: tuple[str | int, ...], msg: str, kind: str = "value_error") -> ErrorDetail:
    """One problem inside the body, at pydantic's location `loc`."""
    return ErrorDetail(pointer(*loc), msg, kind)


def invalid(problems: list[ErrorDetail]) -> TallyError:
    first = problems[0].reason if problems else "invalid request"
    return TallyError(INVALID_REQUEST, first, 422, problems)


def from_pydantic(exc: ValidationError) -> TallyError:
    return invalid(
        [problem(err["loc"], err["msg"], err["type"]) for err in exc.errors(include_url=False)]
    )


def status_of(error: TallyError) -> int:
    return 422 if error.status == 400 else error.status


def _loc(path: str) -> list[str | int]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    return ["body", *(int(p) if p.isdigit() else p for p in parts)]


def render_error(error: TallyError, trace: str) -> dict[str, Any]:
    if status_of(error) != 422:
        return {"detail": error.message}
    if error.code == INVALID_REQUEST:
        found = [{"loc": _loc(d.path), "msg": d.reason, "type": d.kind} for d in error.details]
        return {"detail": found}
    kind = "json_invalid" if error.code == "invalid_json" else "value_error"
    return {"detail": [{"loc": ["body"], "msg": error.message, "type": kind}]}


class FeedbackProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class FeedbackError(BaseModel):
    """A 422 lists its problems; every other failure is one message."""

    detail: list[FeedbackProblem] | str
