"""`POST /feedback/aggregate`: the trace server's scorer feedback aggregates (profile 003).

Three questions (totals, tags, ratings), each read page by page when its groups outnumber the
row cap, so this profile answers through a runner rather than one batch of queries.

Compatible with W&B Weave's own clients (checked against weave 0.53.13 in
`tests/clients/test_weave_client.py`): its SDK sends `Authorization: Basic` with user `api` and
the API key as password, which Tally accepts wherever it accepts a bearer key; the body is parsed
as Weave's `FeedbackAggregateReq` parses it (`models.py`); the answer validates against Weave's
`FeedbackAggregateRes`. Where Weave's implementations disagree (its ClickHouse production store
and its in-memory test server), Tally follows production: a missing agent name is `""`
(`translate.py`) and `span_status_code` groups sort by the enum (`render.py`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from tally.errors import TallyError
from tally.profiles.contract import COMMON_ERRORS, Call, Example, Incoming, Profile
from tally.profiles.feedback_aggregate.answer import aggregate
from tally.profiles.feedback_aggregate.bounds import check_bounds
from tally.profiles.feedback_aggregate.errors import (
    FeedbackError,
    from_pydantic,
    invalid,
    problem,
    render_error,
    status_of,
)
from tally.profiles.feedback_aggregate.models import FeedbackAggregateReq, cross_check
from tally.profiles.feedback_aggregate.translate import DATASET
from tally.query.limits import Limits
from tally.result import Runner


class FeedbackBucket(BaseModel):
    time_bucket_start_ms: int | None
    group: dict[str, str] = Field(description="the group_by dimensions and their values")
    total_count: int
    scored_count: int
    tag_counts: dict[str, int]
    rating_counts: dict[str, int]
    rating_sums: dict[str, float]


class FeedbackAggregateRes(BaseModel):
    after_ms: int
    before_ms: int
    time_bucket_seconds: int | None
    buckets: list[FeedbackBucket]


def parse(body: Any, limits: Limits) -> FeedbackAggregateReq:
    """The request, or a 422 listing every problem of the body.

    Validated in pydantic's Python mode on the decoded JSON, as FastAPI validates Weave's own
    model, so the same inputs are accepted and coerced the same way."""
    if not isinstance(body, dict):
        raise invalid([problem((), "the body must be a JSON object", "model_attributes_type")])
    try:
        req = FeedbackAggregateReq.model_validate(body)
    except ValidationError as exc:
        raise from_pydantic(exc) from None
    problems = cross_check(req) or check_bounds(req, limits)
    if problems:
        raise invalid(problems)
    return req


class FeedbackAggregate(Profile[FeedbackAggregateReq]):
    name = "feedback_aggregate"
    datasets = (DATASET,)
    summary = "Scorer feedback aggregates (profile 003)"
    description = __doc__ or ""
    path = "/feedback/aggregate"
    request_model = FeedbackAggregateReq
    response_model = FeedbackAggregateRes
    error_model = FeedbackError
    errors = {
        **{status: text for status, text in COMMON_ERRORS.items() if status != 400},
        422: "the request is invalid; `detail` lists every problem with its location",
    }
    example = Example(
        "hourly feedback of one project over a day, by scorer",
        body={
            "project_id": "acme/support",
            "after_ms": 1767225600000,
            "before_ms": 1767312000000,
            "time_bucket_seconds": 3600,
            "group_by": ["scorer_id"],
        },
    )

    def parse(self, incoming: Incoming, call: Call) -> FeedbackAggregateReq:
        return parse(incoming.body, call.limits)

    def answer(self, request: FeedbackAggregateReq, call: Call, runner: Runner) -> Any:
        return aggregate(runner, call.limits, request)

    def status_of(self, error: TallyError) -> int:
        return status_of(error)

    def render_error(self, error: TallyError, trace: str) -> dict[str, Any]:
        return render_error(error, trace)


PROFILE = FeedbackAggregate()
