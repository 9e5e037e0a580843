"""The request body of `POST /feedback/aggregate`, parsed the way Weave's own model parses it.

The model mirrors `FeedbackAggregateReq` of Weave's trace server (weave 0.53.13, the last release
that ships the server models): the same fields, types and bounds, pydantic's lax mode (so
`"1704067200000"`, `1.7e12` and `"3600"` are the integers they spell), and unknown fields
ignored (Weave's `BaseModelStrict` has ignored them since 0.53.4). Weave has no limit on list
lengths, string lengths or `before_ms`, an empty `project_id` is a string like any other, and a
repeated `group_by` entry is accepted (Tally groups by it once and reports it once, as a
`group` object can hold a key only once). The only bounds Tally adds are the service's request
body size (`TALLY_MAX_BODY_BYTES`) and the engine-facing bounds of `bounds.py`.

Rules that compare fields (the window, the 31-day cap, the bucket count) are Weave's
`_validate`, checked afterwards by `cross_check` so each problem points at a field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tally.errors import ErrorDetail
from tally.profiles.feedback_aggregate.errors import problem

DAY_MS = 86_400_000
MAX_RANGE_DAYS = 31
MAX_BUCKETS = 256

GroupName = Literal["scorer_id", "span_agent_name", "span_agent_version", "span_status_code"]
SpanType = Literal["agent_turn", "agent_conversation"]
Rating = Annotated[float, Field(ge=0.0, le=1.0)]
Millis = Annotated[int, Field(ge=0)]


class FeedbackAggregateReq(BaseModel):
    """Aggregate scorer feedback of one project by time bucket and dimension."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    project_id: str = Field(examples=["entity/project"])
    after_ms: Millis = Field(description="Inclusive lower bound on created_at (ms since epoch).")
    before_ms: Millis = Field(description="Exclusive upper bound on created_at (ms since epoch).")
    time_bucket_seconds: Annotated[int, Field(gt=0)] | None = None
    feedback_types: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    rating_min: Rating | None = None
    rating_max: Rating | None = None
    monitor_ids: list[str] = Field(default_factory=list)
    scorer_ids: list[str] = Field(default_factory=list)
    span_agent_names: list[str] = Field(default_factory=list)
    span_types: list[SpanType] = Field(default_factory=list)
    group_by: list[GroupName] = Field(default_factory=list)

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

    @property
    def groups(self) -> list[GroupName]:
        """`group_by` with repeats dropped, in the order given."""
        return list(dict.fromkeys(self.group_by))


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
    return found
