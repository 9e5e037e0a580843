"""Reports on decisions: score histograms, degraded scoring, selection, why an offer lost.

Candidate outcomes partition the candidate rows: qualification_rejected, contact_policy_blocked,
outranked, selected. "Eligible" (and "qualified") means not rejected by qualification; "scored"
means the row has a score. selection_frequency and why_not_ranked read the candidates of the
most recent 10,000 traces of the window (see `sample`).
"""

from __future__ import annotations

from typing import Any

from tally.query.model import And, Filter, Leaf, Measure
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
from tally.reports.decisioning.sample import recent_traces
from tally.reports.decisioning.segments import asked_segment

BINS = [(i / 10, (i + 1) / 10) for i in range(10)]
RANKS = range(1, 11)
TOP_WINNERS = 5
SCORED = Leaf(field="score", op="not_null")
ELIGIBLE = Leaf(field="outcome", op="neq", value="qualification_rejected")
SELECTED = eq("outcome", "selected")
# groupBy of score_distribution -> the candidate column grouped and the names of the groups
# (categories are grouped by offer, then each offer's counts go to its category).
SCORE_GROUPS = {
    "channel": ("channel_id", "channels"),
    "offer": ("offer_id", "offers"),
    "category": ("offer_id", "categories"),
}


def _bin_measures() -> list[Measure]:
    """Ten counts over [0, 1]; every bin is [lower, upper) but the last, which is closed."""
    measures = []
    for i, (lower, upper) in enumerate(BINS):
        top = "lte" if i == len(BINS) - 1 else "lt"
        inside = And(
            and_=[
                Leaf(field="score", op="gte", value=lower),
                Leaf(field="score", op=top, value=upper),
            ]
        )
        measures.append(count(f"bin{i}", inside))
    return measures


def _bins(counts: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "bin": f"{lower:.1f}-{upper:.1f}",
            "lower": lower,
            "upper": upper,
            "count": counts[f"bin{i}"],
        }
        for i, (lower, upper) in enumerate(BINS)
    ]


def _category_offers(ctx: Context) -> dict[str, str | None]:
    return {k: r["category_id"] for k, r in ctx.lookup("offers", ["category_id"]).items()}


def score_distribution(ctx: Context) -> list[dict[str, Any]]:
    """The histogram, or one histogram per group (by groupId, nulls last); filterId keeps the
    group of that id. Categories are the sums of their offers' histograms."""
    group_by, filter_id = ctx.ask.group_by, ctx.ask.filter_id
    measures = _bin_measures()
    if group_by is None:
        found = ctx.totals("decision_candidates", measures, time=ctx.window, filter=SCORED)
        return _bins(found)
    category_of = _category_offers(ctx) if group_by == "category" else {}
    column, names_of = SCORE_GROUPS[group_by]
    keep: Filter | None = None
    if filter_id is not None and group_by == "category":
        offers = [offer for offer, category in category_of.items() if category == filter_id]
        keep = one_of("offer_id", offers, f"category {filter_id}")
    elif filter_id is not None:
        keep = eq(column, filter_id)
    found = ctx.rows(
        "decision_candidates",
        time=ctx.window,
        filter=all_of([SCORED, keep]),
        measures=measures,
        group_by=[column],
        order_by=[asc(column)],
    )
    groups: dict[str | None, dict[str, int]] = {}
    for row in found:
        key = category_of.get(row[column]) if group_by == "category" else row[column]
        total = groups.setdefault(key, {m.as_ or "": 0 for m in measures})
        for name in total:
            total[name] += row[name]
    names = ctx.names(names_of)
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    return [labelled(key, names, "group") | {"bins": _bins(counts)} for key, counts in ordered]


def degraded_scoring(ctx: Context) -> dict[str, Any]:
    found = ctx.totals(
        "decision_traces",
        [count("degraded", eq("degraded", True)), count("total")],
        time=ctx.window,
    )
    return {
        "degradedCount": found["degraded"],
        "totalCount": found["total"],
        "degradedRate": ratio(found["degraded"], found["total"]),
    }


