"""Every `data` of /api/v1/dashboard-data recomputed in plain Python from the ingested rows.

Nothing here calls Tally: windows, filters, groupings, percentiles, the trace sample (sorted
here by (ts, id), then cut) and the anomaly statistics are written out from the spec.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.profiles.dashboard_data_support import NOW, Rows

CAP = 10_000
WINDOW_END = NOW.replace(second=0, microsecond=0) + timedelta(minutes=1)


def when(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["ts"])


def first_day(days: int) -> datetime:
    day = NOW.date() - timedelta(days=days - 1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def in_window(rows: list[dict[str, Any]], days: int) -> list[dict[str, Any]]:
    return [r for r in rows if first_day(days) <= when(r) < WINDOW_END]


def dates(days: int) -> list[str]:
    return [(NOW.date() - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def names(rows: Rows, dataset: str) -> dict[str, str]:
    return {r["id"]: r["name"] for r in rows[dataset]}


def ident(kind: str, value: str, known: dict[str, str]) -> dict[str, Any]:
    return {f"{kind}Id": value, f"{kind}Name": known.get(value)}


def rate(a: float, b: float) -> float:
    return a / b if b else 0


def members(rows: Rows, segment: str | None) -> set[str] | None:
    if segment is None:
        return None
    return {m["customer_id"] for m in rows["segment_members"] if m["segment_id"] == segment}


def interactions(rows: Rows, days: int, segment: str | None = None) -> list[dict[str, Any]]:
    allowed = members(rows, segment)
    found = in_window(rows["interactions"], days)
    return [r for r in found if allowed is None or r["customer_id"] in allowed]


# --- inventory ----------------------------------------------------------------------------------


def summary(rows: Rows) -> dict[str, int]:
    def live(dataset: str, status: str) -> int:
        return sum(1 for r in rows[dataset] if r["status"] == status)

    return {
        "activeOffers": live("offers", "active"),
        "channels": live("channels", "active"),
        "experiments": live("experiments", "running"),
        "journeys": live("journeys", "active"),
        "triggers": live("triggers", "enabled"),
        "pendingApprovals": live("approvals", "pending"),
    }


def funnel(rows: Rows) -> dict[str, int]:
    return {
        "totalOffers": len(rows["offers"]),
        "activeOffers": sum(1 for r in rows["offers"] if r["status"] == "active"),
        "offersWithCreatives": len({r["offer_id"] for r in rows["creatives"]}),
        "totalCreatives": len(rows["creatives"]),
    }


def budget_burn(rows: Rows) -> list[dict[str, Any]]:
    allocated: dict[str, float] = defaultdict(float)
    spent: dict[str, float] = defaultdict(float)
    for r in rows["budget_allocations"]:
        allocated[r["offer_id"]] += r["allocated"]
        spent[r["offer_id"]] += r["spent"]
    offers = names(rows, "offers")
    out = [
        {
            "offerId": o,
            "offerName": offers.get(o),
            "allocated": allocated[o],
            "spent": spent[o],
            "remaining": allocated[o] - spent[o],
            "burnRate": rate(spent[o], allocated[o]),
        }
        for o in allocated
    ]
    return sorted(out, key=lambda r: (-r["burnRate"], r["offerId"]))


def policy_impact(rows: Rows) -> list[dict[str, Any]]:
    counts = Counter(r["policy_type"] for r in rows["suppressions"] if r["active"])
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"policyType": k, "activeSuppressions": v} for k, v in ordered]


# --- performance --------------------------------------------------------------------------------


def _tally(found: list[dict[str, Any]], key: str) -> dict[str, Counter]:
    out: dict[str, Counter] = defaultdict(Counter)
    for r in found:
        out[r[key]][r["kind"]] += 1
        if r["kind"] == "conversion":
            out[r[key]]["revenue"] += r["value"]
    return out


def acceptance_rate(rows: Rows, days: int = 7, segment: str | None = None) -> list[dict]:
    kinds = ("impression", "positive", "negative")
    found = [r for r in interactions(rows, days, segment) if r["kind"] in kinds]
    offers = names(rows, "offers")
    out = [
        ident("offer", o, offers)
        | {
            "impressions": c["impression"],
            "positive": c["positive"],
            "negative": c["negative"],
            "acceptRate": rate(c["positive"], c["impression"]),
        }
        for o, c in _tally(found, "offer_id").items()
    ]
    return sorted(out, key=lambda r: (-r["impressions"], r["offerId"]))


def performance(offer: str, c: Counter, offers: dict[str, str]) -> dict[str, Any]:
    return ident("offer", offer, offers) | {
        "impressions": c["impression"],
        "conversions": c["conversion"],
        "revenue": c["revenue"],
        "conversionRate": rate(c["conversion"], c["impression"]),
    }


def _shown(rows: Rows, days: int, segment: str | None) -> list[dict[str, Any]]:
    kinds = ("impression", "conversion")
    return [r for r in interactions(rows, days, segment) if r["kind"] in kinds]


def offer_performance(rows: Rows, days: int = 7, segment: str | None = None) -> list[dict]:
    active = {r["id"]: r["name"] for r in rows["offers"] if r["status"] == "active"}
    counts = _tally(_shown(rows, days, segment), "offer_id")
    out = [performance(o, counts.get(o, Counter()), active) for o in active]
    return sorted(out, key=lambda r: (-r["impressions"], r["offerId"]))[:20]


def channel_effectiveness(rows: Rows, days: int = 7, segment: str | None = None) -> list[dict]:
    channels = names(rows, "channels")
    out = [
        ident("channel", ch, channels)
        | {
            "impressions": c["impression"],
            "conversions": c["conversion"],
            "effectivenessRate": rate(c["conversion"], c["impression"]),
        }
        for ch, c in _tally(_shown(rows, days, segment), "channel_id").items()
    ]
    return sorted(out, key=lambda r: (-r["impressions"], r["channelId"]))


def offer_performance_grouped(
    rows: Rows, days: int = 7, group: str = "channel", segment: str | None = None
) -> list[dict]:
    offers = names(rows, "offers")
    category = {r["id"]: r["category_id"] for r in rows["offers"]}
    if group == "segment":
        groups = [
            (s["id"], s["name"], _shown(rows, days, s["id"]))
            for s in rows["segments"]
            if s["status"] == "active" and s["materialized_at"] and segment in (None, s["id"])
        ]
    elif group == "channel":
        found = _shown(rows, days, segment)
        channels = names(rows, "channels")
        groups = [
            (ch, channels.get(ch), [r for r in found if r["channel_id"] == ch])
            for ch in {r["channel_id"] for r in found}
        ]
    else:
        found = _shown(rows, days, segment)
        categories = names(rows, "categories")
        groups = [
            (
                cat,
                categories.get(cat or ""),
                [r for r in found if category.get(r["offer_id"]) == cat],
            )
            for cat in {category.get(r["offer_id"]) for r in found}
        ]
    out = []
    for key, name, found in sorted(groups, key=lambda g: (g[0] is None, g[0] or "")):
        block = [performance(o, c, offers) for o, c in _tally(found, "offer_id").items()]
        block.sort(key=lambda r: (-r["impressions"], r["offerId"]))
        out += [{f"{group}Id": key, f"{group}Name": name} | r for r in block]
    return out


def daily(found: list[dict[str, Any]], days: int, **measures: Any) -> list[dict[str, Any]]:
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in found:
        by_day[when(r).date().isoformat()].append(r)
    return [{"date": d} | {k: f(by_day[d]) for k, f in measures.items()} for d in dates(days)]


def daily_trend(rows: Rows, days: int = 7, segment: str | None = None) -> list[dict]:
    return daily(
        interactions(rows, days, segment),
        days,
        impressions=lambda rs: sum(r["kind"] == "impression" for r in rs),
        conversions=lambda rs: sum(r["kind"] == "conversion" for r in rs),
    )


def revenue_trend(rows: Rows, days: int = 7, segment: str | None = None) -> list[dict]:
    return daily(
        interactions(rows, days, segment),
        days,
        revenue=lambda rs: sum(r["value"] for r in rs if r["kind"] == "conversion"),
    )


def attribution_summary(rows: Rows, days: int = 7) -> list[dict[str, Any]]:
    by_model: dict[str, list[float]] = defaultdict(list)
    for r in in_window(rows["attributions"], days):
        by_model[r["model"]].append(r["value"])
    return [
        {"model": m, "conversions": len(v), "totalValue": sum(v)}
        for m, v in sorted(by_model.items())
    ]


# --- models -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, SQL's percentile_cont)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_trend(rows: Rows, days: int = 7) -> list[dict[str, Any]]:
    def p(q: float):
        return lambda rs: percentile([r["latency_ms"] for r in rs], q) if rs else None

    return daily(in_window(rows["runs"], days), days, runs=len, p50=p(0.5), p99=p(0.99))


def model_metrics_trend(rows: Rows, days: int = 7, model: str | None = None) -> dict[str, Any]:
    metrics = rows["model_metrics"]
    if model is None:
        model = max(metrics, key=lambda r: (when(r), [-ord(c) for c in r["model_id"]]))["model_id"]
    mine = [r for r in metrics if r["model_id"] == model]
    trend = daily(
        in_window(mine, days),
        days,
        auc=lambda rs: sum(r["auc"] for r in rs) / len(rs) if rs else 0,
    )
    features = [r for r in rows["model_features"] if r["model_id"] == model]
    features.sort(key=lambda r: (-r["importance"], r["feature"]))
    return {
        "modelId": model,
        "trend": trend,
        "featureImportance": [
            {"feature": r["feature"], "importance": r["importance"]} for r in features
        ],
    }
