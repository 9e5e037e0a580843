"""Liveness, readiness and metrics.

/readyz asks every dependency at once and answers within `READY_S` whatever they do: a probe
that hangs (a frozen database or Redis) is reported as down, by name, instead of holding the
load balancer's check. Only the engine decides readiness; the cache and the shared rate-limit
store degrade the service (it answers from the engine, limits per process) without stopping it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

from tally.api import models
from tally.api.errors import NATIVE, shaped_route
from tally.api.openapi import Contract
from tally.api.responses import json_response
from tally.errors import TallyError

router = APIRouter(route_class=shaped_route(NATIVE), tags=["operations"])
READY_S = 1.0


@router.get("/healthz", summary="The process answers")
async def healthz() -> Response:
    return json_response({"status": "ok"})


async def _state(probe: Callable[[], Awaitable[str]]) -> str:
    """The state, "ok" or "down: <why>": a probe never raises out of readiness."""
    try:
        return await probe()
    except TallyError as exc:
        return f"down: {exc.message}"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


def _probes(request: Request) -> dict[str, Callable[[], Awaitable[str]]]:
    """The dependencies of this process, by the name /readyz reports them under. Blocking
    probes run in the loop's default executor, apart from the request threads."""
    service = request.app.state.service

    async def engine() -> str:
        await asyncio.to_thread(service.engine.ping)
        return "ok"

    probes = {"engine": engine}
    if service.cache is not None:
        probes["cache"] = lambda: asyncio.to_thread(service.cache.store.health)
    limiter = getattr(request.app.state, "limiter", None)
    if limiter is not None and limiter.redis is not None:
        probes["rate_limit_store"] = limiter.redis.health
    return probes


@router.get("/readyz", summary="The engine answers (the cache may be degraded)")
async def readyz(request: Request) -> Response:
    tasks = {name: asyncio.ensure_future(_state(p)) for name, p in _probes(request).items()}
    await asyncio.wait(tasks.values(), timeout=READY_S)
    checks: dict[str, str] = {}
    for name, task in tasks.items():
        if task.done():
            checks[name] = task.result()
        else:
            task.cancel()
            checks[name] = f"down: no answer within {READY_S:g} s"
    checks.setdefault("cache", "off")
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
