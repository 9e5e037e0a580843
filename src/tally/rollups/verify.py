"""Ask recorded questions again with rollups and from the rows, and say where they differ.

The questions are the recent whole ones the query log keeps when `query_log_samples` is set,
or else questions of the recent shapes with values drawn from the data (reask.py). They are
asked afresh (no cache) over every tenant: a rollup that is wrong for one tenant is wrong in
the answer over all of them, and the caller's scope is not recorded.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tally.catalog.vocabulary import MeasureOp
from tally.errors import TallyError
from tally.query.model import SHORTHAND_QUANTILES, Query, measure_label
from tally.result import Result

Answer = Callable[[Query], Result]


def same(left: Any, right: Any) -> bool:
    """Equal values, floats within rounding (a sum of cells adds in another order than a sum
    of rows)."""
    if isinstance(left, float) or isinstance(right, float):
        if left is None or right is None:
            return left is right
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return left == right and type(left) is type(right)


@dataclass(frozen=True)
class Difference:
    dataset: str
    query_hash: str
    served_from: str
    detail: str


@dataclass
class Report:
    compared: int = 0
    served_from: Counter[str] = field(default_factory=Counter)
    differences: list[Difference] = field(default_factory=list)
    unanswered: list[tuple[str, str]] = field(default_factory=list)
    estimates: int = 0  # estimated measures checked against the exact values, over all answers

    @property
    def from_rollups(self) -> int:
        return self.compared - self.served_from["raw"]


# An estimate is reported when it is off by more than twice its stated bound: each bound holds
# for one value at its confidence (95.4 %, 99 %), twice it (four standard deviations of an HLL
# estimate) all but never, so a difference is a broken sketch, not bad luck.
SLACK = 2.0
ESTIMATED = ("hll", "kll")
COMPARED_SUFFIXES = ("", "_previous")


def _estimates(fast: Result) -> dict[str, dict[str, Any]]:
    """The stated bound of each value a sketch estimated, by label."""
    return {
        label: bound
        for label, bound in (fast.meta.get("error") or {}).items()
        if bound.get("method") in ESTIMATED
    }


def exact_twin(query: Query, estimates: dict[str, dict[str, Any]]) -> Query:
    """The query with each estimated measure asked exactly under its own label; a percentile
    also at q ± twice its rank bound (`<label>__low`, `<label>__high`), the range its estimate
    must fall in."""
    measures = []
    for measure in query.measures:
        label = measure_label(measure)
        bound = estimates.get(label)
        if bound is None:
            measures.append(measure)
            continue
        measures.append(measure.model_copy(update={"approx": False, "as_": label}))
        if bound["method"] == "kll":
            q = measure.q if measure.q is not None else SHORTHAND_QUANTILES[measure.op]
            spread = SLACK * bound["rank_error"]
            for side, at in (("low", max(q - spread, 1e-9)), ("high", min(q + spread, 1 - 1e-9))):
                update = {
                    "op": MeasureOp.PERCENTILE,
                    "q": at,
                    "approx": False,
                    "as_": f"{label}__{side}",
                }
                measures.append(measure.model_copy(update=update))
    return query.model_copy(update={"measures": measures})


def _within(got: Any, row: dict[str, Any], key: str, bound: dict[str, Any]) -> bool:
    """Whether the estimate `got` of `row[key]` (the exact value) is within twice its bound."""
    want = row.get(key)
    if got is None or want is None:
        return got is None and want is None
    if bound["method"] == "hll":
        return abs(got - want) <= SLACK * bound["relative_error"] * want
    low, high = row.get(f"{key}__low"), row.get(f"{key}__high")
    return low is not None and high is not None and low <= got <= high


def _unchecked(fast: Result, slow: Result, estimates: dict[str, dict[str, Any]]) -> set[str]:
    """The row keys left out of the exact comparison: values approximate in either answer (an
    estimate, checked apart, or one without a stated bound, and every delta of one), and the
    exact twin's range of each percentile estimate."""
    labels = {k for r in (fast, slow) for k, exact in r.meta.get("exact", {}).items() if not exact}
    labels |= {f"{label}__{side}" for label in estimates for side in ("low", "high")}
    suffixes = (*COMPARED_SUFFIXES, "_delta", "_delta_pct")
    return {label + suffix for label in labels for suffix in suffixes}


def first_difference(
    fast: Result, slow: Result, estimates: dict[str, dict[str, Any]] | None = None
) -> str | None:
    """The first row where the answers differ: exact values equal (floats within rounding),
    estimates within twice their stated bound of the exact values `slow` holds for them."""
    if len(fast.rows) != len(slow.rows):
        return f"{len(fast.rows)} rows from the rollup, {len(slow.rows)} from the rows"
    estimates = estimates or {}
    skipped = _unchecked(fast, slow, estimates)
    got_rows, want_rows = fast.rows, slow.rows
    if estimates:  # rows ordered by an estimate may come in another order: matched by group
        measured = skipped | set(fast.meta.get("exact", {}))
        measured |= {label + suffix for label in measured for suffix in COMPARED_SUFFIXES}

        def group(row: dict[str, Any]) -> list[str]:
            return [repr((k, v)) for k, v in sorted(row.items()) if k not in measured]

        got_rows, want_rows = sorted(got_rows, key=group), sorted(want_rows, key=group)
    for n, (got, want) in enumerate(zip(got_rows, want_rows, strict=True)):
        for label, bound in estimates.items():
            for key in (label + suffix for suffix in COMPARED_SUFFIXES):
                if key in got and not _within(got[key], want, key, bound):
                    exact = {k: v for k, v in want.items() if k.startswith(key)}
                    return (
                        f"row {n}: {key} {got[key]!r} from the rollup's {bound['method']} sketch, "
                        f"beyond twice its stated bound of {exact} from the rows"
                    )
        got = {k: v for k, v in got.items() if k not in skipped}
        want = {k: v for k, v in want.items() if k not in skipped}
        if not same(got, want):
            return f"row {n}: {got} from the rollup, {want} from the rows"
    return None


def verify(
    questions: Iterable[tuple[str, dict[str, Any]]], with_rollups: Answer, raw: Answer
) -> Report:
    """Compare each (dataset, query body); a question the service refuses (a recorded shape
    asked over the whole span may pass a limit) is reported, not compared. An estimate from a
    sketch is compared with the exact value from the rows (`exact_twin`)."""
    report = Report()
    for dataset, body in questions:
        try:
            query = Query.model_validate({**body, "cache": "no-cache"})
            fast = with_rollups(query)
            estimates = _estimates(fast)
            slow = raw(exact_twin(query, estimates) if estimates else query)
        except (TallyError, ValueError) as exc:
            report.unanswered.append((dataset, getattr(exc, "message", str(exc))))
            continue
        served_from = fast.meta["served_from"]
        report.compared += 1
        report.served_from[served_from] += 1
        report.estimates += len(estimates)
        detail = first_difference(fast, slow, estimates)
        if detail is not None:
            canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
            digest = hashlib.sha256(canonical).hexdigest()[:16]
            report.differences.append(Difference(dataset, digest, served_from, detail))
    return report
