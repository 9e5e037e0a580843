"""`POST /api/workspace/{workspaceId}/dashboards/aggregate`, answered through the service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api.body import read_json
from tally.api.errors import error_route
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.errors import ErrorDetail, TallyError
from tally.profiles.dashboards_aggregate.errors import render_error
from tally.profiles.dashboards_aggregate.models import BRAND_QUERY, parse_request
from tally.profiles.dashboards_aggregate.render import render
from tally.profiles.dashboards_aggregate.translate import to_query

router = APIRouter(route_class=error_route(render_error))


async def _body(request: Request, limit: int) -> Any:
    """The JSON body; unreadable JSON is a 400 about the body like any other field problem."""
    try:
        return await read_json(request, limit)
    except TallyError as error:
        if error.status != 400:
            raise
        raise TallyError.invalid([ErrorDetail("", error.message)], error.message) from None


@router.post("/api/workspace/{workspaceId}/dashboards/aggregate")
async def aggregate(request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    target, parsed = parse_request(
        request.path_params["workspaceId"],
        request.headers,
        request.query_params.getlist(BRAND_QUERY),
        await _body(request, service.settings.max_body_bytes),
    )
    query = to_query(parsed, target, service.clock())
    result = await run_in_threadpool(service.run, query, who)
    return json_response(render(result, parsed))
