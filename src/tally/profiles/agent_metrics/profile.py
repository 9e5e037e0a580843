"""`POST /api/svc/v1/llm-gateway/metrics/query`: agent metrics (profile 001).

The tenant is the principal's: every tenant its token may read (one, for a tenant's key), or the
ones named in an optional `X-Tenant-Id` header (comma-separated), which narrows and never widens
(a tenant outside the token is a 403). Row-level access (own subject and teams below admin)
comes from the catalog's `row_access`, applied by the service's scope like every tenant rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from tally.errors import ErrorDetail, TallyError
from tally.profiles.agent_metrics.errors import MetricsError, metrics_error, too_many_points
from tally.profiles.agent_metrics.fields import DATASOURCES
from tally.profiles.agent_metrics.models import MetricsQuery, parse_request
from tally.profiles.agent_metrics.render import render
from tally.profiles.agent_metrics.translate import Plan, translate
from tally.profiles.contract import Call, Example, Incoming, Parameter, Profile
from tally.query.model import Query
from tally.result import Result

TENANT_HEADER = "X-Tenant-Id"
MAX_POINTS = 10_000


class Points(BaseModel):
    dataPoints: list[dict[str, Any]] = Field(
        description="one point per bucket and group: `startTimestamp`/`endTimestamp` for a "
        "timeseries, each groupBy field, and each aggregation under its API name"
    )


class MetricsResponse(BaseModel):
    data: Points


def requested_tenants(incoming: Incoming) -> list[str] | None:
    names = [t.strip() for t in incoming.headers.get(TENANT_HEADER, "").split(",")]
    return [t for t in names if t] or None


class AgentMetrics(Profile[Plan]):
    name = "agent_metrics"
    datasets = tuple(source.dataset for source in DATASOURCES.values())
    summary = "Agent metrics (profile 001)"
    description = __doc__ or ""
    path = "/api/svc/v1/llm-gateway/metrics/query"
    request_model = MetricsQuery
    parameters = (
        Parameter(
            TENANT_HEADER,
            "header",
            "narrows the answer to these tenants (comma-separated); never widens the token",
            {"type": "string", "maxLength": 4096},
        ),
    )
    response_model = MetricsResponse
    error_model = MetricsError
    example = Example(
        "hourly p95 latency per agent over one day",
        body={
            "startTs": "2026-01-01T00:00:00Z",
            "endTs": "2026-01-02T00:00:00Z",
            "datasource": "agentMetrics",
            "type": "timeseries",
            "interval": "1 hour",
            "aggregations": [{"type": "p95", "column": "latencyMs"}],
            "groupBy": ["agentName"],
        },
        headers={TENANT_HEADER: "tn_acme"},
    )

    def parse(self, incoming: Incoming, call: Call) -> Plan:
        body = parse_request(incoming.body)
        source = DATASOURCES.get(body.datasource)
        if source is None:
            reason = f'Unknown datasource "{body.datasource}" (known: {", ".join(DATASOURCES)})'
            raise TallyError.invalid([ErrorDetail("/datasource", reason)])
        max_points = min(MAX_POINTS, call.limits.max_rows)
        dataset = call.catalog.require(source.dataset)
        return translate(body, source, dataset, requested_tenants(incoming), max_points)

    def to_queries(self, request: Plan, call: Call) -> list[Query]:
        return [request.query]

    def render(self, results: Sequence[Result], request: Plan, call: Call) -> dict[str, Any]:
        result = results[0]
        if result.meta.get("total_rows", 0) > request.max_points:
            raise too_many_points(request.max_points)
        return render(request, result)

    def render_error(self, error: TallyError, trace: str) -> dict[str, Any]:
        return metrics_error(error, trace)


PROFILE = AgentMetrics()
