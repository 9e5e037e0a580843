"""The constant filter `{"const": true|false}`: parsed, validated, folded away by normalize where
the answer is known, and answered by the engine (SQL FALSE) when a filter stays false."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tally.auth.principal import Principal
from tally.catalog import Catalog
from tally.query.folding import fold, fold_filter
from tally.query.limits import Limits
from tally.query.model import (
    And,
    Const,
    Filter,
    Leaf,
    Measure,
    Not,
    Or,
    Query,
    filter_depth,
    walk_leaves,
)
from tally.query.normalize import normalize
from tally.query.scope import Scope
from tally.query.validate import validate
from tally.sql.compiler import Compiler
from tally.sql.duckdb import DuckDBDialect

TRUE, FALSE = Const(const=True), Const(const=False)
A = Leaf(field="event_type", op="eq", value="view")
B = Leaf(field="amount", op="gt", value=10)
NOW = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
ADMIN = Principal("test-admin", "admin", all_tenants=True)


@pytest.mark.parametrize(
    ("node", "folded"),
    [
        pytest.param(And(and_=[A, FALSE]), FALSE, id="and with a false child is false"),
        pytest.param(And(and_=[A, TRUE, B]), And(and_=[A, B]), id="and drops a true child"),
        pytest.param(And(and_=[TRUE, A]), A, id="and left with one child is that child"),
        pytest.param(And(and_=[TRUE, TRUE]), TRUE, id="and of true children is true"),
        pytest.param(Or(or_=[A, TRUE]), TRUE, id="or with a true child is true"),
        pytest.param(Or(or_=[A, FALSE, B]), Or(or_=[A, B]), id="or drops a false child"),
        pytest.param(Or(or_=[FALSE, B]), B, id="or left with one child is that child"),
        pytest.param(Or(or_=[FALSE, FALSE]), FALSE, id="or of false children is false"),
        pytest.param(Not(not_=TRUE), FALSE, id="not flips true"),
        pytest.param(Not(not_=FALSE), TRUE, id="not flips false"),
        pytest.param(Not(not_=And(and_=[A, FALSE])), TRUE, id="not of a folded child"),
        pytest.param(
            Or(or_=[And(and_=[A, Not(not_=TRUE)]), Not(not_=Or(or_=[B, FALSE]))]),
            Not(not_=B),
            id="nested",
        ),
    ],
)
def test_folding_rules(node: Filter, folded: Filter) -> None:
    assert fold(node) == folded


def test_a_tree_without_constants_is_returned_as_is() -> None:
    tree = Or(or_=[And(and_=[A]), Not(not_=B)])
    assert fold(tree) is tree


def test_a_true_filter_is_no_filter_and_a_false_one_stays() -> None:
    assert fold_filter(None) is None
    assert fold_filter(Or(or_=[A, TRUE])) is None
    assert fold_filter(And(and_=[A, FALSE])) == FALSE


def test_normalize_folds_the_filter_the_having_and_measure_filters() -> None:
    query = Query(
        dataset="agent_events",
        filter=And(and_=[A, Not(not_=FALSE)]),
        having=Or(or_=[Leaf(field="n", op="gt", value=1), TRUE]),
        measures=[
            Measure(op="count", as_="n", filter=TRUE),
            Measure(op="count", as_="none", filter=And(and_=[B, FALSE])),
        ],
    )
    normalized = normalize(query, NOW, Limits())
    assert normalized.filter == A
    assert normalized.having is None
    assert [m.filter for m in normalized.measures] == [None, FALSE]


def test_the_json_form_parses_validates_and_is_in_the_schema() -> None:
    body = {
        "dataset": "agent_events",
        "filter": {"and": [{"const": True}, {"not": {"const": False}}, {"or": [A.model_dump()]}]},
    }
    query = Query.model_validate(body)
    assert query.filter == And(and_=[TRUE, Not(not_=FALSE), Or(or_=[A])])
    assert [leaf for leaf, _ in walk_leaves(query.filter)] == [A]
    assert filter_depth(query.filter) == 3
    dataset = Catalog.load().get("agent_events")
    assert dataset is not None
    validate(query, dataset, Limits())
    assert query.canonical()["filter"]["and"][0] == {"const": True}
    with pytest.raises(ValueError, match="boolean"):
        Query.model_validate({"dataset": "agent_events", "filter": {"const": "yes"}})
    schema = Query.model_json_schema()
    assert schema["$defs"]["Const"]["properties"]["const"]["type"] == "boolean"
    assert "eq" in schema["$defs"]["FilterOp"]["enum"]
    assert "p95" in schema["$defs"]["MeasureOp"]["enum"]


def test_a_false_filter_compiles_to_sql_false() -> None:
    dataset = Catalog.load().get("agent_events")
    assert dataset is not None
    query = normalize(Query(dataset="agent_events", filter=FALSE), NOW, Limits())
    scope = Scope(columns={"workspace_id": ("ws_a",)})
    compiled = Compiler(DuckDBDialect(), dataset, scope).compile(query)
    assert 'WHERE "t"."workspace_id" IN ($p0) AND FALSE)' in compiled.sql
    assert compiled.params == {"p0": "ws_a"}


ROWS = [
    {
        "workspace_id": "ws_a",
        "brand_id": brand,
        "event_id": f"e{i}",
        "event_type": event_type,
        "ts": f"2026-11-0{1 + i % 5}T10:00:00Z",
        "amount": 10.0 * i,
    }
    for i, (brand, event_type) in enumerate(
        [("b1", "view"), ("b1", "purchase"), ("b2", "view"), ("b3", "search"), ("b2", "view")]
    )
]
WINDOW = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}
SHAPES: dict[str, dict[str, Any]] = {
    "count": {},
    "measures": {
        "measures": [
            {"op": "count"},
            {"op": "sum", "field": "amount"},
            {"op": "count_distinct", "field": "brand_id"},
        ]
    },
    "groups": {"group_by": ["brand_id"]},
    "daily zero-filled": {"time": WINDOW, "group_by": [{"time": "1 day"}], "fill": "zero"},
    "top and other": {"group_by": ["brand_id"], "top": {"n": 1}},
    "compare": {"time": WINDOW, "compare": "previous_period"},
}
NEVER = {"field": "event_type", "op": "eq", "value": "no such event"}


def _answer(service, body: dict[str, Any]) -> tuple[list, dict]:
    result = service.answers.answer(Query.model_validate(body), ADMIN)
    meta = {k: v for k, v in result.meta.items() if k not in ("cache", "timing_ms")}
    return result.rows, meta


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_false_filter_answers_like_an_empty_match_on_duckdb(service, shape: str) -> None:
    assert not service.ingestion.ingest("agent_events", ROWS, ADMIN, False).rejected
    body = {"dataset": "agent_events", **SHAPES[shape]}
    folded_false = {"and": [NEVER | {"value": "view"}, {"const": False}]}
    assert _answer(service, body | {"filter": {"const": False}}) == _answer(
        service, body | {"filter": NEVER}
    )
    assert _answer(service, body | {"filter": folded_false}) == _answer(
        service, body | {"filter": NEVER}
    )
    assert _answer(service, body | {"filter": {"const": True}}) == _answer(service, body)


def test_nothing_matches_a_false_filter(service) -> None:
    assert not service.ingestion.ingest("agent_events", ROWS, ADMIN, False).rejected
    body = {"dataset": "agent_events", "filter": {"const": False}}
    rows, meta = _answer(service, body)
    assert (rows, meta["total_rows"]) == ([{"count": 0}], 1)
    rows, meta = _answer(service, body | {"group_by": ["brand_id"]})
    assert (rows, meta["total_rows"]) == ([], 0)
    rows, _ = _answer(service, {"dataset": "agent_events", "group_by": ["brand_id"]})
    assert len(rows) == 3


def test_a_false_measure_filter_counts_nothing_on_duckdb(service) -> None:
    assert not service.ingestion.ingest("agent_events", ROWS, ADMIN, False).rejected
    body = {"dataset": "agent_events", "group_by": ["brand_id"]}

    def measures(condition: dict) -> list[dict]:
        return [{"op": "count", "as": "n"}, {"op": "count", "as": "m", "filter": condition}]

    assert _answer(service, body | {"measures": measures({"const": False})}) == _answer(
        service, body | {"measures": measures(NEVER)}
    )
