"""`POST /v1/records/statistics`: grouped statistics over records (profile 002).

The workspace comes from `workspaceId` in the body (or is the key's only one); money amounts get
a currency probe beside the statistics query, so `meta.currency` can say which one they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from tally.errors import ErrorDetail, TallyError
from tally.profiles.contract import Call, Example, Incoming, Profile
from tally.profiles.records_statistics.currency import currency_meta
from tally.profiles.records_statistics.errors import StatisticsError, render_error
from tally.profiles.records_statistics.fields import ROOTS
from tally.profiles.records_statistics.models import StatisticsRequest, parse_request
from tally.profiles.records_statistics.render import render, whole_valued
from tally.profiles.records_statistics.translate import Plan, translate
from tally.query.model import Query
from tally.result import Result


class StatisticsMeta(BaseModel):
    currency: str | None = Field(
        default=None,
        description="present when a money amount is aggregated: the one currency of the "
        "amounts read (null when they are mixed)",
    )
    warnings: list[str] | None = Field(default=None, description="present when there is one")


class StatisticsResponse(BaseModel):
    data: list[dict[str, Any]] = Field(
        description="one row per group: the group paths as given and each aggregation's alias"
    )
    meta: StatisticsMeta


class RecordsStatistics(Profile[Plan]):
    name = "records_statistics"
    datasets = ROOTS
    summary = "Records statistics (profile 002)"
    description = __doc__ or ""
    path = "/v1/records/statistics"
    request_model = StatisticsRequest
    response_model = StatisticsResponse
    error_model = StatisticsError
    example = Example(
        "invoices issued or paid, by status, in one workspace",
        body={
            "root": "invoices",
            "workspaceId": "ws_globex",
            "filters": [
                {"field": "status", "operator": "in", "value": ["issued", "paid"]},
            ],
            "aggregations": [
                {"op": "count", "field": "*", "alias": "invoice_count"},
                {"op": "sum", "field": "grand_total.amount", "alias": "total_billed"},
            ],
            "group_by": ["status"],
        },
    )

    def parse(self, incoming: Incoming, call: Call) -> Plan:
        return translate(parse_request(incoming.body), call.catalog, call.limits)

    def to_queries(self, request: Plan, call: Call) -> list[Query]:
        if request.currency_query is None:
            return [request.query]
        return [request.query, request.currency_query]

    def render(self, results: Sequence[Result], request: Plan, call: Call) -> dict[str, Any]:
        whole = whole_valued(request.query, call.catalog.require(request.query.dataset))
        if request.currency_query is None:
            return render(results[0], whole)
        currency, warnings = currency_meta(results[1].rows[0], request.money, results[0].groups)
        return render(results[0], whole, currency, warnings)

    def refine_error(self, error: TallyError, request: Plan) -> TallyError:
        """A refused workspace names `workspaceId`, the field the caller has to change."""
        if error.status == 403 and request.query.scope is not None and not error.details:
            detail = ErrorDetail("/workspaceId", error.message)
            return TallyError(error.code, error.message, 403, [detail])
        return error

    def render_error(self, error: TallyError, trace: str) -> dict[str, Any]:
        return render_error(error, trace)


PROFILE = RecordsStatistics()
