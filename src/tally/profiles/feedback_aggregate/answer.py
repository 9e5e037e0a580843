"""Run the queries of a request through the service and assemble the response.

Each query is planned and answered by the service (validation, the principal's scope narrowed
to the request's project, the cache). A query whose groups outnumber the row cap is read page
by page, so a wide grouping is answered completely instead of being cut at the cap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tally.profiles.feedback_aggregate.models import FeedbackAggregateReq
from tally.profiles.feedback_aggregate.render import Buckets
from tally.profiles.feedback_aggregate.translate import queries
from tally.query.model import Query

if TYPE_CHECKING:
    from tally.auth.principal import Principal
    from tally.service import Service


def all_rows(service: Service, principal: Principal, query: Query) -> list[dict[str, Any]]:
    """Every row of `query`, in its order, one page of `query.limit` rows at a time."""
    rows: list[dict[str, Any]] = []
    while True:
        page = query.model_copy(update={"offset": len(rows)})
        result = service.run(page, principal)
        rows.extend(result.rows)
        if not result.rows or len(rows) >= result.meta.get("total_rows", 0):
            return rows


def aggregate(service: Service, principal: Principal, req: FeedbackAggregateReq) -> dict[str, Any]:
    limits = service.settings.limits
    buckets = Buckets(req)
    planned = queries(req, limits.max_window_days, limits.max_rows)
    buckets.add_totals(all_rows(service, principal, planned.totals))
    buckets.add_tags(all_rows(service, principal, planned.tags))
    buckets.add_ratings(all_rows(service, principal, planned.ratings))
    return buckets.body()
