"""The decisioning dashboard reports (profile 004's `type`s), each built from IR queries.

`REPORTS` names every report with what it reads from the request: whether it reads the time
window (`days`), the options it accepts (field names of `Ask`), the groupBy values it knows (the
first is the default), and the options it requires. The HTTP profile checks requests against
these declarations, so a report and the parameters it reads cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tally.reports.decisioning import anomaly, inventory, models, performance, scoring
from tally.reports.decisioning.context import Ask, Context, TooManyValues
from tally.reports.decisioning.segments import SegmentUnavailable

__all__ = ["DATASETS", "REPORTS", "Ask", "Context", "Report", "SegmentUnavailable", "TooManyValues"]


@dataclass(frozen=True)
class Report:
    build: Callable[[Context], Any]
    options: frozenset[str] = frozenset()
    group_by: tuple[str, ...] = ()
    default_group: bool = False
    required: frozenset[str] = frozenset()
    windowed: bool = True


SEGMENT = frozenset({"segment_id"})
DATASETS = (
    "approvals", "attributions", "budget_allocations", "categories", "channels", "creatives",
    "decision_candidates", "decision_traces", "experiments", "interactions", "journeys",
    "model_features", "model_metrics", "offers", "runs", "segment_members", "segments",
    "suppressions", "triggers",
)  # fmt: skip
"""The datasets the reports read."""

REPORTS: dict[str, Report] = {
    "summary": Report(inventory.summary, windowed=False),
    "acceptance_rate": Report(performance.acceptance_rate, SEGMENT),
    "offer_performance": Report(performance.offer_performance, SEGMENT),
    "channel_effectiveness": Report(performance.channel_effectiveness, SEGMENT),
    "budget_burn": Report(inventory.budget_burn, windowed=False),
    "funnel": Report(inventory.funnel, windowed=False),
    "attribution_summary": Report(performance.attribution_summary),
    "daily_trend": Report(performance.daily_trend, SEGMENT),
    "model_metrics_trend": Report(models.model_metrics_trend, frozenset({"model_id"})),
    "latency_trend": Report(models.latency_trend),
    "offer_performance_grouped": Report(
        performance.offer_performance_grouped,
        SEGMENT | {"group_by"},
        group_by=("channel", "category", "segment"),
        default_group=True,
    ),
    "revenue_trend": Report(performance.revenue_trend, SEGMENT),
    "policy_impact": Report(inventory.policy_impact, windowed=False),
    "score_distribution": Report(
        scoring.score_distribution,
        frozenset({"group_by", "filter_id"}),
        group_by=("channel", "offer", "category"),
    ),
    "degraded_scoring": Report(scoring.degraded_scoring),
    "selection_frequency": Report(
        scoring.selection_frequency,
        SEGMENT | {"channel_id", "category_id", "decision_flow_id"},
    ),
    "anomaly_candidates": Report(anomaly.anomaly_candidates, frozenset({"baseline_days"})),
    "why_not_ranked": Report(
        scoring.why_not_ranked, SEGMENT | {"offer_id"}, required=frozenset({"offer_id"})
    ),
    "decision_traces_summary": Report(scoring.decision_traces_summary),
}
