"""Reports about what a tenant has configured: counts of entities, budgets, suppressions.

Entity datasets keep the latest version of each row (upsert), so these counts follow status
changes as soon as a new version is ingested. None of them depends on the time window.
"""

from __future__ import annotations

from typing import Any

from tally.query.model import Measure
from tally.reports.decisioning.context import Context, asc, count, desc, eq, ratio

# What "active" means for each entity counted by `summary`.
LIVE_STATUS = {
    "offers": "active",
    "channels": "active",
    "experiments": "running",
    "journeys": "active",
    "triggers": "enabled",
    "approvals": "pending",
}
SUMMARY_KEYS = {
    "offers": "activeOffers",
    "channels": "channels",
    "experiments": "experiments",
    "journeys": "journeys",
    "triggers": "triggers",
    "approvals": "pendingApprovals",
}


def _live(ctx: Context, dataset: str) -> int:
    return ctx.totals(dataset, [count("live")], filter=eq("status", LIVE_STATUS[dataset]))["live"]


def summary(ctx: Context) -> dict[str, int]:
    return {key: _live(ctx, dataset) for dataset, key in SUMMARY_KEYS.items()}


def funnel(ctx: Context) -> dict[str, int]:
    offers = ctx.totals(
        "offers", [count("total"), count("active", eq("status", LIVE_STATUS["offers"]))]
    )
    creatives = ctx.totals(
        "creatives",
        [count("total"), Measure(op="count_distinct", field="offer_id", as_="offers")],
    )
    return {
        "totalOffers": offers["total"],
        "activeOffers": offers["active"],
        "offersWithCreatives": creatives["offers"],
        "totalCreatives": creatives["total"],
    }


def budget_burn(ctx: Context) -> list[dict[str, Any]]:
    """Per offer, highest burn rate first (ties by offerId)."""
    names = ctx.names("offers")
    found = ctx.rows(
        "budget_allocations",
        measures=[
            Measure(op="sum", field="allocated", as_="allocated"),
            Measure(op="sum", field="spent", as_="spent"),
        ],
        group_by=["offer_id"],
        order_by=[asc("offer_id")],
    )
    out = [
        {
            "offerId": row["offer_id"],
            "offerName": names.get(row["offer_id"]),
            "allocated": row["allocated"],
            "spent": row["spent"],
            "remaining": row["allocated"] - row["spent"],
            "burnRate": ratio(row["spent"], row["allocated"]),
        }
        for row in found
    ]
    return sorted(out, key=lambda r: -r["burnRate"])


def policy_impact(ctx: Context) -> list[dict[str, Any]]:
    found = ctx.rows(
        "suppressions",
        filter=eq("active", True),
        measures=[count("active")],
        group_by=["policy_type"],
        order_by=[desc("active"), asc("policy_type")],
    )
    return [{"policyType": r["policy_type"], "activeSuppressions": r["active"]} for r in found]
