"""The `filters` list: the operators of each data type, and AND binding tighter than OR.

Each rule's `conjunction` joins it to the NEXT rule, so the list reads left to right like a
sentence: `a and b or c` is `(a AND b) OR c`. Runs of rules joined by `and` become AND groups
and the groups are ORed; the last rule's conjunction joins nothing and is ignored.

Dates (decided): a `date` field of the catalog type date compares calendar days. A timestamp
field given a plain day `YYYY-MM-DD` compares with the whole UTC day: `eq` is any instant of that
day, `lt` is before it starts, `gt` is after it ends; given a full ISO 8601 timestamp with a
timezone it compares with that instant. Comparisons follow SQL: `neq` and the other comparisons
never match a missing (null) value; only is_null / is_not_null test for it.
"""

from __future__ import annotations

from datetime import timedelta

from tally.catalog.model import Column, Dataset
from tally.profiles.records_statistics.conditions import Condition, all_of, any_of, null_test
from tally.profiles.records_statistics.errors import Problems
from tally.profiles.records_statistics.fields import WORKSPACE_FIELDS, Kind, kind_of, lookup
from tally.profiles.records_statistics.models import FilterRule
from tally.profiles.records_statistics.values import compare_leaf, day_start, leaf

NULL_OPERATORS = {"is_null": True, "is_not_null": False}
OPERATORS: dict[Kind, tuple[str, ...]] = {
    Kind.TEXT: ("contains", "eq", "neq", "starts_with", "ends_with", "is_null", "is_not_null"),
    Kind.NUMBER: ("eq", "neq", "gt", "gte", "lt", "lte", "is_null", "is_not_null"),
    Kind.DATE: ("eq", "lt", "gt", "is_null", "is_not_null"),
    Kind.BOOLEAN: ("eq",),
    Kind.ENUM: ("eq", "neq", "in", "is_null", "is_not_null"),
}
CASE_INSENSITIVE = frozenset({"contains", "starts_with", "ends_with"})
# A timestamp given a whole day: the bounds each operator means, as (op, day offset) pairs.
DAY_BOUNDS = {"eq": (("gte", 0), ("lt", 1)), "lt": (("lt", 0),), "gt": (("gte", 1),)}


def filters_condition(dataset: Dataset, rules: list[FilterRule], problems: Problems) -> Condition:
    terms = [(_rule(dataset, rule, problems, i), rule.conjunction) for i, rule in enumerate(rules)]
    if not terms:
        return True
    groups: list[Condition] = []
    run: list[Condition] = []
    for condition, conjunction in terms:
        run.append(condition)
        if conjunction == "or":
            groups.append(all_of(run))
            run = []
    if run:
        groups.append(all_of(run))
    return any_of(groups)


def _rule(dataset: Dataset, rule: FilterRule, problems: Problems, index: int) -> Condition:
    path = ("filters", index)
    column = lookup(dataset, rule.field, problems, *path, "field")
    if column is None:
        return True
    kind = kind_of(column)
    allowed = ("eq",) if column.name in WORKSPACE_FIELDS else OPERATORS[kind]
    if rule.operator not in allowed:
        problems.add(
            f"operator {rule.operator!r} is not available on {rule.field!r} ({kind}); "
            f"use one of {', '.join(allowed)}",
            *path, "operator",
        )  # fmt: skip
        return True
    if rule.operator in NULL_OPERATORS:
        if rule.value is not None:
            problems.add(f"{rule.operator} takes no value", *path, "value")
        return null_test(column, NULL_OPERATORS[rule.operator])
    if rule.value is None:
        problems.add(f"{rule.operator} needs a value", *path, "value")
        return True
    try:
        if kind is Kind.DATE:
            return _date_rule(dataset, column, rule)
        return leaf(dataset, column, rule.operator, rule.value, rule.operator in CASE_INSENSITIVE)
    except ValueError as exc:
        problems.add(str(exc), *path, "value")
        return True


def _date_rule(dataset: Dataset, column: Column, rule: FilterRule) -> Condition:
    start = day_start(column, rule.value)
    if start is None:
        return compare_leaf(dataset, column, rule.operator, rule.value)
    return all_of(
        [
            leaf(dataset, column, op, (start + timedelta(days=shift)).isoformat())
            for op, shift in DAY_BOUNDS[rule.operator]
        ]
    )
