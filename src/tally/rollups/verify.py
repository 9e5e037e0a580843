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

from tally.errors import TallyError
from tally.query.limits import Limits
from tally.query.model import Query
from tally.result import Result
from tally.rollups.estimates import (
    ROW_KEYS,
    SUFFIXES,
    Bounds,
    estimate_problem,
    exact_twin,
    is_other,
    stated_bounds,
    twin_only,
)

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


def _unchecked(fast: Result, slow: Result, bounds: Bounds) -> set[str]:
    """The row keys left out of the exact comparison: values approximate in either answer (an
    estimate, checked apart, or one without a stated bound, and every delta of one), and what
    the exact twin adds."""
    labels = {k for r in (fast, slow) for k, exact in r.meta.get("exact", {}).items() if not exact}
    return {label + suffix for label in labels for suffix in ROW_KEYS} | twin_only(bounds)


def _approximate(answer: Result) -> bool:
    return not all(answer.meta.get("exact", {}).values())


def _by_group(answer: Result) -> dict[tuple, dict[str, Any]]:
    return {_group(answer, row): row for row in answer.rows}


def _group(answer: Result, row: dict[str, Any]) -> tuple:
    return tuple(repr(row.get(name)) for name in (*answer.groups, "time"))


def first_difference(
    fast: Result,
    slow: Result,
    bounds: Bounds | None = None,
    cut_at: int | None = None,
    every_group: bool = False,
    compared: bool = True,
) -> str | None:
    """The first row where the answers differ: exact values equal (floats within rounding),
    estimates within twice their stated bound of the exact values `slow` (the exact twin, over
    every group, `cut_at` rows at most) holds for them. Rows are matched in order, or by group
    when some value is approximate: then which groups are answered may follow it, unless the
    answer must hold `every_group` of the twin's. Unless `compared`, values of the compared
    window are left out: the twin's compared window is cut at another limit."""
    bounds = bounds or {}
    skipped = _unchecked(fast, slow, bounds)
    if not compared:
        skipped |= {m + suffix for m in fast.measures for suffix in ROW_KEYS[1:]}
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]]
    if _approximate(fast):
        twins = _by_group(slow)
        pairs = [
            (row, twins.get(_group(fast, row))) for row in fast.rows if not is_other(row, fast)
        ]
        if every_group and len(pairs) != len(twins):
            return f"{len(pairs)} groups from the rollup, {len(twins)} from the rows"
    elif len(fast.rows) != len(slow.rows):
        return f"{len(fast.rows)} rows from the rollup, {len(slow.rows)} from the rows"
    else:
        pairs = list(zip(fast.rows, slow.rows, strict=True))
    cut = cut_at is not None and len(slow.rows) >= cut_at
    for n, (got, want) in enumerate(pairs):
        if want is None:
            if cut:  # beyond the rows the twin could return: not checked
                continue
            return f"row {n}: {got} from the rollup, a group the rows do not answer"
        problem = estimate_problem(got, want, bounds, SUFFIXES if compared else ("",))
        if problem is not None:
            return f"row {n}: {problem}"
        got = {k: v for k, v in got.items() if k not in skipped}
        want = {k: v for k, v in want.items() if k not in skipped}
        if not same(got, want):
            return f"row {n}: {got} from the rollup, {want} from the rows"
    return None


def verify(
    questions: Iterable[tuple[str, dict[str, Any]]],
    with_rollups: Answer,
    raw: Answer,
    limits: Limits | None = None,
) -> Report:
    """Compare each (dataset, query body); a question the service refuses (a recorded shape
    asked over the whole span may pass a limit) is reported, not compared. An estimate from a
    sketch is compared with the exact value from the rows (`exact_twin`)."""
    report = Report()
    limits = limits or Limits()
    for dataset, body in questions:
        try:
            query = Query.model_validate({**body, "cache": "no-cache"})
            fast = with_rollups(query)
            twin, bounds = exact_twin(query, stated_bounds(fast), limits)
            # A sketch's estimates may order and cut the groups unlike the rows: the twin asks
            # every group. Served from the rows, both answers estimate alike.
            sketched = _approximate(fast) and fast.meta["served_from"] != "raw"
            slow = raw(twin if sketched else query)
        except (TallyError, ValueError) as exc:
            report.unanswered.append((dataset, getattr(exc, "message", str(exc))))
            continue
        served_from = fast.meta["served_from"]
        report.compared += 1
        report.served_from[served_from] += 1
        report.estimates += len(bounds)
        limit = query.limit or limits.default_limit
        every = not (query.top or query.having or query.offset) and len(slow.rows) <= limit
        compared = not (sketched and query.compare)
        detail = first_difference(fast, slow, bounds, limits.max_rows, every, compared)
        if detail is not None:
            canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
            digest = hashlib.sha256(canonical).hexdigest()[:16]
            report.differences.append(Difference(dataset, digest, served_from, detail))
    return report
