"""TallyError -> `{"error": {"code", "message", "status"}}` with the API's upper-case codes.

The API names three codes (BAD_REQUEST, UNAUTHORIZED, FORBIDDEN): the names of their HTTP
statuses. Any other failure (413, 429, 503, 500) keeps the same envelope and is named the same
way (TOO_MANY_REQUESTS, SERVICE_UNAVAILABLE...).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field

from tally.errors import TallyError


def bad_request(message: str) -> TallyError:
    return TallyError("bad_request", message, 400)


def render_error(error: TallyError, trace: str) -> dict[str, Any]:
    code = HTTPStatus(error.status).name
    return {"error": {"code": code, "message": error.message, "status": error.status}}


class DashboardDataErrorBody(BaseModel):
    code: str = Field(description="the HTTP status's name: BAD_REQUEST, UNAUTHORIZED, ...")
    message: str
    status: int


class DashboardDataError(BaseModel):
    """Every failure of the dashboard-data API."""

    error: DashboardDataErrorBody