def decision_traces_summary(ctx: Context) -> dict[str, Any]:
    """Candidates per trace of the window, by outcome; every average is over all traces."""
    traces = ctx.totals("decision_traces", [count("traces")], time=ctx.window)["traces"]
    found = ctx.totals(
        "decision_candidates",
        [
            count("candidates"),
            count("qualified", ELIGIBLE),
            count("blocked", eq("outcome", "contact_policy_blocked")),
            count("scored", SCORED),
            count("selected", SELECTED),
        ],
        time=ctx.window,
    )
    return {
        "traces": traces,
        "avgCandidates": ratio(found["candidates"], traces),
        "avgQualified": ratio(found["qualified"], traces),
        "avgPolicyBlocked": ratio(found["blocked"], traces),
        "avgScored": ratio(found["scored"], traces),
        "avgSelected": ratio(found["selected"], traces),
    }


def selection_frequency(ctx: Context) -> list[dict[str, Any]]:
    """Per offer over the sample, most selected first (ties by offerId)."""
    ask = ctx.ask
    traces = all_of(
        [
            eq("channel_id", ask.channel_id) if ask.channel_id else None,
            eq("decision_flow_id", ask.decision_flow_id) if ask.decision_flow_id else None,
            asked_segment(ctx),
        ]
    )
    offers: Filter | None = None
    if ask.category_id is not None:
        chosen = [o for o, c in _category_offers(ctx).items() if c == ask.category_id]
        offers = one_of("offer_id", chosen, f"category {ask.category_id}")
    sample = recent_traces(ctx, traces)
    found = ctx.by_offer(
        "decision_candidates",
        "selected",
        time=ctx.window,
        filter=all_of([sample.where, offers]),
        measures=[
            count("eligible", ELIGIBLE),
            count("scored", SCORED),
            count("selected", SELECTED),
            Measure(op="avg", field="rank", as_="avgRank"),
            *(count(f"rank{r}", eq("rank", r)) for r in RANKS),
        ],
    )
    return [
        offer
        | {
            "eligible": row["eligible"],
            "scored": row["scored"],
            "selected": row["selected"],
            "selectionRate": ratio(row["selected"], row["eligible"]),
            "avgRank": row["avgRank"],
            "rankDistribution": [row[f"rank{r}"] for r in RANKS],
        }
        for offer, row in found
    ]


def _beaten_by(ctx: Context, outranked: Filter) -> list[dict[str, Any]]:
    """The winners of the traces where the offer was outranked, top 5 (ties by offerId)."""
    lost = ctx.rows(
        "decision_candidates",
        time=ctx.window,
        filter=outranked,
        group_by=["trace_id"],
        order_by=[asc("trace_id")],
    )
    if not lost:
        return []
    winners = ctx.page(
        "decision_traces",
        time=ctx.window,
        filter=And(
            and_=[
                one_of("id", [row["trace_id"] for row in lost], "outranked traces"),
                Leaf(field="winner_offer_id", op="not_null"),
            ]
        ),
        measures=[count("count")],
        group_by=["winner_offer_id"],
        order_by=[desc("count"), asc("winner_offer_id")],
        limit=TOP_WINNERS,
    )
    names = ctx.names("offers")
    return [
        labelled(row["winner_offer_id"], names, "offer") | {"count": row["count"]}
        for row in winners
    ]


def why_not_ranked(ctx: Context) -> dict[str, Any]:
    """Every miss of the offer counted once, under the reason its outcome names."""
    offer_id = ctx.ask.offer_id or ""
    sample = recent_traces(ctx, asked_segment(ctx))
    mine = all_of([sample.where, eq("offer_id", offer_id)])
    found = ctx.totals(
        "decision_candidates",
        [
            count("considered"),
            count("selected", SELECTED),
            count("qualification", eq("outcome", "qualification_rejected")),
            count("contactPolicy", eq("outcome", "contact_policy_blocked")),
            count("outranked", eq("outcome", "outranked")),
        ],
        time=ctx.window,
        filter=mine,
    )
    beaten = []
    if found["outranked"]:
        beaten = _beaten_by(ctx, And(and_=[mine, eq("outcome", "outranked")]))
    return {
        "offerId": offer_id,
        "offerName": ctx.names("offers", eq("id", offer_id)).get(offer_id),
        "sampleSize": sample.size,
        "sampleCap": sample.cap,
        "considered": found["considered"],
        "selected": found["selected"],
        "missed": found["considered"] - found["selected"],
        "reasons": {
            "qualification": found["qualification"],
            "contactPolicy": found["contactPolicy"],
            "outranked": found["outranked"],
        },
        "beatenBy": beaten,
    }
