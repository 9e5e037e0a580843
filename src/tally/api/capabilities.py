"""`GET /v1/capabilities`: what the running engine answers, and what the others would."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from tally.api.errors import error_route, native_error
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.sql.capabilities import all_capabilities, capability_table

router = APIRouter(route_class=error_route(native_error))


@router.get("/v1/capabilities")
async def capabilities(request: Request, who: Principal = Depends(principal)) -> Response:
    """The running engine's table first; every engine's table so a move can be planned."""
    service = request.app.state.service
    return json_response(
        {
            "engine": service.engine.name,
            "dialect": service.dialect.name,
            **capability_table(service.dialect),
            "engines": all_capabilities(),
        }
    )
