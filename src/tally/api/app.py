"""The FastAPI application: wiring of settings, catalog, engine, keys, routes and the document.

`/docs` and `/redoc` are served from assets installed with the project (fastapi-offline), and
the explorer (`/`) from the package's own `web/` folder, so all of them work without internet.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from tally import __version__, profiles
from tally.api import (
    capabilities,
    examples,
    health,
    jobs,
    key_admin,
    native,
    openapi,
    reload,
    rollups,
    security,
    web,
)
from tally.api.errors import failure_response
from tally.api.metrics import Metrics
from tally.api.mount import mount
from tally.api.observe import Observe
from tally.api.reload import PinCatalog
from tally.auth.keys import KeyStore
from tally.config import Settings
from tally.errors import TallyError
from tally.service import Service
from tally.service.watcher import watching
from tally.wiring import build_service

DESCRIPTION = (
    "Exact, fast, tenant-scoped aggregate answers for dashboards: Tally's native query API and "
    "five external API formats (profiles 000-004), each with its own request and error shape."
)


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    service = service or build_service(settings)
    metrics = Metrics()
    service.answers.observers.append(metrics.observe_query)
    metrics.watch_admission(service.answers.admission)
    if service.cache is not None:
        service.cache.on_event = metrics.count_cache_event
        store = service.cache.store
        # `up` reads what the last calls saw: a scrape runs on the event loop and must not wait
        # on Redis (/readyz asks it).
        metrics.cache_up.set_function(lambda: 1.0 if store.up else 0.0)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with watching(service.reloader, service.settings.datasets_watch):
            yield
        service.jobs.close()
        if service.cache is not None:
            await service.cache.close()
        service.close()
        app.state.keys.close()
        await app.state.limiter.close()

    app = FastAPIOffline(
        title="Tally",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=Response,
        static_url="/docs-assets",
    )
    app.state.settings = settings
    app.state.service = service
    app.state.keys = KeyStore(settings.keys_path)
    security.install(app, settings)
    app.state.metrics = metrics

    app.add_middleware(PinCatalog, catalogs=service.catalogs)
    app.add_middleware(Observe, metrics=metrics, access_log=settings.access_log)

    async def failed(request: Request, failure: Exception) -> Response:
        return failure_response(request, failure)

    for kind in (TallyError, StarletteHTTPException, RequestValidationError, Exception):
        app.add_exception_handler(kind, failed)

    contracts = []
    for module in (health, native, jobs, reload, rollups, key_admin, capabilities, examples):
        app.include_router(module.router)
        contracts += module.CONTRACTS
    app.include_router(web.router)
    for profile in profiles.served(settings.profiles):
        contracts.append(mount(app, profile))
    openapi.install(app, contracts)
    return app
