"""A statistics request -> the IR queries that answer it.

One query computes the aggregations (grouped, ordered, limited, scoped to the workspace); when
money amounts are summed, averaged or compared, a second query over the same filter and scope
tells which currencies those amounts are in (see `currency`). Nothing here reads a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tally.catalog import Catalog
from tally.catalog.model import Dataset
from tally.profiles.records_statistics.conditions import all_of, to_filter
from tally.profiles.records_statistics.currency import MoneyField, currency_probe, money_fields
from tally.profiles.records_statistics.errors import Problems
from tally.profiles.records_statistics.fields import (
    ROOTS,
    Kind,
    kind_of,
    lookup,
    root_dataset,
)
from tally.profiles.records_statistics.filters import filters_condition
from tally.profiles.records_statistics.models import RecordsAggregation, StatisticsRequest
from tally.profiles.records_statistics.where import where_condition
from tally.query.limits import Limits
from tally.query.model import (
    NAME_PATTERN,
    Filter,
    Measure,
    OrderBy,
    Query,
    filter_depth,
    walk_leaves,
)

AGGREGATIONS = ("count", "count_distinct", "sum", "avg", "min", "max")
# The data types each op reads (decided): count and count_distinct read any field (non-null
# values); min and max also order dates and, alphabetically, text and enums; never booleans.
KINDS_OF = {
    "sum": (Kind.NUMBER,),
    "avg": (Kind.NUMBER,),
    "min": (Kind.NUMBER, Kind.DATE, Kind.TEXT, Kind.ENUM),
    "max": (Kind.NUMBER, Kind.DATE, Kind.TEXT, Kind.ENUM),
}
RESERVED = frozenset({"time", "__other__"})
ALIAS = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Plan:
    """The IR of one request: the statistics query and, with money, its currency probe."""

    query: Query
    money: list[MoneyField]
    currency_query: Query | None


def default_alias(op: str, field: str) -> str:
    return "count_all" if field == "*" else f"{op}_{field.replace('.', '_')}"


def translate(request: StatisticsRequest, catalog: Catalog, limits: Limits) -> Plan:
    problems = Problems()
    dataset = root_dataset(catalog, request.root)
    if dataset is None:
        problems.add(f"unknown root {request.root!r}; use one of {', '.join(ROOTS)}", "root")
        raise problems.error()
    condition = all_of(
        [
            filters_condition(dataset, request.filters, problems),
            where_condition(dataset, request.where_clause, problems),
        ]
    )
    groups = _groups(dataset, request.group_by, problems, limits)
    measures = _measures(dataset, request.aggregations, set(groups), problems)
    order = _order(request, groups, [m.as_ or "" for m in measures], problems)
    if request.limit > limits.max_rows:
        problems.add(f"limit must be at most {limits.max_rows}", "limit")
    where = to_filter(condition)
    _check_size(where, limits, problems)
    problems.raise_if_any()
    query = Query(
        dataset=dataset.name,
        filter=where,
        measures=measures,
        group_by=groups,
        order_by=order,
        limit=request.limit,
        scope={dataset.primary_tenant: [request.workspace_id]} if request.workspace_id else None,
    )
    money = money_fields(dataset, request.aggregations)
    probe = currency_probe(query, dataset, money) if money else None
    return Plan(query=query, money=money, currency_query=probe)


def _groups(dataset: Dataset, paths: list[str], problems: Problems, limits: Limits) -> list[str]:
    if len(paths) > limits.max_groups:
        problems.add(f"at most {limits.max_groups} group_by fields", "group_by")
    groups: list[str] = []
    for i, path in enumerate(paths):
        if lookup(dataset, path, problems, "group_by", i) is None:
            continue
        if path in groups:
            problems.add(f"{path!r} is grouped twice", "group_by", i)
            continue
        groups.append(path)
    return groups


def _measures(
    dataset: Dataset, aggregations: list[RecordsAggregation], groups: set[str], problems: Problems
) -> list[Measure]:
    measures: list[Measure] = []
    aliases: set[str] = set()
    for i, agg in enumerate(aggregations):
        path = ("aggregations", i)
        alias = agg.alias or default_alias(agg.op, agg.field)
        if not ALIAS.match(alias) or alias in RESERVED:
            problems.add(
                f"alias {alias!r} must be letters, digits, _ and . (not time or __other__)",
                *path, "alias",
            )  # fmt: skip
            continue
        if alias in aliases:
            problems.add(f"two aggregations are named {alias!r}; give one an alias", *path, "alias")
        elif alias in groups:
            problems.add(f"alias {alias!r} is also a group_by field", *path, "alias")
        aliases.add(alias)
        measure = _measure(dataset, agg, alias, problems, path)
        if measure is not None:
            measures.append(measure)
    return measures


def _measure(
    dataset: Dataset, agg: RecordsAggregation, alias: str, problems: Problems, path: tuple
) -> Measure | None:
    if agg.op not in AGGREGATIONS:
        problems.add(f"unknown op {agg.op!r}; use one of {', '.join(AGGREGATIONS)}", *path, "op")
        return None
    if agg.field == "*":
        if agg.op != "count":
            problems.add(f"'*' goes with count only; {agg.op} needs a field", *path, "field")
            return None
        return Measure(op="count", as_=alias)
    column = lookup(dataset, agg.field, problems, *path, "field")
    if column is None:
        return None
    kind = kind_of(column)
    allowed = KINDS_OF.get(agg.op)
    if (allowed is not None and kind not in allowed) or agg.op not in column.allowed_measures:
        problems.add(f"{agg.op} is not available on {agg.field!r} ({kind})", *path, "op")
        return None
    return Measure(op=agg.op, field=agg.field, as_=alias)


def _order(
    request: StatisticsRequest, groups: list[str], aliases: list[str], problems: Problems
) -> list[OrderBy]:
    """The caller's order, else group values ascending (ties always broken by the groups)."""
    if not request.order_by:
        return [OrderBy(field=g) for g in groups]
    order = []
    for i, item in enumerate(request.order_by):
        if item.field not in groups and item.field not in aliases:
            problems.add(
                f"order_by {item.field!r} is neither a group_by field nor an aggregation alias",
                "order_by", i, "field",
            )  # fmt: skip
            continue
        order.append(OrderBy(field=item.field, dir=item.direction))
    return order


def _check_size(where: Filter | None, limits: Limits, problems: Problems) -> None:
    """Filters and whereClause together must fit the IR's limits; say so on the request."""
    if filter_depth(where) > limits.max_filter_depth:
        problems.add("filters and whereClause nest too deeply together", "whereClause")
    elif sum(1 for _ in walk_leaves(where)) > limits.max_filter_leaves:
        problems.add(f"more than {limits.max_filter_leaves} conditions", "filters")
