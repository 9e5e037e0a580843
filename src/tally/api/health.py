"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api import models
from tally.api.errors import NATIVE, shaped_route
from tally.api.openapi import Contract
from tally.api.responses import json_response

router = APIRouter(route_class=shaped_route(NATIVE), tags=["operations"])


@router.get("/healthz", summary="The process answers")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="The engine answers (the cache may be degraded)")
async def readyz(request: Request) -> Response:
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(request.app.state.service.engine.ping)
        checks["engine"] = "ok"
    except Exception as exc:  # readiness reports any failure, it does not raise
        checks["engine"] = f"down: {type(exc).__name__}"
    cache = request.app.state.service.cache
    checks["cache"] = await run_in_threadpool(cache.store.health) if cache else "off"
    ready = checks["engine"] == "ok"
    body: dict = {"status": "ready" if ready else "not ready", "checks": checks}
    degraded = [name for name, state in checks.items() if state.startswith("down")]
    if ready and degraded:
        body["degraded"] = degraded
    return json_response(body, status=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(
        request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


UNEXPECTED = {500: "an unexpected failure"}
CONTRACTS = [
    Contract("GET", "/healthz", models.Health, models.NativeError, UNEXPECTED, secured=False),
    Contract("GET", "/readyz", models.Readiness, models.NativeError,
             {**UNEXPECTED, 503: "the engine does not answer"}, secured=False,
             error_models={503: models.Readiness}),
    Contract("GET", "/metrics", None, models.NativeError, UNEXPECTED, secured=False,
             response_media="text/plain"),
]  # fmt: skip
