"""The decision reports and anomaly_candidates recomputed in plain Python (no Tally code).

The trace sample is taken the obvious way: the window's traces that pass the filters, sorted by
(ts, id) descending, the first 10,000 kept, their candidates found by trace id.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from tests.profiles.dashboard_data_oracle import (
    CAP,
    WINDOW_END,
    first_day,
    in_window,
    members,
    names,
    rate,
    when,
)
from tests.profiles.dashboard_data_support import Rows

EDGES = [i / 10 for i in range(11)]


def histogram(scores: list[float]) -> list[dict[str, Any]]:
    out = []
    for i in range(10):
        low, high = EDGES[i], EDGES[i + 1]
        last = i == 9
        n = sum(1 for s in scores if low <= s < high or (last and s == high))
        out.append({"bin": f"{low:.1f}-{high:.1f}", "lower": low, "upper": high, "count": n})
    return out


def score_distribution(
    rows: Rows, days: int = 7, group: str | None = None, keep: str | None = None
) -> list[dict[str, Any]]:
    found = [c for c in in_window(rows["decision_candidates"], days) if c["score"] is not None]
    if group is None:
        return histogram([c["score"] for c in found])
    category = {r["id"]: r["category_id"] for r in rows["offers"]}
    key_of = {
        "channel": lambda c: c["channel_id"],
        "offer": lambda c: c["offer_id"],
        "category": lambda c: category.get(c["offer_id"]),
    }[group]
    label = names(rows, {"channel": "channels", "offer": "offers"}.get(group, "categories"))
    scores: dict[str | None, list[float]] = defaultdict(list)
    for c in found:
        scores[key_of(c)].append(c["score"])
    keys = sorted(scores, key=lambda k: (k is None, k or ""))
    return [
        {"groupId": k, "groupName": label.get(k or ""), "bins": histogram(scores[k])}
        for k in keys
        if keep is None or k == keep
    ]


def degraded_scoring(rows: Rows, days: int = 7) -> dict[str, Any]:
    traces = in_window(rows["decision_traces"], days)
    degraded = sum(t["degraded"] for t in traces)
    return {
        "degradedCount": degraded,
        "totalCount": len(traces),
        "degradedRate": rate(degraded, len(traces)),
    }


def decision_traces_summary(rows: Rows, days: int = 7) -> dict[str, Any]:
    n = len(in_window(rows["decision_traces"], days))
    found = in_window(rows["decision_candidates"], days)
    outcomes = Counter(c["outcome"] for c in found)
    return {
        "traces": n,
        "avgCandidates": rate(len(found), n),
        "avgQualified": rate(len(found) - outcomes["qualification_rejected"], n),
        "avgPolicyBlocked": rate(outcomes["contact_policy_blocked"], n),
        "avgScored": rate(sum(c["score"] is not None for c in found), n),
        "avgSelected": rate(outcomes["selected"], n),
    }


def sample(rows: Rows, days: int, **equal: str | None) -> tuple[list[dict], list[dict]]:
    """(sampled traces, their candidates); `equal` keeps traces whose column has that value;
    `segment` keeps traces of the segment's members."""
    segment = equal.pop("segment", None)
    allowed = members(rows, segment)
    traces = [
        t
        for t in in_window(rows["decision_traces"], days)
        if all(v is None or t[k] == v for k, v in equal.items())
        and (allowed is None or t["customer_id"] in allowed)
    ]
    traces.sort(key=lambda t: (when(t), t["id"]), reverse=True)
    kept = traces[:CAP]
    ids = {t["id"] for t in kept}
    return kept, [c for c in rows["decision_candidates"] if c["trace_id"] in ids]


def selection_frequency(rows: Rows, params: dict[str, str], days: int = 7) -> list[dict[str, Any]]:
    """`params`: the request's channelId, categoryId, decisionFlowId and segmentId, if any."""
    _, found = sample(
        rows,
        days,
        channel_id=params.get("channelId"),
        decision_flow_id=params.get("decisionFlowId"),
        segment=params.get("segmentId"),
    )
    category = params.get("categoryId")
    if category is not None:
        chosen = {r["id"] for r in rows["offers"] if r["category_id"] == category}
        found = [c for c in found if c["offer_id"] in chosen]
    by_offer: dict[str, list[dict]] = defaultdict(list)
    for c in found:
        by_offer[c["offer_id"]].append(c)
    offers = names(rows, "offers")
    out = []
    for offer, cs in by_offer.items():
        ranks = [c["rank"] for c in cs if c["rank"] is not None]
        eligible = sum(c["outcome"] != "qualification_rejected" for c in cs)
        selected = sum(c["outcome"] == "selected" for c in cs)
        out.append(
            {
                "offerId": offer,
                "offerName": offers.get(offer),
                "eligible": eligible,
                "scored": sum(c["score"] is not None for c in cs),
                "selected": selected,
                "selectionRate": rate(selected, eligible),
                "avgRank": sum(ranks) / len(ranks) if ranks else None,
                "rankDistribution": [ranks.count(k) for k in range(1, 11)],
            }
        )
    return sorted(out, key=lambda r: (-r["selected"], r["offerId"]))


