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
from tally.query.model import Query
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

    @property
    def from_rollups(self) -> int:
        return self.compared - self.served_from["raw"]


def _approximate(fast: Result, slow: Result) -> set[str]:
    """The row keys of measures approximate in either answer (a sketch and the engine's own
    approximation differ by design; `meta.error` bounds them), with their compared values."""
    labels = {k for r in (fast, slow) for k, exact in r.meta.get("exact", {}).items() if not exact}
    suffixes = ("", "_previous", "_delta", "_delta_pct")
    return {label + suffix for label in labels for suffix in suffixes}


def first_difference(fast: Result, slow: Result) -> str | None:
    if len(fast.rows) != len(slow.rows):
        return f"{len(fast.rows)} rows from the rollup, {len(slow.rows)} from the rows"
    skipped = _approximate(fast, slow)
    for n, (got, want) in enumerate(zip(fast.rows, slow.rows, strict=True)):
        if skipped:
            got = {k: v for k, v in got.items() if k not in skipped}
            want = {k: v for k, v in want.items() if k not in skipped}
        if not same(got, want):
            return f"row {n}: {got} from the rollup, {want} from the rows"
    return None


def verify(
    questions: Iterable[tuple[str, dict[str, Any]]], with_rollups: Answer, raw: Answer
) -> Report:
    """Compare each (dataset, query body); a question the service refuses (a recorded shape
    asked over the whole span may pass a limit) is reported, not compared."""
    report = Report()
    for dataset, body in questions:
        try:
            query = Query.model_validate({**body, "cache": "no-cache"})
            fast, slow = with_rollups(query), raw(query)
        except (TallyError, ValueError) as exc:
            report.unanswered.append((dataset, getattr(exc, "message", str(exc))))
            continue
        served_from = fast.meta["served_from"]
        report.compared += 1
        report.served_from[served_from] += 1
        detail = first_difference(fast, slow)
        if detail is not None:
            canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
            digest = hashlib.sha256(canonical).hexdigest()[:16]
            report.differences.append(Difference(dataset, digest, served_from, detail))
    return report
