"""`POST /feedback/aggregate`: the trace server's scorer feedback aggregates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from tally.api.body import read_json
from tally.api.errors import error_route
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.errors import TallyError
from tally.profiles.feedback_aggregate.answer import aggregate
from tally.profiles.feedback_aggregate.errors import (
    from_pydantic,
    invalid,
    render_error,
    unprocessable,
)
from tally.profiles.feedback_aggregate.models import FeedbackAggregateReq, cross_check, problem

router = APIRouter(route_class=error_route(render_error))


def parse(body: Any) -> FeedbackAggregateReq:
    """The request, or a 422 listing every problem of the body."""
    if not isinstance(body, dict):
        raise invalid([problem((), "the body must be a JSON object", "model_attributes_type")])
    try:
        req = FeedbackAggregateReq.model_validate(body)
    except ValidationError as exc:
        raise from_pydantic(exc) from None
    problems = cross_check(req)
    if problems:
        raise invalid(problems)
    return req


@router.post("/feedback/aggregate")
async def feedback_aggregate(request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    try:
        body = await read_json(request, service.settings.max_body_bytes)
        req = parse(body)
        answer = await run_in_threadpool(aggregate, service, who, req)
    except TallyError as error:
        raise unprocessable(error) from None
    return json_response(answer)
