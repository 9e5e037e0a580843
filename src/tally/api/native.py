"""The native API of specs/native-api.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from tally.api import jobs, models
from tally.api.body import NDJSON_TYPES, ingest_body, read_json, require_json
from tally.api.errors import NATIVE, native_error, shaped_route, trace_id
from tally.api.observe import record_answer
from tally.api.openapi import Contract
from tally.api.prefer import parse_prefer
from tally.api.responses import answer_headers, json_response, render_result
from tally.api.security import principal
from tally.auth.principal import Principal
from tally.catalog.model import ColumnType, Dataset
from tally.errors import ErrorDetail, TallyError, pointer
from tally.profiles.contract import COMMON_ERRORS, READ_ERRORS, Example, Parameter
from tally.query.fields import FieldRef
from tally.query.model import Query
from tally.query.parse import parse_model
from tally.service.ingestion import IngestOutcome
from tally.service.sources import require_owned

router = APIRouter(route_class=shaped_route(NATIVE), tags=["native"])
DATASET_NAME = Parameter(
    "name",
    "path",
    "a dataset of the catalog",
    {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
    required=True,
    example="agent_events",
)
QUERY_EXAMPLE = Example(
    "events per type over the last 30 days, with distinct sessions",
    body={
        "dataset": "agent_events",
        "time": {"last": "30d"},
        "group_by": ["event_type"],
        "measures": [{"op": "count"}, {"op": "count_distinct", "field": "session_id"}],
        "limit": 5,
    },
)


KEYED = (ColumnType.JSON, ColumnType.FLOAT_MAP)


def describe(dataset: Dataset) -> dict[str, Any]:
    """The catalog's description, plus what one key of a JSON or map column accepts: the field
    resolver decides that, not the column, and a client (the explorer) offers only what
    validates."""
    described = dataset.describe()
    for column, shown in zip(dataset.columns, described["columns"], strict=True):
        if column.type in KEYED:
            key = FieldRef(f"{column.name}.key", column, "key")
            shown["keys"] = {"operators": list(key.ops), "measures": list(key.measures)}
    return described


async def _query(request: Request) -> Query:
    service = request.app.state.service
    require_json(request)
    return parse_model(Query, await read_json(request, service.settings.question_body_bytes))


@router.post("/v1/query", summary="Answer an aggregate question")
async def query(request: Request, who: Principal = Depends(principal)) -> Response:
    """With `Prefer: respond-async`, a question not answered within `wait` becomes a job."""
    asked = await _query(request)
    service = request.app.state.service
    prefer = parse_prefer(request.headers.getlist("prefer"))
    if prefer.respond_async:
        return await jobs.answer_or_start(request, asked, who, prefer)
    result = await service.answers.answer_async(asked, who)
    record_answer(request, [result])
    return json_response(render_result(result), headers=answer_headers([result]))


@router.post("/v1/query/sql", summary="The SQL a question would run (admin; never executed)")
async def query_sql(request: Request, who: Principal = Depends(principal)) -> Response:
    answers = request.app.state.service.answers
    return json_response(await run_in_threadpool(answers.explain, await _query(request), who))


@router.get("/v1/datasets", summary="Every dataset, its columns and what each accepts")
async def datasets(request: Request, who: Principal = Depends(principal)) -> Response:
    catalog = request.app.state.service.catalog
    return json_response({"datasets": [describe(d) for d in catalog]})


@router.get("/v1/datasets/{name}", summary="One dataset, its columns and what each accepts")
async def dataset(name: str, request: Request, who: Principal = Depends(principal)) -> Response:
    return json_response(describe(request.app.state.service.catalog.require(name)))


@router.post("/v1/datasets/{name}/rows", summary="Store rows (a JSON array or NDJSON)")
async def ingest(name: str, request: Request, who: Principal = Depends(principal)) -> Response:
    # The body is parsed, checked, stored and its answer written in a worker thread; the event
    # loop only moves its bytes (a large body to a file as it arrives).
    service = request.app.state.service
    who.require("editor")
    dataset = service.catalog.require(name)
    require_owned(dataset)
    require_json(request, also=NDJSON_TYPES)
    partial = request.query_params.get("partial", "false").lower() in ("1", "true", "yes")
    spool_dir = service.settings.data_dir / "spool"
    async with ingest_body(request, service.settings.max_body_bytes, spool_dir) as rows:
        outcome = await run_in_threadpool(service.ingestion.ingest, name, rows, who, partial)
    stored = outcome.accepted + outcome.updated
    request.app.state.metrics.rows_ingested.labels(name).inc(stored)
    request.state.answer = {"dataset": name, "cache": None, "rows": stored}
    upsert = dataset.mode == "upsert"
    return await run_in_threadpool(_ingest_answer, outcome, upsert, partial, trace_id(request))


def _ingest_answer(outcome: IngestOutcome, upsert: bool, partial: bool, trace: str) -> Response:
    """The answer to an ingestion: a rejected batch names every problem (one per bad row of a
    large body can be megabytes of JSON, hence off the event loop)."""
    body = outcome.as_dict(upsert)
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
        return json_response({**native_error(error, trace), **body}, status=400)
    return json_response(body)


@router.post(
    "/v1/datasets/{name}/refresh",
    summary="Say new rows landed: the next query recomputes (editor or admin)",
)
async def refresh(name: str, request: Request, who: Principal = Depends(principal)) -> Response:
    """An editor key scoped to some tenants refreshes only those tenants' answers and
    watermarks; an admin or all-tenant key refreshes the whole dataset."""
    service = request.app.state.service
    dataset, tenants = await run_in_threadpool(service.refresh, name, who)
    source = describe(dataset)["source"]
    refreshed = list(tenants) if tenants is not None else None
    return json_response({"dataset": name, "source": source, "tenants": refreshed})


@router.post("/v1/cache/clear", summary="Drop every cached answer (admin)")
async def clear_cache(request: Request, who: Principal = Depends(principal)) -> Response:
    who.require("admin")
    cache = request.app.state.service.cache
    cleared = await run_in_threadpool(cache.clear) if cache is not None else 0
    return json_response({"cleared": cleared})


def _native(method: str, path: str, answer: type, errors: dict[int, str], **more: Any) -> Contract:
    return Contract(method, path, answer, models.NativeError, errors, **more)


CONTRACTS = [
    _native("POST", "/v1/query", models.QueryResponse, {**COMMON_ERRORS, **jobs.STARTED},
            request_model=Query, example=QUERY_EXAMPLE, parameters=(jobs.PREFER,),
            error_models={202: models.Job}),
    _native("POST", "/v1/query/sql", models.Explained, dict(COMMON_ERRORS),
            request_model=Query, example=QUERY_EXAMPLE),
    _native("GET", "/v1/datasets", models.DatasetList, READ_ERRORS),
    _native("GET", "/v1/datasets/{name}", models.DatasetDescription,
            {**READ_ERRORS, 404: "there is no such dataset"}, parameters=(DATASET_NAME,)),
    _native(
        "POST", "/v1/datasets/{name}/rows", models.IngestOutcome,
        {**COMMON_ERRORS, 404: "there is no such dataset",
         405: "the dataset is read in place from an external source; Tally never writes to it"},
        request_model=models.IngestRows, request_media=("application/json", *NDJSON_TYPES),
        parameters=(DATASET_NAME, Parameter(
            "partial", "query", "store the good rows of a batch with problems",
            {"type": "boolean", "default": False})),
        error_models={400: models.IngestRefused},
        example=Example("one purchase", body=[{
            "workspace_id": "ws_acme", "brand_id": "br_acme_main", "event_id": "tour_1",
            "event_type": "purchase", "ts": "2026-01-01T12:00:00Z", "amount": 42.5}]),
    ),
    _native("POST", "/v1/datasets/{name}/refresh", models.Refreshed,
            {**READ_ERRORS,
             403: "the key is not an editor or admin, or a tenant-scoped key has no tenant of "
                  "the dataset",
             404: "there is no such dataset"}, parameters=(DATASET_NAME,)),
    _native("POST", "/v1/cache/clear", models.Cleared, READ_ERRORS),
]  # fmt: skip
