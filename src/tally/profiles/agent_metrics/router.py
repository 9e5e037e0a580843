"""`POST /api/svc/v1/llm-gateway/metrics/query`.

The tenant is the principal's: every tenant its token may read (one, for a tenant's key), or the
ones named in an optional `X-Tenant-Id` header (comma-separated), which narrows and never widens
(a tenant outside the token is a 403). Row-level access (own subject and teams below admin)
comes from the catalog's `row_access`, applied by the service's scope like every tenant rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api.body import read_json
from tally.api.errors import error_route
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.errors import ErrorDetail, TallyError
from tally.profiles.agent_metrics.errors import metrics_error, too_many_points
from tally.profiles.agent_metrics.fields import DATASOURCES
from tally.profiles.agent_metrics.models import parse_request
from tally.profiles.agent_metrics.render import render
from tally.profiles.agent_metrics.translate import translate

PATH = "/api/svc/v1/llm-gateway/metrics/query"
TENANT_HEADER = "x-tenant-id"
MAX_POINTS = 10_000

router = APIRouter(route_class=error_route(metrics_error))


def requested_tenants(request: Request) -> list[str] | None:
    names = [t.strip() for t in request.headers.get(TENANT_HEADER, "").split(",")]
    return [t for t in names if t] or None


@router.post(PATH)
async def metrics_query(request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    body = parse_request(await read_json(request, service.settings.max_body_bytes))
    source = DATASOURCES.get(body.datasource)
    if source is None:
        reason = f'Unknown datasource "{body.datasource}" (known: {", ".join(DATASOURCES)})'
        raise TallyError.invalid([ErrorDetail("/datasource", reason)])
    max_points = min(MAX_POINTS, service.settings.limits.max_rows)
    plan = translate(
        body, source, service.dataset(source.dataset), requested_tenants(request), max_points
    )
    result = await run_in_threadpool(service.run, plan.query, who)
    if result.meta.get("total_rows", 0) > plan.max_points:
        raise too_many_points(plan.max_points)
    cache = result.meta.get("cache", {})
    headers = {"X-Tally-Cache": "hit" if cache.get("hit") else "miss"}
    return json_response(render(plan, result), headers=headers)
