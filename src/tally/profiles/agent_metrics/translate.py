"""A metrics request -> one IR query, plus what the renderer needs to give rows their API keys.

Decisions (where spec 001 is silent), all expressed in the IR so the engine does the work:
- `userEmail` / `virtualAccount` read the subject slug of the rows of that subject type only.
  As a filter, the condition is ANDed with "subject type is user" (a virtual account's row has
  no user email, so it matches no userEmail test, NOT_EQUAL and NOT_IN included). As a groupBy,
  the whole query keeps the rows of that type; grouping by both is refused (one response key).
  As an aggregation column, the measure gets a per-measure filter on the subject type.
- Measures get internal names (`m0`, ...): user text never becomes an IR label.
- The query asks for at most `max_points` rows; `meta.total_rows` says whether there were more.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from tally.catalog.model import Dataset
from tally.errors import ErrorDetail, TallyError, pointer
from tally.profiles.agent_metrics.errors import INVALID
from tally.profiles.agent_metrics.fields import ApiField, Datasource
from tally.profiles.agent_metrics.filters import FilterError, filter_node, subject_rows
from tally.profiles.agent_metrics.interval import IntervalError, bucket, parse_interval
from tally.profiles.agent_metrics.models import MetricsQuery
from tally.query.fields import FieldError, resolve_field
from tally.query.model import (
    SHORTHAND_QUANTILES,
    And,
    Filter,
    GroupItem,
    Measure,
    Query,
    TimeGroup,
    TimeRange,
)
from tally.query.parse import pydantic_details
from tally.query.validate import NUMERIC_MEASURES

TOTAL = "total"
MEASURE_OPS = {"count": "count", "countDistinct": "count_distinct"}


@dataclass(frozen=True)
class Plan:
    """The IR query and how its result rows map back to the API's keys."""

    query: Query
    groups: tuple[tuple[str, str], ...]  # (response key, result row key)
    measures: tuple[tuple[str, str], ...]  # (response key, measure label)
    interval: str | None
    max_points: int


Problems = list[ErrorDetail]


def _add(problems: Problems, reason: str, *path: str | int) -> None:
    problems.append(ErrorDetail(pointer(*path), reason))


def _field(
    source: Datasource, dataset: Dataset, name: str, problems: Problems, *path: str | int
) -> ApiField | None:
    field = source.resolve(name)
    if field is None:
        _add(problems, f'Unknown field "{name}" for datasource "{source.name}"', *path)
        return None
    try:
        resolve_field(dataset, field.column)
    except FieldError:
        _add(problems, f'Invalid metadata key in "{name}": use letters, digits, _ and -', *path)
        return None
    return field


def _interval(request: MetricsQuery, problems: Problems) -> str | None:
    if request.interval is not None and request.interval_in_seconds is not None:
        _add(problems, "Give either interval or intervalInSeconds, not both", "interval")
        return None
    try:
        if request.interval is not None:
            return parse_interval(request.interval)
        if request.interval_in_seconds is not None:
            return bucket(request.interval_in_seconds, "second")
    except IntervalError as exc:
        _add(problems, str(exc), "interval")
        return None
    if request.type == "timeseries":
        _add(problems, "A timeseries query needs an interval", "interval")
    return None


def _filters(
    request: MetricsQuery, source: Datasource, dataset: Dataset, problems: Problems
) -> list[Filter]:
    nodes: list[Filter] = []
    for i, item in enumerate(request.filters):
        if item.metadata_key is not None:
            name = f"metadata.{item.metadata_key}"
            field = _field(source, dataset, name, problems, "filters", i, "metadataKey")
        else:
            name = item.field_name or ""
            field = _field(source, dataset, name, problems, "filters", i, "fieldName")
        if field is None:
            continue
        try:
            node = filter_node(source, dataset, field, item.operator, item.value)
        except FilterError as exc:
            _add(problems, str(exc), "filters", i)
            continue
        if node is not None:
            nodes.append(node)
    return nodes


def _groups(
    request: MetricsQuery, source: Datasource, dataset: Dataset, problems: Problems
) -> tuple[list[tuple[str, str]], list[Filter]]:
    groups: list[tuple[str, str]] = []
    conditions: list[Filter] = []
    seen: dict[str, str] = {}
    for i, name in enumerate(request.group_by):
        field = _field(source, dataset, name, problems, "groupBy", i)
        if field is None:
            continue
        key = field.response_key
        if key in seen:
            repeat = f'groupBy "{name}" repeats "{seen[key]}": both come back as "{key}"'
            _add(problems, repeat, "groupBy", i)
            continue
        seen[key] = name
        groups.append((key, field.column))
        subject = subject_rows(source, field)
        if subject is not None:
            conditions.append(subject)
    return groups, conditions


def _measures(
    request: MetricsQuery, source: Datasource, dataset: Dataset, problems: Problems
) -> tuple[list[Measure], list[tuple[str, str]]]:
    measures = [Measure(op="count", as_=TOTAL)]
    keys = [(TOTAL, TOTAL)]
    for i, agg in enumerate(request.aggregations):
        field = _field(source, dataset, agg.column, problems, "aggregations", i, "column")
        if field is None:
            continue
        op = MEASURE_OPS.get(agg.type, agg.type)
        ref = resolve_field(dataset, field.column)
        base = "percentile" if op in SHORTHAND_QUANTILES else op
        if base not in ref.measures or (base in NUMERIC_MEASURES and not ref.numeric_ok):
            refused = f'Aggregation "{agg.type}" is not supported on field "{agg.column}"'
            _add(problems, refused, "aggregations", i, "type")
            continue
        key = f"{agg.type}{agg.column[0].upper()}{agg.column[1:]}"
        if any(k == key for k, _ in keys):
            continue
        label = f"m{len(measures)}"
        measures.append(
            Measure(op=op, field=field.column, as_=label, filter=subject_rows(source, field))
        )
        keys.append((key, label))
    return measures, keys


def _all(conditions: list[Filter]) -> Filter | None:
    if len(conditions) <= 1:
        return conditions[0] if conditions else None
    return And(and_=conditions)


def translate(
    request: MetricsQuery,
    source: Datasource,
    dataset: Dataset,
    tenants: list[str] | None,
    max_points: int,
) -> Plan:
    """The plan of `request`, or one 400 listing every problem found in it."""
    problems: Problems = []
    interval = _interval(request, problems)
    conditions = _filters(request, source, dataset, problems)
    groups, group_conditions = _groups(request, source, dataset, problems)
    measures, keys = _measures(request, source, dataset, problems)
    if problems:
        raise TallyError.invalid(problems, INVALID)
    conditions += group_conditions
    group_by: list[GroupItem] = [column for _, column in groups]
    if request.type == "timeseries" and interval is not None:
        group_by.append(TimeGroup(time=interval))
    try:
        query = Query(
            dataset=dataset.name,
            time=TimeRange(start=request.start_ts, end=request.end_ts),
            timezone="UTC",
            filter=_all(conditions),
            measures=measures,
            group_by=group_by,
            limit=max_points,
            scope={dataset.primary_tenant: tenants} if tenants else None,
        )
    except ValidationError as exc:
        raise TallyError.invalid(pydantic_details(exc), INVALID) from None
    return Plan(
        query=query,
        groups=tuple(groups),
        measures=tuple(keys),
        interval=interval if request.type == "timeseries" else None,
        max_points=max_points,
    )
