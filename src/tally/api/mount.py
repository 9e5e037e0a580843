"""One generic mount: every profile declaration becomes a route that reads, parses, answers,
renders and responds the same way, and documents exactly what it reads and returns."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request, Response

from tally.api.body import read_json, require_json
from tally.api.errors import ErrorShape, shaped_route
from tally.api.observe import record_answer
from tally.api.openapi import Contract
from tally.api.responses import answer_headers, json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.errors import TallyError
from tally.profiles.contract import Call, Incoming, Profile
from tally.service import Service


async def respond(profile: Profile, request: Request, who: Principal) -> Response:
    service: Service = request.app.state.service
    body = None
    if profile.request_model is not None:
        require_json(request)
        body = await read_json(request, service.settings.question_body_bytes)
    incoming = Incoming(
        body, request.path_params, request.headers, request.query_params.multi_items()
    )
    call = Call(who, service.clock(), service.settings.limits, service.catalog)
    asked = profile.parse(incoming, call)
    answers = service.answers
    try:
        if profile.asks_in_steps():
            runner = answers.runner(who)
            answer: Any = await anyio.to_thread.run_sync(profile.answer, asked, call, runner)
            results = runner.given
        else:
            results = [await answers.answer_async(q, who) for q in profile.to_queries(asked, call)]
            answer = profile.render(results, asked, call)
    except TallyError as error:
        raise profile.refine_error(error, asked) from None
    record_answer(request, results)
    return json_response(answer, headers=answer_headers(results))


def mount(app: FastAPI, profile: Profile) -> Contract:
    """Add the profile's route to `app`; its contract is what the OpenAPI document shows."""

    async def endpoint(request: Request, who: Principal = Depends(principal)) -> Response:
        return await respond(profile, request, who)

    app.router.add_api_route(
        profile.path,
        endpoint,
        methods=[profile.method],
        name=profile.name,
        summary=profile.summary,
        description=profile.description,
        tags=["profiles"],
        route_class_override=shaped_route(ErrorShape(profile.render_error, profile.status_of)),
    )
    return Contract.of(profile)
