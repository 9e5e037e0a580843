"""When each group of an answer is provably one rollup cell (a distinct count then reads the
stored cardinality), and when a rollup across tenants may answer at all."""

from __future__ import annotations

from typing import Any

import pytest

from tally.query.model import Query
from tally.query.scope import Scope
from tally.rollups.layout import rollup_tables
from tally.rollups.match import answers, one_cell_per_group
from tests.unit.rollup_datasets import events

DATASET = events(
    {"kind": "string", "score": "float", "meta": "json", "user": "string"},
    [
        {
            "name": "daily",
            "grain": "24 hours",
            "dimensions": ["kind", "score", "meta.channel"],
            "measures": [{"op": "count_distinct", "field": "user"}],
        },
        {
            "name": "daily_all",
            "grain": "24 hours",
            "across_tenants": True,
            "dimensions": ["kind"],
            "measures": [{"op": "count_distinct", "field": "user"}],
        },
    ],
)
DAILY, ACROSS = rollup_tables(DATASET)
ONE = Scope(columns={"tenant": ("a",)})
GROUPED = ["kind", "score", "meta.channel"]


def query(groups: list[Any], start: str = "2025-03-01T00:00:00Z", **fields: Any) -> Query:
    body: dict[str, Any] = {
        "dataset": "ev",
        "time": {"start": start, "end": "2025-03-08T00:00:00Z"},
        "measures": [{"op": "count_distinct", "field": "user"}],
        "group_by": groups,
        **fields,
    }
    return Query.model_validate(body)


def one_cell(q: Query, scope: Scope = ONE) -> bool:
    assert answers(q, scope, DAILY)
    return one_cell_per_group(q, scope, DAILY)


@pytest.mark.parametrize(
    ("groups", "extra", "expected"),
    [
        ([*GROUPED, {"time": "1 day"}], {}, True),
        ([*GROUPED, {"time": "24 hours"}], {}, True),
        ([*GROUPED, {"time": "1 day"}], {"timezone": "Europe/London"}, True),  # UTC+0 in March
        ([*GROUPED, {"time": "2 days"}], {}, False),
        ([*GROUPED, {"time": "1 week"}], {}, False),
        (GROUPED, {}, False),  # no bucket: the whole week is one group
        ([*GROUPED, {"time": "1 day"}], {"start": "2025-03-01T06:00:00Z"}, False),  # ragged
        ([*GROUPED, {"time": "1 day"}], {"top": {"n": 2}}, False),
        (["kind", "score", {"time": "1 day"}], {}, False),  # meta.channel not grouped
    ],
)
def test_buckets_windows_and_groups(
    groups: list[Any], extra: dict[str, Any], expected: bool
) -> None:
    assert one_cell(query(groups, **extra)) is expected


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ({"field": "meta.channel", "op": "eq", "value": "web"}, True),
        ({"field": "meta.channel", "op": "in", "value": ["web"]}, True),
        # A number meets the texts "5" and "5.0": two cells.
        ({"field": "meta.channel", "op": "eq", "value": 5}, False),
        ({"field": "meta.channel", "op": "in", "value": ["web", "app"]}, False),
        ({"field": "meta.channel", "op": "neq", "value": "web"}, False),
        ({"or": [{"field": "meta.channel", "op": "eq", "value": "web"}]}, False),
        ({"and": [{"field": "kind", "op": "eq", "value": "x"},
                  {"and": [{"field": "meta.channel", "op": "eq", "value": "web"}]}]}, True),
    ],
)  # fmt: skip
def test_a_key_not_grouped_is_pinned_by_an_equality_the_filter_requires(
    test: dict[str, Any], expected: bool
) -> None:
    q = query(["kind", "score", {"time": "1 day"}], filter=test)
    assert one_cell(q) is expected


def test_a_float_key_is_pinned_by_its_equality() -> None:
    """-0.0 and 0.0 share a cell (DuckDB groups them as `=` compares them)."""
    groups = ["kind", "meta.channel", {"time": "1 day"}]
    assert one_cell(query(groups, filter={"field": "score", "op": "eq", "value": 0.0}))
    assert not one_cell(query(groups, filter={"field": "score", "op": "gte", "value": 0.0}))


def test_the_tenant_is_pinned_by_a_scope_of_one_tenant() -> None:
    q = query([*GROUPED, {"time": "1 day"}])
    assert one_cell(q, ONE)
    assert not one_cell(q, Scope(columns={"tenant": ("a", "b")}))
    assert not one_cell(q, Scope.everything())
    pinned = query(
        [*GROUPED, {"time": "1 day"}], filter={"field": "tenant", "op": "eq", "value": "b"}
    )
    assert one_cell(pinned, Scope.everything())


def test_a_rollup_across_tenants_answers_a_caller_of_every_tenant_only() -> None:
    q = query(["kind", {"time": "1 day"}])
    assert answers(q, Scope.everything(), ACROSS)
    assert one_cell_per_group(q, Scope.everything(), ACROSS)
    assert not answers(q, ONE, ACROSS)
    assert not answers(q, Scope(columns={"tenant": ("a", "b")}), ACROSS)
    for test in (
        {"field": "tenant", "op": "neq", "value": "a"},
        {"field": "tenant", "op": "is_null"},
    ):
        assert not answers(query(["kind"], filter=test), Scope.everything(), ACROSS)
    assert not answers(query(["tenant"]), Scope.everything(), ACROSS)
