"""Reports on the scoring models and the decision flows' execution: AUC and latency per day."""

from __future__ import annotations

from typing import Any

from tally.query.model import Measure
from tally.reports.decisioning.context import NOTHING, Context, asc, count, desc, eq


def latest_model(ctx: Context) -> str | None:
    """The model with the most recent metric of all time (ties by model id)."""
    found = ctx.page(
        "model_metrics",
        measures=[Measure(op="max", field="ts", as_="latest")],
        group_by=["model_id"],
        order_by=[desc("latest"), asc("model_id")],
        limit=1,
    )
    return found[0]["model_id"] if found else None


def model_metrics_trend(ctx: Context) -> dict[str, Any]:
    """The daily mean AUC of one model (zero-filled like every daily series) and its features
    by importance descending (ties by name)."""
    model_id = ctx.ask.model_id or latest_model(ctx)
    which = eq("model_id", model_id) if model_id else NOTHING
    trend = ctx.daily("model_metrics", [Measure(op="avg", field="auc", as_="auc")], filter=which)
    features = ctx.rows(
        "model_features",
        filter=which,
        measures=[Measure(op="max", field="importance", as_="importance")],
        group_by=["feature"],
        order_by=[desc("importance"), asc("feature")],
    )
    return {
        "modelId": model_id,
        "trend": trend,
        "featureImportance": [
            {"feature": f["feature"], "importance": f["importance"]} for f in features
        ],
    }


def latency_trend(ctx: Context) -> list[dict[str, Any]]:
    """Runs per day with exact (interpolated) p50 and p99 of latency_ms. A day without runs has
    0 runs and no percentiles (null): 0 ms would read as a real, very fast day on a chart."""
    return ctx.daily(
        "runs",
        [
            count("runs"),
            Measure(op="percentile", field="latency_ms", q=0.5, as_="p50"),
            Measure(op="percentile", field="latency_ms", q=0.99, as_="p99"),
        ],
        valueless=frozenset({"p50", "p99"}),
    )
