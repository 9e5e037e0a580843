"""The request body of `POST /feedback/aggregate` and the rules that span several of its fields.

Field rules live on the model (pydantic reports them with their own `type`); rules that compare
fields (the window, the 31-day cap, the bucket count) are checked afterwards by `cross_check`
so each problem can still point at the field a caller has to change.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tally.errors import ErrorDetail
from tally.profiles.feedback_aggregate.errors import problem

DAY_MS = 86_400_000
MAX_RANGE_DAYS = 31
MAX_BUCKETS = 256
# 9999-12-31T23:59:59.999Z: the last instant a timestamp column (and Python) can hold.
MAX_MS = 253_402_300_799_999
MAX_ITEMS = 64

GroupName = Literal["scorer_id", "span_agent_name", "span_agent_version", "span_status_code"]
SpanType = Literal["agent_turn", "agent_conversation"]
Text = Annotated[str, Field(max_length=256)]
Texts = Annotated[list[Text], Field(max_length=MAX_ITEMS)]
Rating = Annotated[float, Field(ge=0, le=1)]
Millis = Annotated[int, Field(ge=0, le=MAX_MS)]


class FeedbackAggregateReq(BaseModel):
    """Aggregate scorer feedback of one project by time bucket and dimension."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    project_id: Annotated[str, Field(min_length=1, max_length=256)]
    after_ms: Millis
    before_ms: Millis
    time_bucket_seconds: Annotated[int, Field(gt=0)] | None = None
    feedback_types: Texts = Field(default_factory=list)
    tags: Texts = Field(default_factory=list)
    rating_min: Rating | None = None
    rating_max: Rating | None = None
    monitor_ids: Texts = Field(default_factory=list)
    scorer_ids: Texts = Field(default_factory=list)
    span_agent_names: Texts = Field(default_factory=list)
    span_types: Annotated[list[SpanType], Field(max_length=MAX_ITEMS)] = Field(default_factory=list)
    group_by: Annotated[list[GroupName], Field(max_length=4)] = Field(default_factory=list)

    @property
    def filtered(self) -> bool:
        """Whether any filter family narrows the rows (an empty list narrows nothing)."""
        lists = (
            self.feedback_types,
            self.tags,
            self.monitor_ids,
            self.scorer_ids,
            self.span_agent_names,
            self.span_types,
        )
        bounds = (self.rating_min, self.rating_max)
        return any(lists) or any(b is not None for b in bounds)

    @property
    def bare_total(self) -> bool:
        """One unbucketed, ungrouped, unfiltered total: the only answer allowed past 31 days."""
        return self.time_bucket_seconds is None and not self.group_by and not self.filtered


def cross_check(req: FeedbackAggregateReq) -> list[ErrorDetail]:
    """The rules no single field can check; empty when the request may run."""
    found: list[ErrorDetail] = []
    span = req.before_ms - req.after_ms
    if span <= 0:
        found.append(problem(("before_ms",), "before_ms must be greater than after_ms"))
        return found
    if span > MAX_RANGE_DAYS * DAY_MS and not req.bare_total:
        found.append(
            problem(
                ("before_ms",),
                f"the range is longer than {MAX_RANGE_DAYS} days; only an unbucketed, "
                "ungrouped, unfiltered total may span more",
            )
        )
    bucket = req.time_bucket_seconds
    if bucket is not None and span > MAX_BUCKETS * bucket * 1000:
        found.append(
            problem(
                ("time_bucket_seconds",),
                f"more than {MAX_BUCKETS} buckets of {bucket} s between after_ms and before_ms; "
                "use a larger time_bucket_seconds",
            )
        )
    for i, name in enumerate(req.group_by):
        if name in req.group_by[:i]:
            found.append(problem(("group_by", i), f"{name!r} is listed twice"))
    return found
