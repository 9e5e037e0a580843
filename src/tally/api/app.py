"""The FastAPI application: wiring of settings, catalog, engine, keys and routers."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tally import profiles
from tally.api import capabilities, health, key_admin, native, security
from tally.api.errors import (
    error_response,
    internal_error,
    native_error,
    request_details,
    trace_id,
)
from tally.api.metrics import Metrics
from tally.api.observe import Observe
from tally.auth.keys import KeyStore
from tally.config import Settings
from tally.errors import TallyError
from tally.service import Service
from tally.wiring import build_service

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    service = service or build_service(settings)
    metrics = Metrics()
    service.observers.append(metrics.observe_query)
    if service.cache is not None:
        service.cache.on_event = metrics.count_cache_event
        store = service.cache.store
        metrics.cache_up.set_function(lambda: 1.0 if store.health() == "ok" else 0.0)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if service.cache is not None:
            await service.cache.close()
        service.engine.close()
        app.state.keys.close()
        app.state.limiter.close()

    app = FastAPI(
        title="Tally",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=Response,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.keys = KeyStore(settings.keys_path)
    security.install(app, settings)
    app.state.metrics = metrics

    app.add_middleware(Observe, metrics=metrics)

    @app.exception_handler(TallyError)
    async def tally_error(request: Request, error: TallyError) -> Response:
        return error_response(error, trace_id(request), native_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        mapped = TallyError(
            codes.get(error.status_code, "http_error"), str(error.detail), error.status_code
        )
        return error_response(mapped, trace_id(request), native_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        mapped = TallyError.invalid(request_details(error))
        return error_response(mapped, trace_id(request), native_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error (trace %s)", trace_id(request))
        return error_response(internal_error(), trace_id(request), native_error)

    app.include_router(health.router)
    app.include_router(native.router)
    app.include_router(key_admin.router)
    app.include_router(capabilities.router)
    for router in profiles.routers():
        app.include_router(router)
    return app
