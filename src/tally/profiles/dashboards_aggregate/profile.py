"""`POST /api/workspace/{workspaceId}/dashboards/aggregate`: one widget's question (profile 000).

The workspace comes from the path, the brand from `X-Active-Brand` or `?brand_id=` (they must
agree), the catalog from `X-Active-Catalog`; all of them narrow the caller's scope, never widen it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from tally.errors import TallyError
from tally.profiles.contract import Call, Example, Incoming, Parameter, Profile
from tally.profiles.dashboards_aggregate.errors import AggregateError, render_error
from tally.profiles.dashboards_aggregate.models import (
    BRAND_HEADER,
    BRAND_QUERY,
    CATALOG_HEADER,
    TENANT_VALUE_PATTERN,
    WORKSPACE_PATTERN,
    AggregateRequest,
    Target,
    parse_request,
)
from tally.profiles.dashboards_aggregate.render import render
from tally.profiles.dashboards_aggregate.translate import DATASET, to_query
from tally.query.model import Query
from tally.result import Result

TENANT_VALUE = {"type": "string", "pattern": TENANT_VALUE_PATTERN.pattern}


class Row(BaseModel):
    key: str | None = Field(description="the group: a day, an hour, a value, or `all`")
    value: float | None = Field(description="the asked aggregation (null: nothing to aggregate)")
    secondary: int = Field(description="the group's event count")


class AggregateResponse(BaseModel):
    rows: list[Row]
    generated_at: str = Field(description="when the answer was computed (UTC, ISO 8601)")
    cache_hit: bool


class DashboardsAggregate(Profile[tuple[Target, AggregateRequest]]):
    name = "dashboards_aggregate"
    datasets = (DATASET,)
    summary = "Widget aggregation (profile 000)"
    description = __doc__ or ""
    path = "/api/workspace/{workspaceId}/dashboards/aggregate"
    request_model = AggregateRequest
    parameters = (
        Parameter(
            "workspaceId",
            "path",
            "the workspace asked about",
            {"type": "string", "pattern": WORKSPACE_PATTERN.pattern},
            required=True,
            example="ws_acme",
        ),
        Parameter(BRAND_HEADER, "header", "narrows to one brand", TENANT_VALUE),
        Parameter(CATALOG_HEADER, "header", "narrows to one catalog", TENANT_VALUE),
        Parameter(BRAND_QUERY, "query", f"the brand, as {BRAND_HEADER} names it", TENANT_VALUE),
    )
    response_model = AggregateResponse
    error_model = AggregateError
    example = Example(
        "daily revenue of two event types for one brand, last 7 days",
        body={
            "event_types": ["purchase", "add_to_cart"],
            "group_by": "day",
            "aggregation": "sum",
            "value_field": "amount",
            "time_window_days": 7,
        },
        path={"workspaceId": "ws_acme"},
        headers={BRAND_HEADER: "br_acme_main"},
    )

    def parse(self, incoming: Incoming, call: Call) -> tuple[Target, AggregateRequest]:
        return parse_request(
            incoming.path["workspaceId"],
            incoming.headers,
            incoming.query_values(BRAND_QUERY),
            incoming.body,
        )

    def to_queries(self, request: tuple[Target, AggregateRequest], call: Call) -> list[Query]:
        target, body = request
        return [to_query(body, target, call.now)]

    def render(
        self, results: Sequence[Result], request: tuple[Target, AggregateRequest], call: Call
    ) -> dict[str, Any]:
        return render(results[0], request[1])

    def render_error(self, error: TallyError, trace: str) -> dict[str, Any]:
        return render_error(error, trace)


PROFILE = DashboardsAggregate()
