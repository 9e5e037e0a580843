"""Every failure of this profile as `{statusCode, message}`, a 400 with its list of details.

Each detail is one sentence that names the field or the place it is about, so the strings are
the whole story (the API has no separate path field).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tally.errors import TallyError

INVALID = "Invalid query"


def too_many_points(max_points: int) -> TallyError:
    return TallyError.invalid(
        [],
        f"The query returns more than {max_points} data points: use a coarser interval or "
        "fewer groupBy fields",
    )


def metrics_error(error: TallyError, trace: str) -> dict[str, Any]:
    if error.status == 400:
        details = [d.reason for d in error.details] or [error.message]
        return {"statusCode": 400, "message": INVALID, "details": details}
    return {"statusCode": error.status, "message": error.message}


class MetricsError(BaseModel):
    """Every failure of the metrics API: a 400 lists its problems, one sentence each."""

    statusCode: int
    message: str
    details: list[str] | None = None
