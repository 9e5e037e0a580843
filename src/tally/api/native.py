"""The native API of specs/native-api.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api.body import parse_rows, read_bytes, read_json
from tally.api.errors import error_route, native_error, trace_id
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.errors import ErrorDetail, TallyError, pointer
from tally.result import Result

router = APIRouter(route_class=error_route(native_error))


def render_result(result: Result) -> dict[str, Any]:
    return {"rows": result.rows, "meta": result.meta}


@router.post("/v1/query")
async def query(request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    body = await read_json(request, service.settings.max_body_bytes)
    parsed = service.prepare(body)
    planned, result = await service.lookup(parsed, who)
    if result is None:
        result = await run_in_threadpool(service.answer, *planned)
    return json_response(render_result(result))


@router.post("/v1/query/sql")
async def query_sql(request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    body = await read_json(request, service.settings.max_body_bytes)
    parsed = service.prepare(body)
    return json_response(await run_in_threadpool(service.explain, parsed, who))


@router.get("/v1/datasets")
async def datasets(request: Request, who: Principal = Depends(principal)) -> Response:
    catalog = request.app.state.service.catalog
    return json_response({"datasets": [d.describe() for d in catalog]})


@router.get("/v1/datasets/{name}")
async def dataset(name: str, request: Request, who: Principal = Depends(principal)) -> Response:
    return json_response(request.app.state.service.dataset(name).describe())


@router.post("/v1/datasets/{name}/rows")
async def ingest(name: str, request: Request, who: Principal = Depends(principal)) -> Response:
    service = request.app.state.service
    who.require("editor")
    dataset = service.dataset(name)
    data = await read_bytes(request, service.settings.max_body_bytes)
    rows = parse_rows(data, request.headers.get("content-type", "application/json"))
    partial = request.query_params.get("partial", "false").lower() in ("1", "true", "yes")
    outcome = await run_in_threadpool(service.ingest, name, rows, who, partial)
    request.app.state.metrics.rows_ingested.labels(name).inc(outcome.accepted + outcome.updated)
    body = outcome.as_dict(dataset.mode == "upsert")
    if outcome.rejected and not partial:
        error = TallyError(
            "rejected_rows",
            f"{len(outcome.rejected)} problem(s) in the batch; nothing was stored",
            400,
            [
                ErrorDetail(
                    pointer(r.index, *r.path.split(".")) if r.path else pointer(r.index), r.reason
                )
                for r in outcome.rejected
            ],
        )
        body = {**native_error(error, trace_id(request)), **body}
        return json_response(body, status=400)
    return json_response(body)


@router.post("/v1/cache/clear")
async def clear_cache(request: Request, who: Principal = Depends(principal)) -> Response:
    who.require("admin")
    cache = request.app.state.service.cache
    cleared = await run_in_threadpool(cache.clear) if cache is not None else 0
    return json_response({"cleared": cleared})
