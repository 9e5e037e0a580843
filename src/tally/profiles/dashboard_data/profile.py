"""`GET /api/v1/dashboard-data?type=...`: decisioning dashboard data for one tenant (profile 004).

The tenant comes from `X-Tenant-Id` (or is the principal's only tenant); the principal's scope
is applied to every query of the report, so a tenant outside it is a 403. A report asks
questions that depend on earlier answers, so it runs through a runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from tally.errors import TallyError
from tally.profiles.contract import READ_ERRORS, Call, Example, Incoming, Parameter, Profile
from tally.profiles.dashboard_data.answer import answer
from tally.profiles.dashboard_data.errors import DashboardDataError, render_error
from tally.profiles.dashboard_data.models import (
    TENANT_HEADER,
    TENANT_PATTERN,
    DashboardDataParams,
    tenant_of,
)
from tally.profiles.dashboard_data.translate import to_report
from tally.reports.decisioning import DATASETS, REPORTS, Ask, Report
from tally.result import Runner


@dataclass(frozen=True)
class Asked:
    report: Report
    ask: Ask
    tenant: str


class DashboardDataResponse(BaseModel):
    data: list[dict[str, Any]] | dict[str, Any] = Field(
        description="the report of the asked type (see the 004 spec for each type's fields)"
    )
    warning: str | None = Field(
        default=None, description="set (with empty data) when a segment is not materialized"
    )


def _query_parameters() -> tuple[Parameter, ...]:
    """Every query parameter of the model, under its API name, with the model's own schema."""
    schema = DashboardDataParams.model_json_schema(by_alias=True)["properties"]
    found = []
    for name, field in schema.items():
        described = dict(field)
        if name == "type":
            described["enum"] = list(REPORTS)
        text = described.pop("description", None) or f"the report's {name}"
        text += " (ignored by the types that do not read it)" if name != "type" else ""
        found.append(Parameter(name, "query", text, described))
    return tuple(found)


class DashboardData(Profile[Asked]):
    name = "dashboard_data"
    datasets = DATASETS
    summary = "Decisioning dashboard data (profile 004)"
    description = __doc__ or ""
    method = "GET"
    path = "/api/v1/dashboard-data"
    parameters = (
        *_query_parameters(),
        Parameter(
            TENANT_HEADER,
            "header",
            "the tenant asked about (needed when the token may read several)",
            {"type": "string", "pattern": TENANT_PATTERN.pattern},
        ),
    )
    response_model = DashboardDataResponse
    error_model = DashboardDataError
    errors = READ_ERRORS
    example = Example(
        "the daily trend of the last 30 days",
        query={"type": "daily_trend", "days": "30"},
        headers={TENANT_HEADER: "tn_acme"},
    )

    def parse(self, incoming: Incoming, call: Call) -> Asked:
        report, ask = to_report(incoming.query)
        return Asked(report, ask, tenant_of(incoming.headers, call.principal))

    def answer(self, request: Asked, call: Call, runner: Runner) -> Any:
        return answer(
            runner, request.tenant, request.report, request.ask, call.now, call.limits.max_rows
        )

    def render_error(self, error: TallyError, trace: str) -> dict[str, Any]:
        return render_error(error, trace)


PROFILE = DashboardData()
