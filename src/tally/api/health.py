"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api.responses import json_response

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
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


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(
        request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
