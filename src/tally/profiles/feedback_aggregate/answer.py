"""Run the queries of a request and assemble the response.

Each query is answered through the caller's runner (validation, the principal's scope narrowed
to the request's project, the cache). A query whose groups outnumber the row cap is read page
by page, so a wide grouping is answered completely instead of being cut at the cap.
"""

from __future__ import annotations

from typing import Any

from tally.profiles.feedback_aggregate.models import FeedbackAggregateReq
from tally.profiles.feedback_aggregate.render import Buckets
from tally.profiles.feedback_aggregate.translate import queries
from tally.query.limits import Limits
from tally.query.model import Query
from tally.result import Runner


def all_rows(runner: Runner, query: Query) -> list[dict[str, Any]]:
    """Every row of `query`, in its order, one page of `query.limit` rows at a time."""
    rows: list[dict[str, Any]] = []
    while True:
        page = query.model_copy(update={"offset": len(rows)})
        result = runner.run(page)
        rows.extend(result.rows)
        if not result.rows or len(rows) >= result.meta.get("total_rows", 0):
            return rows


def aggregate(runner: Runner, limits: Limits, req: FeedbackAggregateReq) -> dict[str, Any]:
    buckets = Buckets(req)
    planned = queries(req, limits.max_window_days, limits.max_rows)
    buckets.add_totals(all_rows(runner, planned.totals))
    buckets.add_tags(all_rows(runner, planned.tags))
    buckets.add_ratings(all_rows(runner, planned.ratings))
    return buckets.body()
