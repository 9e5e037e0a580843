"""Tables for datasets, spelled per dialect from the catalog (identifiers from the catalog only)."""

from __future__ import annotations

from sqlglot import exp

from tally.catalog.model import Dataset
from tally.sql.dialect import Dialect


def column_ddl(dataset: Dataset, dialect: Dialect) -> dict[str, str]:
    return {c.physical: dialect.column_type(c) for c in dataset.stored_columns}


def create_table(dataset: Dataset, dialect: Dialect) -> str:
    columns = [
        exp.ColumnDef(
            this=exp.to_identifier(c.physical, quoted=True),
            kind=dialect.column_kind(c),
            constraints=[]
            if c.nullable
            else [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())],
        )
        for c in dataset.stored_columns
    ]
    table = exp.Table(this=exp.to_identifier(dataset.name, quoted=True))
    schema = exp.Schema(this=table, expressions=columns)
    create = exp.Create(
        this=schema, kind="TABLE", exists=True, properties=dialect.table_properties(dataset)
    )
    return create.sql(dialect=dialect.sqlglot_name)
