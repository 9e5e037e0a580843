"""`Compiled` says what its statement returns: alias, name and role of every output column, and
the aliases of the `__other__` flag and of the totals, so no consumer spells an SQL alias."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tally.catalog import Catalog
from tally.catalog.storage import table_spec
from tally.engines.duckdb import DuckDBEngine
from tally.query.limits import Limits
from tally.query.model import Query
from tally.query.normalize import normalize
from tally.query.scope import Scope
from tally.sql.compiled import Compiled, OutputColumn, Role
from tally.sql.compiler import Compiler
from tally.sql.ddl import column_ddl, create_table
from tally.sql.duckdb import DuckDBDialect

NOW = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
WINDOW = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}
SCOPE = Scope(columns={"workspace_id": ("ws_a",)})
TOP_QUERY = {
    "dataset": "agent_events",
    "time": WINDOW,
    "group_by": ["event_type", "brand_id", {"time": "1 day"}],
    "measures": [
        {"op": "count"},
        {"op": "sum", "field": "amount", "as": "revenue"},
        {"op": "p95", "field": "amount", "approx": True},
    ],
    "top": {"n": 3},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def compile_body(catalog: Catalog, body: dict, count_rows: bool = False) -> Compiled:
    query = normalize(Query.model_validate(body), NOW, Limits())
    dataset = catalog.get(query.dataset)
    assert dataset is not None
    return Compiler(DuckDBDialect(), dataset, SCOPE).compile(query, count_rows=count_rows)


def test_groups_bucket_and_measures_with_top_and_other(catalog: Catalog) -> None:
    compiled = compile_body(catalog, TOP_QUERY)
    assert compiled.columns == (
        OutputColumn("g0", "event_type", Role.GROUP),
        OutputColumn("g1", "brand_id", Role.GROUP),
        OutputColumn("_t", "time", Role.BUCKET),
        OutputColumn("a0", "count", Role.MEASURE),
        OutputColumn("a1", "revenue", Role.MEASURE),
        OutputColumn("a2", "p95_amount", Role.MEASURE),
    )
    assert compiled.groups == ["event_type", "brand_id"]
    assert compiled.measures == ["count", "revenue", "p95_amount"]
    assert (compiled.has_time, compiled.has_other) == (True, True)
    assert compiled.other_alias == "_other"
    assert compiled.total_groups_alias == "_total_groups"
    assert compiled.total_rows_alias is None
    assert compiled.exact == {"count": True, "revenue": True, "p95_amount": False}
    assert compiled.alias_of("revenue") == "a1"
    assert compiled.alias_of("time") == "_t"
    with pytest.raises(KeyError):
        compiled.alias_of("unknown")


def test_the_row_count_alias_is_there_only_when_asked(catalog: Catalog) -> None:
    body = {"dataset": "agent_events", "measures": [{"op": "count", "as": "n"}]}
    plain = compile_body(catalog, body)
    counted = compile_body(catalog, body, count_rows=True)
    assert plain.columns == counted.columns == (OutputColumn("a0", "n", Role.MEASURE),)
    assert (plain.has_time, plain.has_other) == (False, False)
    assert plain.other_alias is plain.total_rows_alias is plain.total_groups_alias is None
    assert counted.total_rows_alias == "_total_rows"


def test_the_statement_returns_the_columns_compiled_names(catalog: Catalog) -> None:
    """Every alias `Compiled` names is an output column of the SQL, in the listed order."""
    engine = DuckDBEngine(None)
    try:
        dialect = DuckDBDialect()
        for dataset in catalog:
            engine.ensure_table(
                create_table(dataset, dialect), table_spec(dataset), column_ddl(dataset, dialect)
            )
        compiled = compile_body(catalog, TOP_QUERY, count_rows=True)
        columns, _ = engine.execute(compiled.sql, compiled.params, 10)
    finally:
        engine.close()
    named = [c.alias for c in compiled.columns]
    extras = [compiled.other_alias, compiled.total_rows_alias, compiled.total_groups_alias]
    assert set(columns) == {*named, *extras}
    assert [c for c in columns if c in named] == named
