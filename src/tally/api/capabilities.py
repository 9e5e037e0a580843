"""`GET /v1/capabilities`: what the running engine answers, and what the others would."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from tally.api import models
from tally.api.errors import NATIVE, shaped_route
from tally.api.openapi import Contract
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.profiles.contract import READ_ERRORS
from tally.sql.capabilities import all_capabilities, capability_table

router = APIRouter(route_class=shaped_route(NATIVE), tags=["native"])


@router.get("/v1/capabilities", summary="What each engine can answer")
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


CONTRACTS = [
    Contract(
        "GET",
        "/v1/capabilities",
        models.Capabilities,
        models.NativeError,
        READ_ERRORS,
    )
]
