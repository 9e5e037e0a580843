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
    assert [c.name for c in layout.group_columns] == ["tenant", "kind"]
    assert [a.column for a in layout.aggregates] == ["_count"]


def test_measures_store_a_non_null_count_per_field() -> None:
    measures = [{"op": "sum", "field": "amount"}, {"op": "max", "field": "amount"}]
    (layout,) = rollup_tables(dataset({"name": "r", "grain": "1 hour", "measures": measures}))
    assert layout.grain_seconds == 3600
    columns = [a.column for a in layout.aggregates]
    assert columns == ["_count", "_n__amount", "_sum__amount", "_max__amount"]


@pytest.mark.parametrize(
    ("rollup", "extra", "message"),
    [
        ({"name": "r", "dimensions": ["nope"]}, {}, "unknown column 'nope'"),
        ({"name": "r", "dimensions": ["tags"]}, {}, "scalar type"),
        ({"name": "r", "dimensions": ["meta"]}, {}, "scalar type"),
        ({"name": "r", "dimensions": ["ref_id"]}, {}, "stored column"),
        ({"name": "r", "dimensions": ["ts"]}, {}, "the time column is the grain"),
        ({"name": "r", "dimensions": ["rowid"]}, {}, "a column named rowid cannot be a key"),
        ({"name": "r"}, {"tenant_columns": ["rowid"]}, "a column named rowid cannot be a key"),
        ({"name": "r", "measures": [{"op": "sum", "field": "kind"}]}, {}, "kind does not allow"),
        ({"name": "r", "measures": [{"op": "sum"}]}, {}, "sum needs a field"),
        ({"name": "r", "measures": [{"op": "avg", "field": "amount"}]}, {}, "avg"),
        ({"name": "r", "grain": "7 minutes"}, {}, "must divide a day"),
        ({"name": "r", "grain": "1 day"}, {}, "minutes or hours"),
        ({"name": "r"}, {"time_column": "day"}, "timestamp time column"),
        ({"name": "r"}, {"time_column": None}, "timestamp time column"),
        (
            {"name": "r"},
            {"source": {"parquet": {"path": "/data/*.parquet"}}},
            "owned dataset",
        ),
    ],
)
def test_declarations_that_do_not_fit_are_refused(
    rollup: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        dataset(rollup, **extra)
    assert message in str(refused.value)


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
