"""Tables for datasets, spelled per dialect from the catalog (identifiers from the catalog only)."""

from __future__ import annotations

from sqlglot import exp

from tally.catalog.model import Dataset
from tally.sql.dialect import Dialect


def column_ddl(dataset: Dataset, dialect: Dialect) -> dict[str, str]:
    return {c.physical: dialect.column_type(c) for c in dataset.stored_columns}


def stored_types(dialect: Dialect, table: str) -> tuple[str, dict[str, str]]:
    """(sql, params) listing (column, engine type) of a table of the current schema."""
    columns = exp.column("table_name").eq(dialect.placeholder("t", table))
    schema = exp.column("table_schema").eq(exp.Anonymous(this=dialect.current_schema))
    select = (
        exp.select("column_name", "data_type")
        .from_("information_schema.columns")
        .where(exp.and_(columns, schema))
    )
    return dialect.render(select), {"t": table}


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
