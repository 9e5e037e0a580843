"""Every dialect accounts for every operation of the vocabulary, checked when its class is made:
renamed, spelled by a method, standard SQL, or listed as unsupported (refused at compile time)."""

from __future__ import annotations

import pytest
from sqlglot import exp

from tally.catalog import Catalog
from tally.catalog.vocabulary import BASE_MEASURES, FilterOp, MeasureOp
from tally.query.model import Query
from tally.query.scope import Scope
from tally.sql.calendar import CalendarDialect
from tally.sql.capabilities import DIALECTS
from tally.sql.compiler import Compiler
from tally.sql.dialect import OPERATIONS, Dialect, Unsupported
from tally.sql.duckdb import DuckDBDialect

ARRAY_TESTS = {
    FilterOp.CONTAINS: "strpos",
    FilterOp.STARTS_WITH: "starts_with",
    FilterOp.ENDS_WITH: "ends_with",
    FilterOp.HAS_ANY: "has_any",
    FilterOp.HAS_ALL: "has_all",
}


def test_the_checked_operations_are_the_whole_vocabulary() -> None:
    assert set(OPERATIONS) == set(FilterOp) | set(BASE_MEASURES)


def test_a_dialect_missing_an_operation_fails_when_its_class_is_created() -> None:
    without_suffix = {op: f for op, f in ARRAY_TESTS.items() if op is not FilterOp.ENDS_WITH}
    with pytest.raises(TypeError, match="ends_with"):

        class NoSuffix(Dialect):
            renames = without_suffix

            def percentile(self, value, q, approx):
                return exp.Null()

            def size(self, value, is_map):
                return exp.Null()


def test_a_missing_method_operation_is_named_too() -> None:
    with pytest.raises(TypeError, match="percentile"):

        class NoPercentile(Dialect):
            renames = ARRAY_TESTS
            unsupported = frozenset({FilterOp.IS_EMPTY, FilterOp.NOT_EMPTY, FilterOp.REGEX})


def test_only_an_operation_that_is_one_call_can_be_renamed() -> None:
    with pytest.raises(TypeError, match="is_empty"):

        class RenamedSize(Dialect):
            renames = {**ARRAY_TESTS, FilterOp.IS_EMPTY: "empty"}
            unsupported = frozenset({MeasureOp.PERCENTILE, FilterOp.REGEX})


def test_an_abstract_dialect_leaves_operations_to_its_subclasses() -> None:
    class Partial(Dialect, abstract=True):
        pass

    assert issubclass(Partial, Dialect)
    assert issubclass(CalendarDialect, Dialect)


class Narrow(Dialect):
    """Renames for the text and array tests, no percentiles, no sizes, no LIKE, no regex."""

    name = "narrow"
    sqlglot_name = "duckdb"
    renames = ARRAY_TESTS
    unsupported = frozenset(
        {
            MeasureOp.PERCENTILE,
            FilterOp.IS_EMPTY,
            FilterOp.NOT_EMPTY,
            FilterOp.LIKE,
            FilterOp.REGEX,
        }
    )


def test_a_rename_is_the_engine_function_under_its_name() -> None:
    column, value = exp.column("c"), exp.Placeholder(this="p0")
    spelled = Narrow().ends_with(column, value)
    assert isinstance(spelled, exp.Anonymous)
    assert (spelled.name, spelled.expressions) == ("ends_with", [column, value])
    assert DuckDBDialect().ends_with(column, value).name == "suffix"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"filter": {"field": "event_type", "op": "like", "value": "a%"}},
            "the like operation is not supported on narrow",
        ),
        (
            {"measures": [{"op": "percentile", "field": "amount", "q": 0.5}]},
            "the percentile operation is not supported on narrow",
        ),
    ],
)
def test_an_unsupported_operation_is_refused_at_compile_time(body: dict, message: str) -> None:
    dataset = Catalog.load().get("agent_events")
    assert dataset is not None
    query = Query.model_validate({"dataset": "agent_events", **body})
    compiler = Compiler(Narrow(), dataset, Scope(columns={"workspace_id": ("ws_a",)}))
    with pytest.raises(Unsupported) as raised:
        compiler.compile(query)
    assert raised.value.message == message


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_the_engines_support_the_whole_vocabulary(name: str) -> None:
    assert not DIALECTS[name].unsupported
