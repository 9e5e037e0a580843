"""Checking what a sketch estimated against the exact value from the rows, for verify.

The question is asked again of the rows as its exact twin (`exact_twin`): each estimated measure
exactly under its own label, and for a percentile also the range its estimate must fall in. An
estimate is a difference when it is off by more than twice its stated bound: each bound holds
for one value at its confidence (95.4 %, 99 %), twice it (four standard deviations of an HLL
estimate) all but never, so a difference is a broken sketch, not bad luck.

Which groups an answer holds may itself follow an estimate (`top`, `limit`, `having`, ranked
by it): then the twin asks every group, and each group of the answer is checked against its own
(the folded `__other__` row, made of whichever groups were left out, is not).
"""

from __future__ import annotations

from typing import Any

from tally.catalog.vocabulary import MeasureOp
from tally.query.model import SHORTHAND_QUANTILES, Measure, Query, measure_label
from tally.result import Result

SLACK = 2.0
ESTIMATED = ("hll", "kll")
# An answer's values of a measure: over the window, and over the compared one.
SUFFIXES = ("", "_previous")
OTHER = "__other__"
# What the twin asks beside a percentile estimate: exact percentiles at q ± twice its rank
# bound, and the field's non-null count, minimum and maximum.
RANGE = ("low", "high", "n", "min", "max")
Bounds = dict[str, dict[str, Any]]


def stated_bounds(answer: Result) -> Bounds:
    """The stated bound of each value a sketch estimated, by label."""
    return {
        label: bound
        for label, bound in (answer.meta.get("error") or {}).items()
        if bound.get("method") in ESTIMATED
    }


def selects_groups(query: Query) -> bool:
    """Whether which groups are answered may follow the measures' values."""
    return (
        query.top is not None or query.limit is not None or bool(query.offset) or bool(query.having)
    )


def exact_twin(query: Query, bounds: Bounds) -> Query:
    """The query asked of the rows with each estimated measure exact (and, for a percentile,
    the values of `RANGE` as `<label>__<part>`), over every group when the query selects
    groups."""
    measures: list[Measure] = []
    for measure in query.measures:
        label = measure_label(measure)
        bound = bounds.get(label)
        if bound is None:
            measures.append(measure)
            continue
        measures.append(measure.model_copy(update={"approx": False, "as_": label}))
        if bound["method"] == "kll":
            measures += _percentile_range(measure, label, SLACK * bound["rank_error"])
    update: dict[str, Any] = {"measures": measures}
    if selects_groups(query):
        update.update(top=None, limit=None, offset=0, having=None)
    return query.model_copy(update=update)


def _percentile_range(measure: Measure, label: str, spread: float) -> list[Measure]:
    q = measure.q if measure.q is not None else SHORTHAND_QUANTILES[measure.op]
    at = {"low": max(q - spread, 1e-9), "high": min(q + spread, 1 - 1e-9)}
    parts = {
        "low": {"op": MeasureOp.PERCENTILE, "q": at["low"]},
        "high": {"op": MeasureOp.PERCENTILE, "q": at["high"]},
        "n": {"op": MeasureOp.COUNT, "q": None},
        "min": {"op": MeasureOp.MIN, "q": None},
        "max": {"op": MeasureOp.MAX, "q": None},
    }
    return [
        measure.model_copy(update={**parts[part], "approx": False, "as_": f"{label}__{part}"})
        for part in RANGE
    ]


def twin_only(bounds: Bounds) -> set[str]:
    """The row keys the twin adds, left out of the exact comparison."""
    return {
        f"{label}__{part}{suffix}"
        for label, bound in bounds.items()
        if bound["method"] == "kll"
        for part in RANGE
        for suffix in (*SUFFIXES, "_delta", "_delta_pct")
    }


def estimate_problem(got: dict[str, Any], twin: dict[str, Any], bounds: Bounds) -> str | None:
    """Why an estimate of the answer's row `got` is beyond twice its bound of the exact values
    the twin's row holds, or None."""
    for label, bound in bounds.items():
        for suffix in SUFFIXES:
            key = label + suffix
            if key in got and not _within(got[key], twin, label, suffix, bound):
                exact = {
                    k: v for k, v in twin.items() if k.startswith(label) and k.endswith(suffix)
                }
                return (
                    f"{key} {got[key]!r} from the rollup's {bound['method']} sketch, beyond twice "
                    f"its stated bound of {exact} from the rows"
                )
    return None


def _within(got: Any, twin: dict[str, Any], label: str, suffix: str, bound: dict) -> bool:
    want = twin.get(label + suffix)
    if got is None or want is None:
        return got is None and want is None
    if bound["method"] == "hll":
        return abs(got - want) <= SLACK * bound["relative_error"] * want
    part = {p: twin.get(f"{label}__{p}{suffix}") for p in RANGE}
    # A KLL estimate is one of the field's values: among a few values the exact percentiles at
    # q ± the spread (interpolated) may fall between two neighbours, so there it is checked to
    # be one of the group's values' range only.
    if (part["n"] - 1) * 2 * SLACK * bound["rank_error"] < 2:
        return part["min"] <= got <= part["max"]
    return part["low"] <= got <= part["high"]


def is_other(row: dict[str, Any], answer: Result) -> bool:
    return any(row.get(group) == OTHER for group in answer.groups)
