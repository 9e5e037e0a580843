"""Rollups on the running server (admin of every tenant): `GET /v1/rollups` (where each stands),
`POST /v1/rollups/verify` (ask recent questions again both ways, the report as the answer),
`POST /v1/rollups/build` (202 and a build to poll at `GET /v1/rollups/builds/{id}`).

A build runs in the server while it keeps serving: queries are answered from the rows while a
rollup is incomplete (from the old table while a complete one is rebuilt), and ingestion waits
only while a build's transaction holds the engine's writer, as with `tally rollups build`
on a stopped server. Every route here reads or writes every tenant's rows, so a tenant's admin
gets a 403 like a viewer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tally.api import models
from tally.api.body import parse_json, read_bytes, require_json
from tally.api.errors import NATIVE, native_error, shaped_route, trace_id
from tally.api.openapi import Contract
from tally.api.responses import json_response
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.errors import forbidden
from tally.profiles.contract import COMMON_ERRORS, READ_ERRORS, Example, Parameter
from tally.query.model import Strict
from tally.query.parse import parse_model
from tally.service.rollup_builds import Build
from tally.service.rollup_checks import state, verify_rollups

router = APIRouter(route_class=shaped_route(NATIVE), tags=["rollups"])
POLL_AFTER_S = 1
Datasets = Field(default_factory=list, max_length=100, description="default: every dataset")


class VerifyAsked(Strict):
    datasets: list[str] = Datasets
    sample: int = Field(100, ge=1, le=10_000, description="recent questions asked per dataset")


class BuildAsked(Strict):
    datasets: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="rebuild every rollup of these datasets; default: the incomplete rollups "
        "of every dataset",
    )


class StoredMeasure(models.Open):
    op: str
    field: str | None = None


class RollupState(BaseModel):
    dataset: str
    name: str
    table: str = Field(description="the rollup's table in the database")
    complete: bool = Field(description="it answers queries (built, and kept by every batch)")
    building: bool = Field(description="a build is filling it now")
    rows: int | None = Field(description="rows of its table (none on an engine without rollups)")
    pending_rows: int | None = Field(
        description="cells appended and not yet merged into its table (queries read them too; "
        "a compaction merges them in: `rollup_compact_*` settings)"
    )
    estimated_rows: int | None = Field(
        description="DuckDB's estimate of its rows, by which the smallest fitting rollup answers"
    )
    dataset_estimated_rows: int | None = Field(
        description="DuckDB's estimate of the dataset's rows (how many a rollup row stands for)"
    )
    grain: str
    grain_seconds: int
    dimensions: list[str]
    across_tenants: bool = Field(
        description="its cells span every tenant: it answers only callers of every tenant"
    )
    measures: list[StoredMeasure]


class RollupList(BaseModel):
    rollups: list[RollupState]


class AskedQuestions(BaseModel):
    source: Literal["samples", "shapes", "none"] = Field(
        description="`samples`: the recent whole questions kept (`query_log_samples`); "
        "`shapes`: the recent shapes asked with values drawn from the data; `none` recorded"
    )
    count: int


class VerifyDifference(BaseModel):
    dataset: str
    query_hash: str = Field(description="a stable name of the question, never its values")
    served_from: str
    detail: str = Field(description="the first row that differs, from the rollup and the rows")


class VerifyNotCompared(BaseModel):
    dataset: str
    message: str = Field(description="why the service refused the question (a limit, a slot)")


class VerifyReport(BaseModel):
    """Differences are the report, not an error: the answer is 200 with any number of them."""

    questions: AskedQuestions
    compared: int
    from_rollups: int
    served_from: dict[str, int] = Field(description="questions compared, by where they came from")
    estimates_checked: int = Field(
        description="values a sketch estimated, checked to be within twice their stated bound "
        "of the exact value from the rows"
    )
    differences: list[VerifyDifference]
    not_compared: list[VerifyNotCompared]


class BuildProgress(BaseModel):
    dataset: str | None = Field(description="the dataset being built (the last, once ended)")
    rollup: str | None
    rollups_started: int
    rollups_total: int
    tenants_done: int = Field(description="tenants of `rollup` filled so far")
    tenants_total: int


class BuiltDataset(BaseModel):
    dataset: str
    rollups: list[str]
    seconds: float


class RollupBuild(BaseModel):
    id: str
    status: Literal["pending", "running", "succeeded", "failed"]
    datasets: list[str] = Field(description="as asked; empty: the incomplete rollups")
    created_at: datetime
    ended_at: datetime | None
    progress: BuildProgress
    built: list[BuiltDataset] = Field(description="datasets whose rollups are built, in order")
    error: models.NativeErrorBody | None = Field(description="once failed")


def _operator(who: Principal) -> None:
    who.require("admin")
    if not who.all_tenants:
        raise forbidden("rollups hold every tenant's rows: they need an admin of every tenant")


async def _body(request: Request, model: type[Strict]) -> Any:
    """The body, or the model's defaults when none is sent."""
    require_json(request)
    data = await read_bytes(request, request.app.state.settings.question_body_bytes)
    return parse_model(model, parse_json(data) if data.strip() else {})


