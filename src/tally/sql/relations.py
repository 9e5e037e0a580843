"""How an external dataset is read: the source's own relation (a table, a scan of files) and,
over it, the projection that gives every exposed column the physical name the compiler reads.

The compiler reads the alias `t` as if it were an owned table. For an external dataset `t` is
`(SELECT src."amount_cents" AS "amount", ... FROM <relation> AS src)`, so scope, filters,
buckets and measures are written once for both. Every engine pushes filters and projections
through such a subquery: DuckDB down into its Parquet scan and hive partitions (a filter on a
partition column opens only that partition's files; tests/integration/test_sources_files.py).
Identifiers are quoted by sqlglot and paths are string literals it escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlglot import exp

from tally.catalog.model import Column, ColumnType, Dataset
from tally.sql.dialect import Dialect, lit

SOURCE_ALIAS = "src"
TABLE_ALIAS = "t"
TEXT_TYPES = (ColumnType.STRING, ColumnType.JSON)


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def table_relation(name: str, catalog: str | None = None) -> exp.Table:
    """`[catalog.][schema.]table` as declared (`public.events`); `catalog` names an attached
    database (a DuckDB file)."""
    *prefix, table = name.split(".")
    schema = prefix[-1] if prefix else None
    outer = catalog or (prefix[0] if len(prefix) == 2 else None)
    if catalog and schema is None:
        schema = "main"
    return exp.Table(
        this=_ident(table),
        db=_ident(schema) if schema else None,
        catalog=_ident(outer) if outer else None,
    )


def file_relation(reader: str, path: str, **options: bool | str) -> exp.Table:
    """`read_parquet('/data/**/*.parquet', hive_partitioning = TRUE)` and the like (DuckDB)."""
    args: list[exp.Expression] = [lit(path)]
    for name, value in options.items():
        spelled = exp.Boolean(this=value) if isinstance(value, bool) else lit(value)
        args.append(exp.EQ(this=exp.column(name), expression=spelled))
    return exp.Table(this=exp.Anonymous(this=reader, expressions=args))


def projection(
    dataset: Dataset,
    relation: exp.Table,
    dialect: Dialect,
    held: Mapping[str, ColumnType | None] | None = None,
) -> exp.Subquery:
    """`(SELECT <source expression> AS "<physical>", ... FROM relation AS src) AS t`: each
    stored column read from its `from` (a source column, or a JSON path inside one, as text
    cast to the declared type). `held` is the Tally type of each source column, as the
    source's catalog says: text holding JSON is made JSON where the engine needs it, and an
    integer under a decimal is read as minor units."""
    held = held or {}
    source = relation.copy()
    source.set("alias", exp.TableAlias(this=_ident(SOURCE_ALIAS)))
    columns: list[exp.Expression] = []
    for column in dataset.stored_columns:
        path = column.source_path
        value: exp.Expression = exp.Column(this=_ident(path.column), table=_ident(SOURCE_ALIAS))
        was = held.get(path.column)
        if was is ColumnType.STRING and (path.json_path or column.type is ColumnType.JSON):
            value = dialect.text_as_json(value)
        if path.json_path:
            value = _typed(dialect.json_path_text(value, path.json_path), column, dialect)
        elif column.type is ColumnType.DECIMAL and was is ColumnType.INT:
            value = _minor_units(value, column, dialect)
        columns.append(exp.alias_(value, column.physical, quoted=True, copy=False))
    select = exp.Select(expressions=columns).from_(source, copy=False)
    return exp.Subquery(this=select, alias=exp.TableAlias(this=_ident(TABLE_ALIAS)))


def _minor_units(value: exp.Expression, column: Column, dialect: Dialect) -> exp.Expression:
    """An integer count of minor units (cents) as the decimal it counts: the integer as a
    decimal of scale 0 times the exact 10^-scale (`0.01`), a product every engine keeps exact
    and at the column's scale; never a division, which DuckDB answers as a double."""
    assert column.scale is not None
    whole = exp.Cast(this=value, to=dialect.column_kind(column.model_copy(update={"scale": 0})))
    unit = exp.Cast(
        this=lit(format(Decimal(1).scaleb(-column.scale), "f")), to=dialect.column_kind(column)
    )
    return exp.Cast(this=exp.Mul(this=whole, expression=unit), to=dialect.column_kind(column))


def _typed(text: exp.Expression, column: Column, dialect: Dialect) -> exp.Expression:
    """A JSON value (as text) as the column's type. A number that is not one (`"n/a"`) is
    null, as a JSON key's measure input is, so one odd row cannot fail every query."""
    if column.type in TEXT_TYPES:
        return text
    if column.type in (ColumnType.INT, ColumnType.FLOAT):
        number = dialect.to_double(text)
        if column.type is ColumnType.FLOAT:
            return number
        return exp.Cast(this=number, to=dialect.column_kind(column))
    return exp.Cast(this=text, to=dialect.column_kind(column))


def probe(relation: exp.Table) -> exp.Select:
    """`SELECT * FROM relation LIMIT 0`: the source's column names, reading no row."""
    return exp.Select(expressions=[exp.Star()]).from_(relation.copy(), copy=False).limit(0)
