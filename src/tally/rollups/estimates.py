"""Checking what a sketch estimated against the exact value from the rows, for verify.

The question is asked again of the rows as its exact twin (`exact_twin`): each estimated measure
exactly under its own label, and for a percentile also the range its estimate must fall in. An
estimate is a difference when it is off by more than twice its stated bound: each bound holds
for one value at its confidence (95.4 %, 99 %), twice it (four standard deviations of an HLL
estimate) all but never, so a difference is a broken sketch, not bad luck.

Which groups an answer holds may itself follow an estimate (`top`, `limit`, `having`, or the
default limit cutting rows ranked by it): so the twin asks every group it may (up to the most
rows a query may return), and each group of the answer is checked against its own (the folded
`__other__` row, made of whichever groups were left out, is not). An estimate the twin has no
room for (the most measures a query may hold) or no free label for is left unchecked.
"""

from __future__ import annotations

from typing import Any

from tally.catalog.vocabulary import MeasureOp
from tally.query.limits import Limits
from tally.query.model import SHORTHAND_QUANTILES, Measure, Query, measure_label
from tally.query.ordering import OTHER_KEY
from tally.result import Result

SLACK = 2.0
ESTIMATED = ("hll", "kll")
# An answer's values of a measure: over the window, and over the compared one.
SUFFIXES = ("", "_previous")
# ... and every row key a measure's label gives: those and the change between them.
ROW_KEYS = (*SUFFIXES, "_delta", "_delta_pct")
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


def exact_twin(query: Query, bounds: Bounds, limits: Limits) -> tuple[Query, Bounds]:
    """The query asked of the rows over every group, with each estimated measure exact (and,
    for a percentile, the values of `RANGE` as `<label>__<part>`), and the bounds of the
    estimates it checks."""
    taken = {measure_label(m) for m in query.measures}
    room = limits.max_measures - len(query.measures)
    checked: Bounds = {}
    measures: list[Measure] = []
    for measure in query.measures:
        label = measure_label(measure)
        bound = bounds.get(label)
        extra = _percentile_range(measure, label, bound) if bound else []
        free = not {measure_label(m) for m in extra} & taken
        if bound is None or len(extra) > room or not free:
            measures.append(measure)
            continue
        room -= len(extra)
        checked[label] = bound
        measures += [measure.model_copy(update={"approx": False, "as_": label}), *extra]
    twin = {"measures": measures, "top": None, "having": None, "offset": 0}
    return query.model_copy(update={**twin, "limit": limits.max_rows}), checked


def _percentile_range(measure: Measure, label: str, bound: dict[str, Any]) -> list[Measure]:
    if bound["method"] != "kll":
        return []
    spread = SLACK * bound["rank_error"]
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
        for suffix in ROW_KEYS
    }


def estimate_problem(
    got: dict[str, Any], twin: dict[str, Any], bounds: Bounds, suffixes: tuple[str, ...] = SUFFIXES
) -> str | None:
    """Why an estimate of the answer's row `got` (its values of `suffixes`) is beyond twice its
    bound of the exact values the twin's row holds, or None."""
    for label, bound in bounds.items():
        for suffix in suffixes:
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
    if None in part.values():
        return False
    # A KLL estimate is one of the field's values: among a few values the exact percentiles at
    # q ± the spread (interpolated) may fall between two neighbours, so there it is checked to
    # be one of the group's values' range only.
    if (part["n"] - 1) * 2 * SLACK * bound["rank_error"] < 2:
        return part["min"] <= got <= part["max"]
    return part["low"] <= got <= part["high"]


def is_other(row: dict[str, Any], answer: Result) -> bool:
    return any(row.get(group) == OTHER_KEY for group in answer.groups)
