"""Errors in the trace server's (FastAPI's) shape.

A 422 lists every problem as `{"loc": [...], "msg": "...", "type": "..."}`; any other failure
(401, 403, 413, 503...) is `{"detail": "<message>"}`. Request problems are raised as `Invalid`,
which keeps pydantic's own `type` for each one; a core 400 (unparsable JSON) becomes a 422 too,
because this API has no 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tally.errors import TallyError
from tally.profiles.feedback_aggregate.models import problem


@dataclass
class Invalid(TallyError):
    """A 422 carrying its `detail` entries ready to render."""

    problems: list[dict[str, Any]] = field(default_factory=list)


def invalid(problems: list[dict[str, Any]]) -> Invalid:
    first = problems[0]["msg"] if problems else "invalid request"
    return Invalid("invalid_request", first, 422, problems=problems)


def from_pydantic(exc: ValidationError) -> Invalid:
    return invalid(
        [problem(err["loc"], err["msg"], err["type"]) for err in exc.errors(include_url=False)]
    )


def unprocessable(error: TallyError) -> TallyError:
    """A 400 of the core (bad JSON, a query the engine refused) as this API's 422."""
    if error.status != 400:
        return error
    kind = "json_invalid" if error.code == "invalid_json" else "value_error"
    return invalid([problem((), error.message, kind)])


def render_error(error: TallyError, trace: str) -> dict[str, Any]:
    if isinstance(error, Invalid):
        return {"detail": error.problems}
    return {"detail": error.message}
