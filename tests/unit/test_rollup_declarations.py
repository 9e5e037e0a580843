"""What a dataset file may declare as rollups, and the clear error for what it may not."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tally.catalog.model import Dataset
from tally.rollups.layout import rollup_tables

COLUMNS = [
    {"name": "tenant", "type": "string"},
    {"name": "id", "type": "string"},
    {"name": "ts", "type": "timestamp"},
    {"name": "day", "type": "date"},
    {"name": "kind", "type": "string"},
    {"name": "amount", "type": "int"},
    {"name": "tags", "type": "string[]"},
    {"name": "meta", "type": "json"},
    {"name": "ref", "type": "string"},
    {"name": "rowid", "type": "string"},
    {"name": "ref_id", "type": "string", "derived": {"fn": "ref_object_id", "of": "ref"}},
]


def dataset(rollup: dict[str, Any], **extra: Any) -> Dataset:
    body = {
        "name": "ev",
        "tenant_columns": ["tenant"],
        "time_column": "ts",
        "columns": COLUMNS,
        "rollups": [rollup],
        **extra,
    }
    return Dataset.model_validate(body)


def test_a_declaration_with_defaults() -> None:
    found = dataset({"name": "daily", "dimensions": ["kind"]})
    (layout,) = rollup_tables(found)
    assert layout.name == "ev__rollup__daily"
    assert layout.grain_seconds == 900
    assert [k.field for k in layout.keys] == ["tenant", "kind"]
    assert [a.column for a in layout.aggregates] == ["_count"]


def test_measures_store_a_non_null_count_per_field() -> None:
    measures = [{"op": "sum", "field": "amount"}, {"op": "max", "field": "amount"}]
    (layout,) = rollup_tables(dataset({"name": "r", "grain": "1 hour", "measures": measures}))
    assert layout.grain_seconds == 3600
    columns = [a.column for a in layout.aggregates]
    assert columns == ["_count", "_n__amount", "_sum__amount", "_max__amount"]


def test_distinct_values_and_percentiles_are_kept_as_sets_and_sketches() -> None:
    measures = [
        {"op": "count_distinct", "field": "kind"},
        {"op": "count_distinct", "field": "ref", "approx": True},
        {"op": "percentile", "field": "amount", "approx": True},
    ]
    (layout,) = rollup_tables(dataset({"name": "r", "measures": measures}))
    found = [(s.column, s.kind, s.field) for s in layout.sketches]
    assert found == [
        ("_ids__kind", "ids", "kind"),
        ("_hll__ref", "hll", "ref"),
        ("_kll__amount", "kll", "amount"),
    ]
    assert layout.dictionary("kind") == "ev__ids__kind"
    plain = rollup_tables(dataset({"name": "r", "measures": [{"op": "count"}]}))[0]
    assert plain.fingerprint != layout.fingerprint


@pytest.mark.parametrize(
    ("rollup", "extra", "message", "where"),
    [
        ({"name": "r", "dimensions": ["nope"]}, {}, "unknown column 'nope'", ("dimensions", 0)),
        ({"name": "r", "dimensions": ["kind", "tags"]}, {}, "scalar type", ("dimensions", 1)),
        ({"name": "r", "dimensions": ["meta"]}, {}, "a dimension is one of its keys (meta.<key>)",
         ("dimensions", 0)),
        ({"name": "r", "dimensions": ["kind.x"]}, {}, "kind is a string column", ("dimensions", 0)),
        ({"name": "r", "dimensions": ["meta.a b"]}, {}, "invalid key 'a b'", ("dimensions", 0)),
        ({"name": "r", "dimensions": ["nope.x"]}, {}, "unknown column 'nope.x'", ("dimensions", 0)),
        ({"name": "r", "measures": [{"op": "count", "field": "meta.x"}]}, {},
         "meta.x is a key of a json column", ("measures", 0, "field")),
        ({"name": "r", "measures": [{"op": "max", "field": "ts"}]}, {},
         "the time column is the grain: measures of it", ("measures", 0, "field")),
        ({"name": "r", "measures": [{"op": "count", "field": "nope"}]}, {}, "unknown column",
         ("measures", 0, "field")),
        ({"name": "r", "dimensions": ["kind", "meta.a", "kind"]}, {},
         "duplicate dimensions: a second 'kind'", ("dimensions", 2)),
        ({"name": "r", "measures": [{"op": "sum", "field": "amount"}, {"op": "count"},
          {"op": "sum", "field": "amount"}]}, {}, "duplicate measures: a second sum of amount",
         ("measures", 2)),
        ({"name": "r", "dimensions": ["ref_id"]}, {}, "stored column", ("dimensions", 0)),
        ({"name": "r", "dimensions": ["ts"]}, {}, "the time column is the grain",
         ("dimensions", 0)),
        ({"name": "r", "dimensions": ["rowid"]}, {}, "a column named rowid cannot be a key",
         ("dimensions", 0)),
        ({"name": "r"}, {"tenant_columns": ["rowid"]}, "a column named rowid cannot be a key", ()),
        ({"name": "r", "measures": [{"op": "count"}, {"op": "sum", "field": "kind"}]}, {},
         "kind does not allow", ("measures", 1, "op")),
        ({"name": "r", "measures": [{"op": "sum"}]}, {}, "sum needs a field",
         ("measures", 0, "op")),
        ({"name": "r", "measures": [{"op": "max", "field": "tags"}]}, {}, "scalar type",
         ("measures", 0, "field")),
        ({"name": "r", "measures": [{"op": "avg", "field": "amount"}]}, {}, "'count', 'sum'",
         ("measures", 0, "op")),
        ({"name": "r", "measures": [{"op": "percentile", "field": "amount"}]}, {},
         "percentile of amount is kept only as a sketch", ("measures", 0, "approx")),
        ({"name": "r", "measures": [{"op": "sum", "field": "amount", "approx": True}]}, {},
         "approx applies to count_distinct and percentile", ("measures", 0, "approx")),
        ({"name": "r", "measures": [{"op": "count_distinct", "field": "meta"}]}, {}, "scalar",
         ("measures", 0, "field")),
        ({"name": "r", "measures": [{"op": "count_distinct", "field": "tags"}]}, {}, "scalar",
         ("measures", 0, "field")),
        ({"name": "r", "measures": [{"op": "count_distinct"}]}, {}, "needs a field",
         ("measures", 0, "op")),
        ({"name": "r", "measures": [{"op": "percentile", "field": "kind", "approx": True}]}, {},
         "kind does not allow percentile", ("measures", 0, "op")),
        ({"name": "r", "grain": "7 minutes"}, {}, "must divide a day", ("grain",)),
        ({"name": "r", "grain": "1 day"}, {}, "minutes or hours", ("grain",)),
        ({"name": "r"}, {"time_column": "day"}, "timestamp time column", ()),
        ({"name": "r"}, {"time_column": None}, "timestamp time column", ()),
        ({"name": "r"}, {"source": {"parquet": {"path": "/data/*.parquet"}}}, "owned dataset",
         ()),
    ],
)  # fmt: skip
def test_declarations_that_do_not_fit_are_refused_at_their_field(
    rollup: dict[str, Any], extra: dict[str, Any], message: str, where: tuple[str | int, ...]
) -> None:
    """Each problem is located like the other problems of a dataset file: `rollups` for the
    dataset's own misfit, else the rollup's field (`rollups[0].dimensions[1]`)."""
    with pytest.raises(ValidationError) as refused:
        dataset(rollup, **extra)
    found = [e for e in refused.value.errors() if message in e["msg"]]
    assert found, refused.value
    assert found[0]["loc"] == (("rollups", 0, *where) if where else ("rollups",))


def test_keys_of_a_json_column_are_dimensions_kept_as_text() -> None:
    found = dataset({"name": "r", "dimensions": ["kind", "meta.channel", "meta.Channel"]})
    (layout,) = rollup_tables(found)
    keys = [(k.field, k.column, k.source.name, k.json_key) for k in layout.keys]
    assert keys == [
        ("tenant", "tenant", "tenant", None),
        ("kind", "kind", "kind", None),
        # numbered: DuckDB's column names ignore case
        ("meta.channel", "_json0__meta__channel", "meta", "channel"),
        ("meta.Channel", "_json1__meta__Channel", "meta", "Channel"),
    ]
    assert layout.columns == {"tenant", "kind", "meta.channel", "meta.Channel"}
    # Queries resolve the key over the rollup's dataset as over the rows.
    assert [c.name for c in layout.as_dataset.columns[:4]] == ["tenant", "kind", "meta", "ts"]


def test_the_fingerprint_changes_with_the_dimensions() -> None:
    """A changed declaration is rebuilt before it answers: each dimension change is seen."""
    prints = {
        rollup_tables(dataset({"name": "r", "dimensions": dims}))[0].fingerprint
        for dims in (["kind"], ["kind", "meta.channel"], ["kind", "meta.plan"], ["meta.plan"])
    }
    assert len(prints) == 4


def test_rollup_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="duplicate rollup names"):
        Dataset.model_validate(
            {
                "name": "ev",
                "tenant_columns": ["tenant"],
                "time_column": "ts",
                "columns": COLUMNS,
                "rollups": [{"name": "r"}, {"name": "r"}],
            }
        )


def test_a_rollup_across_tenants_keeps_no_tenant_column() -> None:
    measures = [{"op": "count"}, {"op": "count_distinct", "field": "kind"}]
    across = {"name": "r", "dimensions": ["kind"], "measures": measures}
    (per_tenant,) = rollup_tables(dataset(across))
    (layout,) = rollup_tables(dataset({**across, "across_tenants": True}))
    assert [k.field for k in per_tenant.keys] == ["tenant", "kind"]
    assert [k.field for k in layout.keys] == ["kind"]
    assert layout.columns == {"kind"}
    assert layout.cards == ("_card__kind",) == per_tenant.cards
    assert layout.fingerprint != per_tenant.fingerprint
    # Written as declared: the default is not said.
    assert "across_tenants" not in per_tenant.rollup.model_dump()
    assert layout.rollup.model_dump()["across_tenants"] is True


def test_a_rollup_across_tenants_refuses_a_tenant_column_as_a_dimension() -> None:
    body = {"name": "r", "across_tenants": True, "dimensions": ["kind", "tenant"]}
    with pytest.raises(ValidationError) as raised:
        dataset(body)
    assert "rollups.0.dimensions.1" in str(raised.value)
    assert "tenant is a tenant column: a rollup across tenants keeps none" in str(raised.value)
