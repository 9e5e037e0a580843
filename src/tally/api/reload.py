"""`POST /v1/datasets/reload` (admin), and the pin that keeps one catalog for a whole request.

The call reloads the process it reaches. Behind several workers or replicas, each one also
watches the dataset directory on its own (`TALLY_DATASETS_WATCH`), so all of them converge
within about a second of a file change; the call is for scripts that need the outcome (the
problems of a refused file) and for servers that run with the watcher off.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from tally.api import models
from tally.api.errors import NATIVE, shaped_route
from tally.api.openapi import Contract
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.catalog.holder import CatalogHolder
from tally.profiles.contract import READ_ERRORS

router = APIRouter(route_class=shaped_route(NATIVE), tags=["native"])


class FileProblem(BaseModel):
    file: str = Field(description="the dataset file that was refused")
    field: str = Field(description="a JSON pointer into the file ('' is the whole file)")
    message: str


class Reloaded(BaseModel):
    """Dataset names by what the reload did to them; a refused file keeps its previous
    definition serving and is listed under `problems`."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]
    problems: list[FileProblem]


@router.post("/v1/datasets/reload", summary="Read the dataset files again (admin)")
async def reload(request: Request, who: Principal = Depends(principal)) -> Response:
    who.require("admin")
    report = await run_in_threadpool(request.app.state.service.reloader.reload)
    return json_response(report.as_dict())


class PinCatalog:
    """Every HTTP request reads the catalog it started with, from its first line to its last."""

    def __init__(self, app: ASGIApp, catalogs: CatalogHolder) -> None:
        self.app = app
        self.catalogs = catalogs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.catalogs.pinned():
            await self.app(scope, receive, send)


CONTRACTS = [
    Contract("POST", "/v1/datasets/reload", Reloaded, models.NativeError, READ_ERRORS),
]  # fmt: skip
