"""Questions as jobs on the native API: `Prefer: respond-async, wait=N` on `POST /v1/query`,
then `GET` and `DELETE /v1/queries/{id}`.

A question answered within `wait` seconds is answered inline, as without the header; otherwise
the answer is `202 Accepted` with the job (`{id, status, progress}`), `Location` to poll and
`Retry-After`. Polling says pending, running (elapsed, and what the engine tells of its work),
succeeded with the answer, failed with the error, or canceled. `DELETE` cancels the engine's
statement and answers once the job stopped (or after `CANCEL_WAIT_S`, still saying running).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api import models
from tally.api.errors import NATIVE, native_error, shaped_route, trace_id
from tally.api.observe import record_answer
from tally.api.openapi import Contract
from tally.api.prefer import Preferences
from tally.api.responses import answer_headers, json_response, render_result
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.profiles.contract import READ_ERRORS, Parameter
from tally.query.model import Query
from tally.service.jobs import Job, JobView, tenant_of

router = APIRouter(route_class=shaped_route(NATIVE), tags=["native"])
POLL_AFTER_S = 1  # Retry-After of a job still going: about a poll a second
CANCEL_WAIT_S = 5.0
PREFER = Parameter(
    "Prefer",
    "header",
    "`respond-async, wait=N` (RFC 7240): answer inline if done within N seconds (0 when "
    "absent), else 202 with a job to poll at Location",
    {"type": "string"},
    example="respond-async, wait=2",
)
STARTED = {
    202: "with Prefer: respond-async, not answered within wait: the job (Location polls it)",
    409: "a job this question joined was canceled",
}
JOB_ID = Parameter(
    "id", "path", "a job's id, from the 202 that started it", {"type": "string"}, required=True
)


def render_job(job: JobView, trace: str, with_result: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "created_at": job.created_at,
        "progress": job.progress,
    }
    if with_result and job.result is not None:
        body["result"] = render_result(job.result)
    if job.error is not None:
        body["error"] = native_error(job.error, trace)["error"]
    return body


def _job_response(
    request: Request, job: JobView, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    sent = dict(headers or {})
    if job.active:
        sent["Retry-After"] = str(POLL_AFTER_S)
    return json_response(render_job(job, trace_id(request)), status=status, headers=sent)


async def _finished(job: Job, within_s: float) -> bool:
    """Whether the job ends within `within_s` seconds (waiting without blocking the loop)."""
    try:
        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.finished)), within_s)
    except TimeoutError:
        return False
    return True


async def answer_or_start(
    request: Request, query: Query, who: Principal, prefer: Preferences
) -> Response:
    """Answer inline when the job ends within the wait the caller prefers, else 202."""
    service = request.app.state.service
    question, run = service.answers.as_job(query, who)
    job, _ = await run_in_threadpool(service.jobs.submit, tenant_of(who), question, run)
    wait_s = min(prefer.wait_s or 0.0, service.settings.job_timeout_s)
    if await _finished(job, wait_s):
        if job.error is not None:
            raise job.error
        record_answer(request, [job.result])
        headers = answer_headers([job.result])
        if prefer.wait_s is not None:
            headers["Preference-Applied"] = prefer.applied(False)
        return json_response(render_result(job.result), headers=headers)
    headers = {"Location": f"/v1/queries/{job.id}", "Preference-Applied": prefer.applied(True)}
    return _job_response(request, JobView.of(job), 202, headers)


@router.get("/v1/queries/{id}", summary="A job: its status, progress, and answer once done")
async def poll(id: str, request: Request, who: Principal = Depends(principal)) -> Response:
    who.require("viewer")
    jobs = request.app.state.service.jobs
    return _job_response(request, await run_in_threadpool(jobs.view, id, tenant_of(who)))


@router.delete("/v1/queries/{id}", summary="Cancel a job (its engine statement with it)")
async def cancel(id: str, request: Request, who: Principal = Depends(principal)) -> Response:
    who.require("viewer")
    jobs, tenant = request.app.state.service.jobs, tenant_of(who)
    found = await run_in_threadpool(jobs.cancel, id, tenant)
    if found.local is not None:
        await _finished(found.local, CANCEL_WAIT_S)
        found = JobView.of(found.local)
    elif found.active:
        found = await run_in_threadpool(jobs.settle, id, tenant, CANCEL_WAIT_S)
    return json_response(render_job(found, trace_id(request), with_result=False))


GONE = {404: "no such job for this tenant", 410: "the job's answer expired; ask again"}
CONTRACTS = [
    Contract("GET", "/v1/queries/{id}", models.Job, models.NativeError,
             {**READ_ERRORS, **GONE}, parameters=(JOB_ID,)),
    Contract("DELETE", "/v1/queries/{id}", models.Job, models.NativeError,
             {**READ_ERRORS, **GONE}, parameters=(JOB_ID,),
             success_text="the job, canceled (a finished job's answer is dropped)"),
]  # fmt: skip
