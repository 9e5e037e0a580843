"""Rollup declarations proposed from the shapes of questions answered from the rows.

Shapes are taken heaviest first (total milliseconds executing) and gathered greedily into
clusters: a shape joins the first cluster whose dimensions, with its fields added, stay within
`max_dimensions` (each dimension multiplies a rollup's rows); otherwise it starts one. A
cluster's declaration stores the union of its fields as dimensions and count plus the sums,
minimums, maximums and exact sets of distinct values its measures need (an average is a sum
over a count; a set of ids answers a distinct count exactly, approximate or not). Its grain is
the greatest common divisor of 15 minutes and its fixed bucket widths, so each bucket is a union
of grains. Shapes no rollup can answer exactly (percentiles, a filter on the time column) are set
aside with the reason; so is one whose fields cannot be stored in a rollup (a whole JSON value,
a derived column). A key of a JSON column (`metadata.channel`) is proposed as a dimension like a
stored column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tally.catalog import Dataset
from tally.catalog.rollups import Rollup, rollup_problems
from tally.query.timebuckets import parse_interval
from tally.rollups.querylog import LoggedShape, measure_of

DEFAULT_GRAIN_S = 900
STORED = {
    "sum": "sum",
    "avg": "sum",
    "min": "min",
    "max": "max",
    "count_distinct": "count_distinct",
}
# What an approximate measure is kept as: a sketch (`approx: true` in the declaration). An
# exact percentile is kept as nothing (no stored aggregate recombines to one).
SKETCHED = {"count_distinct": "count_distinct~", "percentile": "percentile~"}
ORDER = ("count", "sum", "min", "max", "count_distinct", "count_distinct~", "percentile~")


def _kept_as(entry: list) -> tuple[str, str] | None:
    """What a declaration keeps for a shape's measure (op, or op~ for a sketch; field), or
    None: a count of rows is always kept, an exact percentile never. A count of a field's
    values reads the non-null count a measure of the field keeps."""
    measure = measure_of(entry)
    if measure["op"] == "count":
        return ("count", measure["field"]) if measure.get("field") else None
    if measure.get("approx") and measure["op"] in SKETCHED:
        return SKETCHED[measure["op"]], measure["field"]
    op = STORED.get(measure["op"])
    return (op, measure["field"]) if op else None


@dataclass
class Cluster:
    dimensions: set[str] = field(default_factory=set)
    measures: set[tuple[str, str]] = field(default_factory=set)
    grain_s: int = DEFAULT_GRAIN_S
    shapes: list[LoggedShape] = field(default_factory=list)

    @property
    def execute_ms(self) -> float:
        return sum(s.execute_ms for s in self.shapes)

    @property
    def answers(self) -> int:
        return sum(s.answers for s in self.shapes)


@dataclass(frozen=True)
class Proposal:
    rollup: Rollup
    share: float
    answers: int


@dataclass
class Suggestions:
    dataset: str
    total_ms: float = 0.0
    proposals: list[Proposal] = field(default_factory=list)
    skipped: list[tuple[LoggedShape, str]] = field(default_factory=list)


def _measure_text(measure: dict[str, Any]) -> str:
    """`count`, `sum(amount)`, `percentile(latency, q=0.9, approx)`."""
    if "field" not in measure:
        return measure["op"]
    inside = [measure["field"]]
    if "q" in measure:
        inside.append(f"q={measure['q']:g}")
    if measure.get("approx"):
        inside.append("approx")
    return f"{measure['op']}({', '.join(inside)})"


def describe(shape: LoggedShape) -> str:
    """A shape as a person reads it."""
    found = shape.shape
    measures = ", ".join(_measure_text(measure_of(m)) for m in found["measures"])
    parts = [measures, f"by {', '.join(found['groups']) or '-'}"]
    if found["filtered"]:
        parts.append(f"filtered on {', '.join(found['filtered'])}")
    if found["bucket"]:
        parts.append(f"per {found['bucket']} in {found['timezone']}")
    return "; ".join(parts)


def fields_of(shape: LoggedShape) -> set[str]:
    return set(shape.shape["groups"]) | set(shape.shape["filtered"])


def unserved(shape: LoggedShape) -> str | None:
    """Why no rollup can answer the shape exactly, or None."""
    ops = sorted({m[0] for m in shape.shape["measures"] if m[0] != "count" and not _kept_as(m)})
    if ops:
        return (
            f"{', '.join(ops)} cannot be recombined from stored aggregates exactly "
            "(an approximate percentile can: declare {op: percentile, field: ..., approx: true})"
        )
    return None


def bucket_grain(shape: LoggedShape) -> int | None:
    """The grain its bucket needs (None: a bucket no grain serves)."""
    bucket = shape.shape["bucket"]
    if bucket is None:
        return DEFAULT_GRAIN_S
    try:
        interval = parse_interval(bucket)
    except ValueError:
        return None
    if not interval.fixed:
        return DEFAULT_GRAIN_S
    grain = math.gcd(DEFAULT_GRAIN_S, int(interval.fixed_seconds))
    return grain if grain % 60 == 0 else None


def cluster(shapes: list[LoggedShape], max_dimensions: int) -> list[Cluster]:
    clusters: list[Cluster] = []
    for shape in sorted(shapes, key=lambda s: -s.execute_ms):
        wanted = fields_of(shape)
        grain = bucket_grain(shape) or DEFAULT_GRAIN_S
        home = next(
            (c for c in clusters if len(c.dimensions | wanted) <= max(max_dimensions, len(wanted))),
            None,
        )
        if home is None:
            home = Cluster()
            clusters.append(home)
        home.dimensions |= wanted
        home.grain_s = math.gcd(home.grain_s, grain)
        home.measures |= {kept for m in shape.shape["measures"] if (kept := _kept_as(m))}
        home.shapes.append(shape)
    return clusters


def declaration(name: str, found: Cluster) -> Rollup:
    measures: list[dict[str, Any]] = [{"op": "count"}]
    for op, field_name in sorted(found.measures, key=_by_field):
        if op.endswith("~") and (op.rstrip("~"), field_name) in found.measures:
            continue  # the exact set answers the approximate count exactly
        sketch = {"approx": True} if op.endswith("~") else {}
        measures.append({"op": op.rstrip("~"), "field": field_name, **sketch})
    minutes = found.grain_s // 60
    grain = f"{minutes // 60} hour" if minutes % 60 == 0 else f"{minutes} minute"
    return Rollup.model_validate(
        {
            "name": name,
            "grain": grain if grain.startswith("1 ") else f"{grain}s",
            "dimensions": sorted(found.dimensions),
            "measures": measures,
        }
    )


def misfit(dataset: Dataset, found: Cluster) -> str | None:
    """Why a declaration of these fields and measures does not fit the dataset (a measure of a
    JSON key, a derived column, a sum of text), or None; checked shape by shape, so one such shape
    spoils no proposal."""
    try:
        rollup = declaration("suggested", found)
    except ValidationError as exc:
        return f"no rollup fits it: {exc}"
    problems = rollup_problems(dataset.model_copy(update={"rollups": (rollup,)}))
    return f"no rollup fits it: {problems[0][1]}" if problems else None


def _by_field(measure: tuple[str, str]) -> tuple[str, int]:
    return measure[1], ORDER.index(measure[0])


def suggest(
    dataset: Dataset, shapes: list[LoggedShape], top: int, max_dimensions: int = 4
) -> Suggestions:
    """Up to `top` declarations for `dataset`, each with the share of its recorded time
    executing from the rows that it would take over."""
    found = Suggestions(dataset.name, total_ms=sum(s.execute_ms for s in shapes))
    servable: list[LoggedShape] = []
    for shape in shapes:
        reason = unserved(shape)
        if reason is None and bucket_grain(shape) is None:
            reason = f"no grain of whole minutes divides bucket {shape.shape['bucket']}"
        if reason is None and dataset.time_column in fields_of(shape):
            reason = f"it filters on the time column {dataset.time_column} (use the window)"
        if reason is None:
            reason = misfit(dataset, cluster([shape], len(fields_of(shape)))[0])
        if reason is None:
            servable.append(shape)
        else:
            found.skipped.append((shape, reason))
    taken = {r.name for r in dataset.rollups}
    names = (f"suggested_{n}" for n in range(1, 1000) if f"suggested_{n}" not in taken)
    for group in cluster(servable, max_dimensions)[:top]:
        rollup = declaration(next(names), group)
        share = group.execute_ms / found.total_ms if found.total_ms else 0.0
        found.proposals.append(Proposal(rollup, share, group.answers))
    return found
