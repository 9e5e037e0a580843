"""The request body of `POST /v1/records/statistics`: structure only, unknown fields rejected.

Shapes and JSON types are checked here (a failure is a SCHEMA_VALIDATION_ERROR); whether a root,
field, operator or aggregation exists is a question for the catalog, answered in `translate`
(a BAD_REQUEST), so an unknown operator reads as "not available on this field" with the list of
those that are.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tally.profiles.records_statistics.errors import SCHEMA, Problems

MAX_LIMIT = 10_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FilterRule(Strict):
    field: str = Field(min_length=1, max_length=200)
    operator: str = Field(min_length=1, max_length=32)
    value: Any = None
    conjunction: Literal["and", "or"] = "and"


class RecordsAggregation(Strict):
    op: str = Field(min_length=1, max_length=32)
    field: str = Field(min_length=1, max_length=200)
    alias: str | None = Field(default=None, min_length=1, max_length=128)


class OrderItem(Strict):
    field: str = Field(min_length=1, max_length=200)
    direction: Literal["asc", "desc"] = "asc"


class StatisticsRequest(Strict):
    root: str = Field(min_length=1, max_length=64)
    filters: list[FilterRule] = Field(default_factory=list, max_length=256)
    where_clause: dict[str, Any] | None = Field(default=None, alias="whereClause")
    aggregations: list[RecordsAggregation] = Field(min_length=1, max_length=32)
    group_by: list[str] = Field(default_factory=list, max_length=8)
    order_by: list[OrderItem] = Field(default_factory=list, max_length=16)
    limit: int = Field(default=1000, ge=1, le=MAX_LIMIT)
    workspace_id: str | None = Field(
        default=None, alias="workspaceId", min_length=1, max_length=128
    )


def parse_request(body: Any) -> StatisticsRequest:
    """The typed request, or a SCHEMA_VALIDATION_ERROR naming every misshapen element."""
    problems = Problems()
    try:
        if isinstance(body, dict):
            return StatisticsRequest.model_validate(body)
        problems.add("the body must be a JSON object")
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            reason = err["msg"]
            if err["type"] == "extra_forbidden":
                reason = "unknown field"
            elif err["type"] == "missing":
                reason = "required field is missing"
            problems.add(reason, *err["loc"])
    raise problems.error(SCHEMA)
