"""`POST /v1/records/statistics`: read, authenticate, translate, run through the service."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api.body import read_json
from tally.api.errors import error_route
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.errors import ErrorDetail, TallyError
from tally.profiles.records_statistics.currency import currency_meta
from tally.profiles.records_statistics.errors import render_error
from tally.profiles.records_statistics.models import parse_request
from tally.profiles.records_statistics.render import render
from tally.profiles.records_statistics.translate import Plan, translate
from tally.service import Service

router = APIRouter(route_class=error_route(render_error))


def answer(service: Service, plan: Plan, who: Principal) -> dict:
    """Both queries through the service (scope, cache); a refused workspace names workspaceId."""
    try:
        result = service.run(plan.query, who)
        if plan.currency_query is None:
            return render(result)
        probe = service.run(plan.currency_query, who)
    except TallyError as error:
        if error.status == 403 and plan.query.scope is not None and not error.details:
            detail = ErrorDetail("workspaceId", error.message)
            raise TallyError(error.code, error.message, 403, [detail]) from None
        raise
    currency, warnings = currency_meta(probe.rows[0], plan.money, result.groups)
    return render(result, currency, warnings)


@router.post("/v1/records/statistics")
async def statistics(request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    body = await read_json(request, service.settings.max_body_bytes)
    plan = translate(parse_request(body), service.catalog, service.settings.limits)
    return json_response(await run_in_threadpool(answer, service, plan, who))
