"""The request body of `metrics/query`, exactly as the API names it; unknown fields are refused.

Only the shape is checked here. Whether a field exists for the datasource, accepts an operator or
a value of that shape is the translator's business, so every such problem of one request can be
reported at once with the field's name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tally.errors import ErrorDetail, TallyError
from tally.profiles.agent_metrics.errors import INVALID
from tally.profiles.agent_metrics.fields import OPERATORS
from tally.query.parse import parse_model

AggregationType = Literal[
    "count", "countDistinct", "sum", "avg", "min", "max", "p50", "p75", "p90", "p95", "p99"
]  # fmt: skip
Operator = Literal[tuple(OPERATORS)]  # type: ignore[valid-type]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricsAggregation(ApiModel):
    type: AggregationType
    column: str = Field(min_length=1, max_length=200)


class FilterItem(ApiModel):
    """`{fieldName, operator, value}` or `{metadataKey, operator, value}`."""

    field_name: str | None = Field(default=None, alias="fieldName", min_length=1, max_length=200)
    metadata_key: str | None = Field(
        default=None, alias="metadataKey", min_length=1, max_length=200
    )
    operator: Operator
    value: Any = None

    @model_validator(mode="after")
    def _one_target(self) -> FilterItem:
        if (self.field_name is None) == (self.metadata_key is None):
            raise ValueError("give exactly one of fieldName and metadataKey")
        return self


class MetricsQuery(ApiModel):
    start_ts: datetime = Field(alias="startTs")
    end_ts: datetime = Field(alias="endTs")
    datasource: str = Field(min_length=1, max_length=64)
    type: Literal["distribution", "timeseries"]
    interval: str | None = Field(default=None, max_length=64)
    interval_in_seconds: int | None = Field(
        default=None, alias="intervalInSeconds", gt=0, strict=True
    )
    aggregations: list[MetricsAggregation] = Field(default_factory=list, max_length=256)
    group_by: list[str] = Field(default_factory=list, alias="groupBy", max_length=64)
    filters: list[FilterItem] = Field(default_factory=list, max_length=256)

    @field_validator("start_ts", "end_ts", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("expected an ISO 8601 timestamp string")
        return value

    @field_validator("start_ts", "end_ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """A timestamp without an offset is read as UTC, the API's only timezone. One whose offset
        carries it past year 1 or 9999 in UTC is no instant Python (or any engine) can hold."""
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the timestamp is outside years 1 to 9999 in UTC") from None

    @model_validator(mode="after")
    def _ordered(self) -> MetricsQuery:
        if self.end_ts <= self.start_ts:
            raise ValueError("endTs must be after startTs")
        return self


def _location(path: str) -> str:
    """`/filters/0/value` -> `filters[0].value`: how a JavaScript client names the spot."""
    out = ""
    for part in path.strip("/").split("/"):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def parse_request(body: Any) -> MetricsQuery:
    """The typed request, or a 400 whose details each name the place of the problem."""
    try:
        return parse_model(MetricsQuery, body)
    except TallyError as error:
        details = [
            ErrorDetail(d.path, f"{_location(d.path)}: {d.reason}" if d.path else d.reason)
            for d in error.details
        ]
        raise TallyError.invalid(details, INVALID) from None
