"""`GET /api/v1/dashboard-data?type=...`: decisioning dashboard data for one tenant.

The tenant comes from `X-Tenant-Id` (or is the principal's only tenant); the principal's scope
is applied by the service to every query of the report, so a tenant outside it is a 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api.errors import error_route
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.profiles.dashboard_data.answer import answer
from tally.profiles.dashboard_data.errors import render_error
from tally.profiles.dashboard_data.models import parse_params, tenant_of
from tally.profiles.dashboard_data.translate import to_report

PATH = "/api/v1/dashboard-data"

router = APIRouter(route_class=error_route(render_error))


@router.get(PATH)
async def dashboard_data(request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    report, ask = to_report(parse_params(request.query_params.multi_items()))
    tenant = tenant_of(request.headers, who)
    body = await run_in_threadpool(answer, service, who, tenant, report, ask)
    return json_response(body)