def render_build(build: Build, trace: str) -> dict[str, Any]:
    return {
        "id": build.id,
        "status": build.status,
        "datasets": list(build.datasets),
        "created_at": build.created_at,
        "ended_at": build.ended_at,
        "progress": {
            "dataset": build.dataset,
            "rollup": build.rollup,
            "rollups_started": build.rollups_started,
            "rollups_total": build.rollups_total,
            "tenants_done": build.tenants_done,
            "tenants_total": build.tenants_total,
        },
        "built": [
            {"dataset": b.dataset, "rollups": list(b.rollups), "seconds": round(b.seconds, 3)}
            for b in build.built
        ],
        "error": native_error(build.error, trace)["error"] if build.error is not None else None,
    }


def _build_response(request: Request, build: Build, status: int = 200) -> Response:
    headers = {"Location": f"/v1/rollups/builds/{build.id}"} if status == 202 else {}
    if build.active:
        headers["Retry-After"] = str(POLL_AFTER_S)
    return json_response(render_build(build, trace_id(request)), status=status, headers=headers)


@router.get("/v1/rollups", summary="Every declared rollup and where it stands (admin)")
async def list_rollups(request: Request, who: Principal = Depends(principal)) -> Response:
    _operator(who)
    service = request.app.state.service
    building = service.rollup_builds.building()
    return json_response({"rollups": await run_in_threadpool(state, service, building)})


@router.post("/v1/rollups/verify", summary="Ask recent questions with rollups and from the rows")
async def verify(request: Request, who: Principal = Depends(principal)) -> Response:
    _operator(who)
    asked: VerifyAsked = await _body(request, VerifyAsked)
    service = request.app.state.service
    found = await run_in_threadpool(verify_rollups, service, asked.datasets, asked.sample)
    return json_response(found.as_dict())


@router.post("/v1/rollups/build", summary="Build rollups while serving: 202 and a build to poll")
async def build(request: Request, who: Principal = Depends(principal)) -> Response:
    _operator(who)
    asked: BuildAsked = await _body(request, BuildAsked)
    service = request.app.state.service
    started, _ = service.rollup_builds.start(service.catalog, asked.datasets)
    return _build_response(request, started, 202)


@router.get("/v1/rollups/builds/{id}", summary="A rollup build: its status and progress")
async def poll(id: str, request: Request, who: Principal = Depends(principal)) -> Response:
    _operator(who)
    return _build_response(request, request.app.state.service.rollup_builds.view(id))


BUILD_ID = Parameter(
    "id", "path", "a build's id, from the 202 that started it", {"type": "string"}, required=True
)
ADMIN_ERRORS = {**COMMON_ERRORS, 403: "the token is not an admin of every tenant"}
READ_ADMIN = {**READ_ERRORS, 403: ADMIN_ERRORS[403]}
CONTRACTS = [
    Contract("GET", "/v1/rollups", RollupList, models.NativeError, READ_ADMIN),
    Contract("POST", "/v1/rollups/verify", VerifyReport, models.NativeError, ADMIN_ERRORS,
             request_model=VerifyAsked, request_required=False,
             success_text="the report (differences included: they are not an error)",
             example=Example("check the rollups of one dataset on 50 recent questions",
                             body={"datasets": ["agent_events"], "sample": 50})),
    Contract("POST", "/v1/rollups/build", RollupBuild, models.NativeError, ADMIN_ERRORS,
             request_model=BuildAsked, request_required=False, success=202,
             success_text="the build, started (or the same one already pending or running); "
             "Location polls it",
             example=Example("rebuild every rollup of one dataset",
                             body={"datasets": ["agent_events"]})),
    Contract("GET", "/v1/rollups/builds/{id}", RollupBuild, models.NativeError,
             {**READ_ADMIN, 404: "no such build (ids are forgotten after 100 newer builds, "
              "and when the server restarts)"}, parameters=(BUILD_ID,)),
]  # fmt: skip
