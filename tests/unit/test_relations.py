"""How an external dataset's source is named in SQL: quoted identifiers, escaped paths, and
`from` paths whose keys cannot leave a JSON path literal."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tally.catalog.model import Column
from tally.catalog.sources import SourcePath
from tally.sql.relations import file_relation, table_relation


@pytest.mark.parametrize(
    ("declared", "catalog", "spelled"),
    [
        ("events", None, '"events"'),
        ("public.events", None, '"public"."events"'),
        ("db.public.events", None, '"db"."public"."events"'),
        ("events", "source_1", '"source_1"."main"."events"'),
        ("s.events", "source_1", '"source_1"."s"."events"'),
    ],
)
def test_tables_are_quoted_parts(declared: str, catalog: str | None, spelled: str) -> None:
    assert table_relation(declared, catalog).sql("duckdb") == spelled


def test_a_path_is_an_escaped_literal() -> None:
    relation = file_relation("read_parquet", "/data/it's/**/*.parquet", hive_partitioning=True)
    assert relation.sql("duckdb") == (
        "READ_PARQUET('/data/it''s/**/*.parquet', hive_partitioning = TRUE)"
    )


def test_from_paths() -> None:
    assert SourcePath.parse("payload:geo.country") == SourcePath(
        column="payload", json_path=("geo", "country")
    )
    assert SourcePath.parse("Amount Cents") == SourcePath(column="Amount Cents")
    for bad in ("payload:", "payload:a..b", 'payload:a"b', "payload:a'b", ":x"):
        with pytest.raises(ValueError, match="column:json.path"):
            SourcePath.parse(bad)
    with pytest.raises(ValidationError):
        Column.model_validate({"name": "c", "type": "string", "from": "payload:a$b'"})
