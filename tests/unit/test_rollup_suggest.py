"""Proposals from recorded shapes: dimensions, measures, grain, clusters, shares and skips."""

from __future__ import annotations

from typing import Any

from tally.query.model import Measure
from tally.rollups.querylog import LoggedShape, measure_entry
from tally.rollups.suggest import suggest
from tests.unit.rollup_datasets import events

DATASET = events(
    {
        "kind": "string",
        "region": "string",
        "agent": "string",
        "plan": "string",
        "amount": "int",
        "payload": "json",
    }
)


def shape(
    ms: float,
    groups: tuple[str, ...] = (),
    filtered: tuple[str, ...] = (),
    measures: tuple[tuple[str, ...], ...] = (("count",),),
    bucket: str | None = "1 day",
) -> LoggedShape:
    found: dict[str, Any] = {
        "dataset": "ev",
        "groups": list(groups),
        "filtered": list(filtered),
        "measures": [list(m) for m in measures],
        "bucket": bucket,
        "timezone": "UTC",
    }
    return LoggedShape(found, "raw", 1, ms)


def test_dimensions_and_measures_cover_the_shapes_of_a_cluster() -> None:
    shapes = [
        shape(70, ("kind",), ("region",), (("avg", "amount"),)),
        shape(30, ("region",), (), (("count",), ("max", "amount"))),
    ]
    found = suggest(DATASET, shapes, top=3)
    [proposal] = found.proposals
    assert proposal.rollup.dimensions == ("kind", "region")
    ops = {(m.op, m.field) for m in proposal.rollup.measures}
    assert ops == {("count", None), ("sum", "amount"), ("max", "amount")}
    assert proposal.share == 1.0 and proposal.rollup.grain == "15 minutes"


def test_too_many_dimensions_split_into_proposals_heaviest_first() -> None:
    shapes = [
        shape(10, ("plan", "agent")),
        shape(60, ("kind", "region")),
        shape(30, ("agent",), ("plan",)),
    ]
    found = suggest(DATASET, shapes, top=3, max_dimensions=2)
    assert [p.rollup.dimensions for p in found.proposals] == [("kind", "region"), ("agent", "plan")]
    assert [round(p.share, 2) for p in found.proposals] == [0.6, 0.4]
    assert len(suggest(DATASET, shapes, top=1, max_dimensions=2).proposals) == 1


def test_fixed_buckets_set_a_grain_that_divides_them() -> None:
    found = suggest(DATASET, [shape(5, ("kind",), bucket="7 minutes")], top=1)
    assert found.proposals[0].rollup.grain == "1 minute"
    found = suggest(DATASET, [shape(5, ("kind",), bucket="2 hours")], top=1)
    assert found.proposals[0].rollup.grain == "15 minutes"


def test_shapes_no_rollup_answers_exactly_are_skipped_with_the_reason() -> None:
    shapes = [
        shape(50, ("kind",), measures=(("percentile", "amount"),)),
        shape(40, ("kind",), ("ts",)),
        shape(30, ("payload",)),
        shape(20, ("kind",)),
    ]
    found = suggest(DATASET, shapes, top=3)
    reasons = [reason for _, reason in found.skipped]
    assert "percentile" in reasons[0] and "approx: true" in reasons[0]
    assert "time column" in reasons[1]
    assert "payload" in reasons[2]
    [proposal] = found.proposals
    assert proposal.rollup.dimensions == ("kind",)
    assert round(proposal.share, 2) == round(20 / 140, 2)


def test_distinct_counts_are_proposed_as_exact_sets() -> None:
    shapes = [
        shape(50, ("kind",), measures=(("count_distinct", "agent"), ("sum", "amount"))),
        shape(10, ("kind",), measures=(("count_distinct", "payload.user"),)),
    ]
    found = suggest(DATASET, shapes, top=3)
    [proposal] = found.proposals
    ops = [(m.op, m.field, m.approx) for m in proposal.rollup.measures]
    assert ops == [
        ("count", None, False),
        ("count_distinct", "agent", False),
        ("sum", "amount", False),
    ]
    [(_, reason)] = found.skipped  # a JSON key is no stored column
    assert "payload.user" in reason


def test_keys_of_a_json_column_are_proposed_as_dimensions() -> None:
    shapes = [
        shape(50, ("payload.channel",), ("kind",), (("sum", "amount"),)),
        shape(10, ("payload",)),
    ]
    found = suggest(DATASET, shapes, top=3)
    [proposal] = found.proposals
    assert proposal.rollup.dimensions == ("kind", "payload.channel")
    [(_, reason)] = found.skipped  # a whole JSON value has no text a rollup keeps
    assert "payload is a json column" in reason and "validation error" not in reason


def _entry(body: dict[str, Any]) -> tuple[str, ...]:
    """A measure as the query log records it in a shape."""
    return tuple(measure_entry(Measure.model_validate(body)))


def test_approximate_measures_are_proposed_as_sketches() -> None:
    """A shape that asked an approximate percentile or distinct count is served by a sketch,
    which is far smaller than an exact set: that is what is proposed (an exact set, when some
    shape needs one, answers the approximate count too). An exact percentile is skipped."""
    p90 = _entry({"op": "percentile", "field": "amount", "q": 0.9, "approx": True})
    users = _entry({"op": "count_distinct", "field": "agent", "approx": True})
    plans = _entry({"op": "count_distinct", "field": "plan", "approx": True})
    exact_plans = _entry({"op": "count_distinct", "field": "plan"})
    exact_p50 = _entry({"op": "percentile", "field": "amount", "q": 0.5})
    shapes = [
        shape(50, ("kind",), (), (p90, users, plans)),
        shape(30, ("kind",), (), (exact_plans,)),
        shape(20, ("kind",), (), (exact_p50,)),
    ]
    found = suggest(DATASET, shapes, top=3)
    [proposal] = found.proposals
    kept = {(m.op, m.field, m.approx) for m in proposal.rollup.measures}
    assert kept == {
        ("count", None, False),
        ("percentile", "amount", True),
        ("count_distinct", "agent", True),
        ("count_distinct", "plan", False),
    }
    [(skipped, reason)] = found.skipped
    assert skipped.execute_ms == 20 and "percentile cannot be recombined" in reason


def test_a_count_of_a_fields_values_keeps_a_measure_of_the_field() -> None:
    """`count` of a field counts its non-null values: a rollup answers it from the count a
    measure of that field keeps, so one is declared."""
    found = suggest(DATASET, [shape(10, ("kind",), (), (("count", "amount"),))], top=1)
    [proposal] = found.proposals
    kept = {(m.op, m.field) for m in proposal.rollup.measures}
    assert kept == {("count", None), ("count", "amount")}
