"""anomaly_candidates: core metrics of the current window against the days just before it.

Stateless: nothing is stored and nothing fires; the answer lists what a scheduler could escalate.
The current window is the report's window (`days` calendar days ending now); the baseline is the
`baselineDays` whole UTC days before it. The engine counts both windows in one query per
grouping (per-measure filters on the time column split them); the tests and severities are
plain arithmetic on those counts.

- Rates (acceptance = positive / impressions, overall, per offer and per channel; degraded
  scoring = degraded traces / traces, overall): a pooled two-proportion z-test, skipped when
  either window has fewer than MIN_DENOMINATOR denominator events.
- Revenue per offer: the daily sums of conversion values, zero-filled over every day of each
  window (today as it stands); current and baseline are the daily means, and z uses the sample
  standard deviation (n - 1) of the baseline's daily values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tally.query.model import And, Filter, Leaf, Measure, TimeRange
from tally.reports.decisioning.context import DAY, Context, asc, count, eq

MIN_DENOMINATOR = 30
# (severity, |z| at least, |pctChange| at least), highest first.
TIERS = (("critical", 4.0, 50.0), ("warning", 3.0, 30.0), ("info", 2.0, 15.0))
SEVERITY_ORDER = {name: i for i, (name, _, _) in enumerate(TIERS)}


@dataclass(frozen=True)
class Windows:
    baseline_start: datetime
    current_start: datetime
    end: datetime
    days: int
    baseline_days: int

    @property
    def span(self) -> TimeRange:
        return TimeRange(start=self.baseline_start, end=self.end)

    def current(self, condition: Filter | None) -> Filter:
        since = Leaf(field="ts", op="gte", value=self.current_start.isoformat())
        return since if condition is None else And(and_=[condition, since])

    def baseline(self, condition: Filter | None) -> Filter:
        before = Leaf(field="ts", op="lt", value=self.current_start.isoformat())
        return before if condition is None else And(and_=[condition, before])


def pooled_z(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float | None:
    """Two-proportion z of a against b with the pooled rate; None when p(1 - p) is 0."""
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = pooled * (1 - pooled)
    if spread == 0:
        return None
    return (hits_a / n_a - hits_b / n_b) / math.sqrt(spread * (1 / n_a + 1 / n_b))


def pct_change(current: float, baseline: float) -> float | None:
    return (current - baseline) / baseline * 100 if baseline else None


def severity(z: float | None, pct: float | None) -> str | None:
    for name, z_min, pct_min in TIERS:
        if (z is not None and abs(z) >= z_min) or (pct is not None and abs(pct) >= pct_min):
            return name
    return None


def candidate(
    metric: str, scope: str, scope_id: str | None, current: float, baseline: float, z: float | None
) -> dict[str, Any] | None:
    pct = pct_change(current, baseline)
    level = severity(z, pct)
    if level is None:
        return None
    return {
        "metric": metric,
        "scope": scope,
        "scopeId": scope_id,
        "current": current,
        "baseline": baseline,
        "zScore": z,
        "pctChange": pct,
        "severity": level,
    }


def rate_candidate(metric: str, scope: str, scope_id: str | None, row: dict) -> dict | None:
    """From counts `hits_cur`, `n_cur`, `hits_base`, `n_base` of one scope."""
    n_cur, n_base = row["n_cur"], row["n_base"]
    if n_cur < MIN_DENOMINATOR or n_base < MIN_DENOMINATOR:
        return None
    current, baseline = row["hits_cur"] / n_cur, row["hits_base"] / n_base
    z = pooled_z(row["hits_cur"], n_cur, row["hits_base"], n_base)
    return candidate(metric, scope, scope_id, current, baseline, z)


def sample_std(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def revenue_candidate(offer_id: str, daily: dict[datetime, float], w: Windows) -> dict | None:
    """`daily`: the offer's conversion value per day with any; other days count as 0."""
    base_days = [w.baseline_start + timedelta(days=i) for i in range(w.baseline_days)]
    base_values = [daily.get(day, 0.0) for day in base_days]
    current = sum(v for day, v in daily.items() if day >= w.current_start) / w.days
    baseline = sum(base_values) / w.baseline_days
    s = sample_std(base_values)
    z = (current - baseline) / s if s else None
    return candidate("revenue", "offer", offer_id, current, baseline, z)


def _windows(ctx: Context) -> Windows:
    baseline_days = ctx.ask.baseline_days or ctx.ask.days
    return Windows(
        baseline_start=ctx.start - timedelta(days=baseline_days),
        current_start=ctx.start,
        end=ctx.end,
        days=ctx.ask.days,
        baseline_days=baseline_days,
    )


def _split(w: Windows, denominator: Filter | None, hits: Filter) -> list[Measure]:
    """The four counts of a rate: denominator and hits in the current and baseline windows."""
    return [
        count("n_cur", w.current(denominator)),
        count("hits_cur", w.current(hits)),
        count("n_base", w.baseline(denominator)),
        count("hits_base", w.baseline(hits)),
    ]


def _acceptance(ctx: Context, w: Windows) -> list[dict | None]:
    measures = _split(w, eq("kind", "impression"), eq("kind", "positive"))
    where = Leaf(field="kind", op="in", value=["impression", "positive"])
    overall = ctx.totals("interactions", measures, time=w.span, filter=where)
    found = [rate_candidate("acceptance_rate", "overall", None, overall)]
    for scope, column in (("offer", "offer_id"), ("channel", "channel_id")):
        rows = ctx.rows(
            "interactions",
            time=w.span,
            filter=where,
            measures=measures,
            group_by=[column],
            order_by=[asc(column)],
        )
        found += [rate_candidate("acceptance_rate", scope, r[column], r) for r in rows]
    return found


def _degraded(ctx: Context, w: Windows) -> dict | None:
    measures = _split(w, None, eq("degraded", True))
    found = ctx.totals("decision_traces", measures, time=w.span)
    return rate_candidate("degraded_scoring_rate", "overall", None, found)


def _revenue(ctx: Context, w: Windows) -> list[dict | None]:
    rows = ctx.rows(
        "interactions",
        time=w.span,
        filter=eq("kind", "conversion"),
        measures=[Measure(op="sum", field="value", as_="revenue")],
        group_by=["offer_id", DAY],
        order_by=[asc("offer_id")],
    )
    daily: dict[str, dict[datetime, float]] = defaultdict(dict)
    for row in rows:
        daily[row["offer_id"]][row["time"]] = row["revenue"] or 0.0
    return [revenue_candidate(offer, days, w) for offer, days in sorted(daily.items())]


def _order(row: dict[str, Any]) -> tuple:
    z = row["zScore"]
    return (
        SEVERITY_ORDER[row["severity"]],
        z is None,
        -abs(z) if z is not None else 0.0,
        row["metric"],
        row["scope"],
        row["scopeId"] or "",
    )


def anomaly_candidates(ctx: Context) -> list[dict[str, Any]]:
    w = _windows(ctx)
    found = [*_acceptance(ctx, w), _degraded(ctx, w), *_revenue(ctx, w)]
    return sorted((row for row in found if row is not None), key=_order)