def why_not_ranked(rows: Rows, offer: str, days: int = 7, segment: str | None = None) -> dict:
    traces, found = sample(rows, days, segment=segment)
    winner = {t["id"]: t["winner_offer_id"] for t in traces}
    mine = [c for c in found if c["offer_id"] == offer]
    outcomes = Counter(c["outcome"] for c in mine)
    beaten = Counter(
        winner[c["trace_id"]]
        for c in mine
        if c["outcome"] == "outranked" and winner[c["trace_id"]] is not None
    )
    offers = names(rows, "offers")
    top = sorted(beaten.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {
        "offerId": offer,
        "offerName": offers.get(offer),
        "sampleSize": len(traces),
        "sampleCap": CAP,
        "considered": len(mine),
        "selected": outcomes["selected"],
        "missed": len(mine) - outcomes["selected"],
        "reasons": {
            "qualification": outcomes["qualification_rejected"],
            "contactPolicy": outcomes["contact_policy_blocked"],
            "outranked": outcomes["outranked"],
        },
        "beatenBy": [{"offerId": o, "offerName": offers.get(o), "count": n} for o, n in top],
    }


# --- anomaly_candidates -------------------------------------------------------------------------

LEVELS = [("critical", 4, 50), ("warning", 3, 30), ("info", 2, 15)]


CANDIDATE = ("metric", "scope", "scopeId", "current", "baseline", "zScore", "pctChange", "severity")


def candidate(*values: Any) -> dict[str, Any]:
    """An anomaly row from its eight values, in the spec's order."""
    return dict(zip(CANDIDATE, values, strict=True))


def _row(metric, scope, scope_id, current, baseline, z) -> dict[str, Any] | None:
    pct = (current - baseline) / baseline * 100 if baseline != 0 else None
    for name, z_min, pct_min in LEVELS:
        if (z is not None and abs(z) >= z_min) or (pct is not None and abs(pct) >= pct_min):
            return candidate(metric, scope, scope_id, current, baseline, z, pct, name)
    return None


def _proportions(metric, scope, scope_id, cur: tuple[int, int], base: tuple[int, int]):
    (x1, n1), (x2, n2) = cur, base
    if n1 < 30 or n2 < 30:
        return None
    p = (x1 + x2) / (n1 + n2)
    z = (
        None
        if p * (1 - p) == 0
        else (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    )
    return _row(metric, scope, scope_id, x1 / n1, x2 / n2, z)


def anomaly_candidates(rows: Rows, days: int = 7, baseline_days: int | None = None) -> list[dict]:
    baseline_days = baseline_days or days
    split = first_day(days)
    start = split - timedelta(days=baseline_days)

    def period(r: dict[str, Any]) -> str | None:
        t = when(r)
        return "cur" if split <= t < WINDOW_END else "base" if start <= t < split else None

    counts: dict[tuple, Counter] = defaultdict(Counter)
    revenue: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows["interactions"]:
        p = period(r)
        if p is None:
            continue
        for scope, key in (
            ("overall", None),
            ("offer", r["offer_id"]),
            ("channel", r["channel_id"]),
        ):
            counts[(scope, key)][(p, r["kind"])] += 1
        if r["kind"] == "conversion":
            t = when(r)
            revenue[r["offer_id"]][datetime(t.year, t.month, t.day, tzinfo=t.tzinfo)] += r["value"]
    out = [
        _proportions(
            "acceptance_rate",
            scope,
            key,
            (c[("cur", "positive")], c[("cur", "impression")]),
            (c[("base", "positive")], c[("base", "impression")]),
        )
        for (scope, key), c in counts.items()
    ]
    traces = Counter((period(t), t["degraded"]) for t in rows["decision_traces"])
    out.append(
        _proportions(
            "degraded_scoring_rate",
            "overall",
            None,
            (traces[("cur", True)], traces[("cur", True)] + traces[("cur", False)]),
            (traces[("base", True)], traces[("base", True)] + traces[("base", False)]),
        )
    )
    for offer, by_day in revenue.items():
        base = [by_day.get(start + timedelta(days=i), 0.0) for i in range(baseline_days)]
        cur = sum(by_day.get(split + timedelta(days=i), 0.0) for i in range(days)) / days
        mean = sum(base) / baseline_days
        s = (
            math.sqrt(sum((v - mean) ** 2 for v in base) / (baseline_days - 1))
            if baseline_days > 1
            else 0
        )
        out.append(_row("revenue", "offer", offer, cur, mean, (cur - mean) / s if s else None))
    tiers = {"critical": 0, "warning": 1, "info": 2}
    return sorted(
        (r for r in out if r is not None),
        key=lambda r: (
            tiers[r["severity"]],
            r["zScore"] is None,
            -abs(r["zScore"] or 0),
            r["metric"],
            r["scope"],
            r["scopeId"] or "",
        ),
    )
