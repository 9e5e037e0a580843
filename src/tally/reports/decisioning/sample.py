"""The trace sample of selection_frequency and why_not_ranked: the most recent 10,000 traces.

Traces are ordered by (ts, id) descending; the 10,000th of them is found with one IR query
(traces grouped by id with max(ts), ordered, offset 9,999, limit 1) and the sample is every
trace at or after it in that order. Candidate rows carry their trace's ts, so the same condition
(`ts > cut or (ts = cut and trace_id >= cut id)`) selects the candidates of exactly the sampled
traces; ties on ts are broken by id, so the sample never exceeds the cap. Filters that choose
traces (channel, decision flow, segment members) use columns both datasets have, so one
condition serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tally.query.model import And, Filter, Leaf, Measure, Or
from tally.reports.decisioning.context import Context, all_of, count, desc

SAMPLE_CAP = 10_000


@dataclass(frozen=True)
class Sample:
    size: int
    cap: int
    where: Filter | None


def _instant(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def recent_traces(ctx: Context, traces: Filter | None) -> Sample:
    """The window's most recent SAMPLE_CAP traces among those `traces` keeps."""
    cut = ctx.page(
        "decision_traces",
        time=ctx.window,
        filter=traces,
        measures=[Measure(op="max", field="ts", as_="at")],
        group_by=["id"],
        order_by=[desc("at"), desc("id")],
        offset=SAMPLE_CAP - 1,
        limit=1,
    )
    if not cut:
        found = ctx.totals("decision_traces", [count("traces")], time=ctx.window, filter=traces)
        return Sample(found["traces"], SAMPLE_CAP, traces)
    at = _instant(cut[0]["at"])
    after = Or(
        or_=[
            Leaf(field="ts", op="gt", value=at),
            And(
                and_=[
                    Leaf(field="ts", op="eq", value=at),
                    Leaf(field="trace_id", op="gte", value=cut[0]["id"]),
                ]
            ),
        ]
    )
    return Sample(SAMPLE_CAP, SAMPLE_CAP, all_of([traces, after]))
