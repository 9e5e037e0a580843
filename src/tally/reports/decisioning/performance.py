"""Reports on interactions: how offers and channels perform over the window.

Counts are one query each, with per-measure filters on `kind` (impressions are the rows of kind
impression, and so on); revenue is the sum of `value` over conversions. Rows of a grouping are
the groups that had at least one interaction of a kind the report counts; names come from small
lookups of the entity datasets (null for an id no entity row has). Every report here accepts
`segmentId`: its members narrow the interactions first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tally.query.model import Filter, Leaf, Measure
from tally.reports.decisioning.context import (
    Context,
    all_of,
    asc,
    count,
    desc,
    eq,
    labelled,
    one_of,
    ratio,
)
from tally.reports.decisioning.segments import active_segments, asked_segment, members

TOP_OFFERS = 20
IMPRESSION = eq("kind", "impression")
CONVERSION = eq("kind", "conversion")
IMPRESSIONS = count("impressions", IMPRESSION)
CONVERSIONS = count("conversions", CONVERSION)
REVENUE = Measure(op="sum", field="value", as_="revenue", filter=CONVERSION)
PERFORMANCE = [IMPRESSIONS, CONVERSIONS, REVENUE]


def kinds(*names: str) -> Filter:
    return Leaf(field="kind", op="in", value=list(names))


def _performance(row: dict[str, Any], offers: dict[str, str]) -> dict[str, Any]:
    return labelled(row["offer_id"], offers, "offer") | {
        "impressions": row["impressions"],
        "conversions": row["conversions"],
        "revenue": row["revenue"] or 0,
        "conversionRate": ratio(row["conversions"], row["impressions"]),
    }


def acceptance_rate(ctx: Context) -> list[dict[str, Any]]:
    """Per offer, impressions descending (ties by offerId)."""
    found = ctx.by_offer(
        "interactions",
        "impressions",
        time=ctx.window,
        filter=all_of([kinds("impression", "positive", "negative"), asked_segment(ctx)]),
        measures=[
            IMPRESSIONS,
            count("positive", eq("kind", "positive")),
            count("negative", eq("kind", "negative")),
        ],
    )
    return [
        offer
        | {
            "impressions": row["impressions"],
            "positive": row["positive"],
            "negative": row["negative"],
            "acceptRate": ratio(row["positive"], row["impressions"]),
        }
        for offer, row in found
    ]


def offer_performance(ctx: Context) -> list[dict[str, Any]]:
    """The 20 active offers with the most impressions (ties by offerId). An active offer without
    interactions in the window has zero impressions, so it can complete the list too."""
    segment = asked_segment(ctx)
    active = ctx.names("offers", eq("status", "active"))
    if not active:
        return []
    found = ctx.page(
        "interactions",
        time=ctx.window,
        filter=all_of(
            [kinds("impression", "conversion"), one_of("offer_id", list(active), "offers"), segment]
        ),
        measures=PERFORMANCE,
        group_by=["offer_id"],
        order_by=[desc("impressions"), asc("offer_id")],
        limit=TOP_OFFERS,
    )
    seen = {row["offer_id"] for row in found}
    idle = [
        {"offer_id": key, "impressions": 0, "conversions": 0, "revenue": 0}
        for key in sorted(active)
        if key not in seen
    ]
    ranked = sorted([*found, *idle], key=lambda row: (-row["impressions"], row["offer_id"]))
    return [_performance(row, active) for row in ranked[:TOP_OFFERS]]


def _per_offer(ctx: Context, where: Filter | None, *groups: str) -> list[dict[str, Any]]:
    return ctx.rows(
        "interactions",
        time=ctx.window,
        filter=all_of([kinds("impression", "conversion"), where]),
        measures=PERFORMANCE,
        group_by=[*groups, "offer_id"],
        order_by=[*(asc(g) for g in groups), desc("impressions"), asc("offer_id")],
    )


def _by_channel(ctx: Context, offers: dict[str, str]) -> list[dict[str, Any]]:
    channels = ctx.names("channels")
    return [
        labelled(row["channel_id"], channels, "channel") | _performance(row, offers)
        for row in _per_offer(ctx, asked_segment(ctx), "channel_id")
    ]


def _by_category(ctx: Context, offers: dict[str, str]) -> list[dict[str, Any]]:
    """An offer has one category, so the rows are the offers' rows labelled with it."""
    segment = asked_segment(ctx)
    category_of = {k: r["category_id"] for k, r in ctx.lookup("offers", ["category_id"]).items()}
    categories = ctx.names("categories")
    rows = [
        labelled(category_of.get(row["offer_id"]), categories, "category")
        | _performance(row, offers)
        for row in _per_offer(ctx, segment)
    ]
    return sorted(rows, key=lambda r: (r["categoryId"] is None, r["categoryId"] or ""))


def _by_segment(ctx: Context, offers: dict[str, str]) -> list[dict[str, Any]]:
    """One block of offer rows per active, materialized segment, by segmentId."""
    asked_segment(ctx)
    return [
        {"segmentId": segment.id, "segmentName": segment.name} | _performance(row, offers)
        for segment in active_segments(ctx)
        for row in _per_offer(ctx, members(ctx, segment.id))
    ]


GROUPED: dict[str, Callable[[Context, dict[str, str]], list[dict[str, Any]]]] = {
    "channel": _by_channel,
    "category": _by_category,
    "segment": _by_segment,
}


def offer_performance_grouped(ctx: Context) -> list[dict[str, Any]]:
    """Flat rows by group ascending, then impressions descending, then offerId."""
    grouping = GROUPED[ctx.ask.group_by or "channel"]
    return grouping(ctx, ctx.names("offers"))


def channel_effectiveness(ctx: Context) -> list[dict[str, Any]]:
    """Per channel, impressions descending (ties by channelId)."""
    segment = asked_segment(ctx)
    found = ctx.rows(
        "interactions",
        time=ctx.window,
        filter=all_of([kinds("impression", "conversion"), segment]),
        measures=[IMPRESSIONS, CONVERSIONS],
        group_by=["channel_id"],
        order_by=[desc("impressions"), asc("channel_id")],
    )
    channels = ctx.names("channels")
    return [
        labelled(row["channel_id"], channels, "channel")
        | {
            "impressions": row["impressions"],
            "conversions": row["conversions"],
            "effectivenessRate": ratio(row["conversions"], row["impressions"]),
        }
        for row in found
    ]


def attribution_summary(ctx: Context) -> list[dict[str, Any]]:
    found = ctx.rows(
        "attributions",
        time=ctx.window,
        measures=[count("conversions"), Measure(op="sum", field="value", as_="totalValue")],
        group_by=["model"],
        order_by=[asc("model")],
    )
    return [
        {"model": r["model"], "conversions": r["conversions"], "totalValue": r["totalValue"] or 0}
        for r in found
    ]


def daily_trend(ctx: Context) -> list[dict[str, Any]]:
    return ctx.daily("interactions", [IMPRESSIONS, CONVERSIONS], filter=asked_segment(ctx))


def revenue_trend(ctx: Context) -> list[dict[str, Any]]:
    return ctx.daily("interactions", [REVENUE], filter=asked_segment(ctx))
